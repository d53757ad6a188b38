#include <flux/mode.h>

#include <torch/types.h>

namespace flux {

void ModalLayerImpl::train(bool on) {
  active = on;
  torch::nn::Module::train(on);
}

bool ModalLayerImpl::is_active(const Tensor& x) const {
  if (active) return *active;
  if (!torch::GradMode::is_enabled() || c10::InferenceMode::is_enabled()) return false;
  if (x.requires_grad()) return true;
  for (const auto& p : parameters(/*recurse=*/false)) {
    if (p.requires_grad()) return true;
  }
  return false;
}

void ModalLayerImpl::print_active(std::ostream& os) const {
  if (active) os << ", active=" << (*active ? "true" : "false");
}

namespace {
void set_mode(torch::nn::Module& m, std::optional<bool> training) {
  m.train(training.value_or(true));  // recursive; ModalLayerImpl::train forces `active`
  if (!training) {
    if (auto* modal = dynamic_cast<ModalLayerImpl*>(&m)) modal->active.reset();
    for (auto& child : m.modules(/*include_self=*/false)) {
      if (auto* modal = dynamic_cast<ModalLayerImpl*>(child.get())) modal->active.reset();
    }
  }
}
}  // namespace

void testmode(torch::nn::Module& m, Mode mode) {
  set_mode(m, mode.value ? std::optional<bool>(!*mode.value) : std::nullopt);
}

void trainmode(torch::nn::Module& m, Mode mode) { set_mode(m, mode.value); }

}  // namespace flux
