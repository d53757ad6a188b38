#include "trace.h"

#include <flux/mode.h>

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/frozen_conv_folding.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/remove_dropout.h>

#include <optional>
#include <tuple>

namespace metalhead::inference {
namespace {

namespace jit = torch::jit;

// Dense followed by BatchNorm (on [N, C]) becomes one Dense: W' = W·s, b' = (b − μ)·s + β with
// s = γ / √(σ² + ε). torch.jit.freeze's passes fold only convolutions.
bool fold_linear_batchnorm(jit::Graph& g) {
  bool changed = false;
  for (jit::Node* bn : g.nodes()) {
    if (bn->kind().toQualString() != std::string("aten::batch_norm")) continue;
    jit::Node* linear = bn->inputs()[0]->node();
    if (linear->kind().toQualString() != std::string("aten::linear") || linear->output()->uses().size() != 1) continue;
    auto w = jit::toIValue(linear->inputs()[1]), b = jit::toIValue(linear->inputs()[2]);
    auto gamma = jit::toIValue(bn->inputs()[1]), beta = jit::toIValue(bn->inputs()[2]), mean = jit::toIValue(bn->inputs()[3]),
         var = jit::toIValue(bn->inputs()[4]), training = jit::toIValue(bn->inputs()[5]), eps = jit::toIValue(bn->inputs()[7]);
    if (!w || !w->isTensor() || !b || !gamma || !beta || !mean || !var || !training || !eps || training->toBool() ||
        !mean->isTensor() || !var->isTensor() || w->toTensor().dim() != 2) {
      continue;
    }
    const at::Tensor W = w->toTensor();
    const int64_t c = W.size(0);
    const auto opts = W.options();
    const at::Tensor s = (gamma->isTensor() ? gamma->toTensor().to(opts) : at::ones({c}, opts)) /
                         (var->toTensor().to(opts) + eps->toDouble()).sqrt();
    const at::Tensor bias = b->isTensor() ? b->toTensor().to(opts) : at::zeros({c}, opts);
    const at::Tensor shift = beta->isTensor() ? beta->toTensor().to(opts) : at::zeros({c}, opts);
    jit::WithInsertPoint guard(bn);
    jit::Value* new_w = g.insertConstant(W * s.unsqueeze(1));
    jit::Value* new_b = g.insertConstant((bias - mean->toTensor().to(opts)) * s + shift);
    linear->replaceInput(1, new_w);
    linear->replaceInput(2, new_b);
    bn->output()->replaceAllUsesWith(linear->output());
    changed = true;
  }
  if (changed) jit::EliminateDeadCode(g.block());
  return changed;
}

// Test mode and no gradients while tracing (a traced weight must not require grad: it
// becomes a constant), then the model's own settings back.
class TraceSettings {
 public:
  explicit TraceSettings(torch::nn::Module& m) {
    for (const auto& p : m.parameters()) grads_.emplace_back(p, p.requires_grad());
    for (const auto& sub : m.modules()) {
      modes_.emplace_back(sub.get(), sub->is_training(), std::nullopt);
      if (auto* modal = dynamic_cast<flux::ModalLayerImpl*>(sub.get())) std::get<2>(modes_.back()) = modal->active;
    }
    for (auto& [p, g] : grads_) p.requires_grad_(false);
    flux::testmode(m);
  }
  ~TraceSettings() {
    for (auto& [p, g] : grads_) p.requires_grad_(g);
    for (auto& [sub, training, active] : modes_) {
      sub->train(training);  // sets only this module's flag: children come in their own turn
      if (auto* modal = dynamic_cast<flux::ModalLayerImpl*>(sub)) modal->active = active;
    }
  }

 private:
  std::vector<std::pair<at::Tensor, bool>> grads_;
  std::vector<std::tuple<torch::nn::Module*, bool, std::optional<bool>>> modes_;
};

}  // namespace

std::shared_ptr<jit::Graph> trace(ModelImpl& model, const at::Tensor& x, at::Tensor* output) {
  std::shared_ptr<jit::Graph> g;
  {
    TraceSettings settings(model);
    auto traced = jit::tracer::trace(
        {x}, [&](jit::Stack in) -> jit::Stack { return {model.forward(in.at(0).toTensor())}; },
        [](const at::Tensor&) { return std::string(); }, /*strict=*/false);
    g = traced.first->graph;
    if (output) *output = traced.second.at(0).toTensor();
  }
  // The trace's constants are the model's own tensors: detached views of them (no copy,
  // no grad), which the folding passes may re-insert as constants.
  for (jit::Node* node : g->nodes()) {
    if (node->kind() == jit::prim::Constant && node->hasAttribute(jit::attr::value) &&
        node->kindOf(jit::attr::value) == jit::AttributeKind::t) {
      node->t_(jit::attr::value, node->t(jit::attr::value).detach());
    }
  }
  jit::Inline(*g);
  jit::removeDropout(g);
  jit::ConstantPropagation(g);
  jit::EliminateDeadCode(g);
  return g;
}

void fold(std::shared_ptr<jit::Graph>& g) {
  while (jit::FoldFrozenConvBatchnorm(g) || jit::FoldFrozenConvAddOrSub(g) || jit::FoldFrozenConvMulOrDiv(g) ||
         fold_linear_batchnorm(*g)) {
  }
}

}  // namespace metalhead::inference
