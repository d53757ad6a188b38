#include <metalhead/inference.h>

#include "engine.h"
#include "trace.h"

#include <flux/mode.h>

#include <ATen/Parallel.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/frozen_conv_folding.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/remove_dropout.h>
#include <torch/csrc/jit/passes/shape_analysis.h>

#include <cpuid.h>
#include <omp.h>
#include <sched.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace metalhead {
namespace {

namespace jit = torch::jit;

// How many nodes of each kind a graph has, to say what the passes did.
std::map<std::string, int64_t> census(const jit::Graph& g) {
  std::map<std::string, int64_t> n;
  for (const jit::Node* node : g.nodes()) ++n[node->kind().toQualString()];
  return n;
}

int64_t count(const std::map<std::string, int64_t>& c, std::initializer_list<const char*> kinds) {
  int64_t n = 0;
  for (const char* k : kinds) {
    if (auto it = c.find(k); it != c.end()) n += it->second;
  }
  return n;
}


// Equal values; tensors by their elements.
bool same_value(const c10::IValue& a, const c10::IValue& b) {
  if (a.isTensor() || b.isTensor()) return a.isTensor() && b.isTensor() && at::equal(a.toTensor(), b.toTensor());
  return a == b;
}

// Two constants of traces at batch 1 and at batch k: the same, or an integer that is k times
// the first (a batch size baked into a reshape); `n` says which, and the value at batch N.
std::optional<c10::IValue> at_batch(const c10::IValue& one, const c10::IValue& k_batch, int64_t k, int64_t n, bool& scaled) {
  auto scale = [&](int64_t a, int64_t b) -> std::optional<int64_t> {
    if (a == b) return a;
    if (a != 0 && b == k * a) {
      scaled = true;
      return n * a;
    }
    return std::nullopt;
  };
  if (one.isInt() && k_batch.isInt()) {
    auto v = scale(one.toInt(), k_batch.toInt());
    return v ? std::optional<c10::IValue>(*v) : std::nullopt;
  }
  if (one.isIntList() && k_batch.isIntList()) {
    const auto a = one.toIntVector(), b = k_batch.toIntVector();
    if (a.size() != b.size()) return std::nullopt;
    std::vector<int64_t> out;
    for (size_t i = 0; i < a.size(); ++i) {
      auto v = scale(a[i], b[i]);
      if (!v) return std::nullopt;
      out.push_back(*v);
    }
    return c10::IValue(out);
  }
  if (one.isTensor() && k_batch.isTensor()) {
    const at::Tensor &a = one.toTensor(), &b = k_batch.toTensor();
    if (a.scalar_type() != b.scalar_type()) return std::nullopt;
    if (a.is_same(b) || same_value(one, k_batch)) return one;
    // One row repeated per image (a class token expanded to the batch, then folded).
    if (a.dim() >= 1 && a.dim() == b.dim() && a.size(0) == 1 && b.size(0) == k &&
        a.sizes().slice(1) == b.sizes().slice(1) && at::equal(a.expand_as(b), b)) {
      scaled = true;
      std::vector<int64_t> sizes(a.sizes().begin(), a.sizes().end());
      sizes[0] = n;
      return c10::IValue(a.expand(sizes).contiguous());
    }
    return std::nullopt;
  }
  if (one.isTensor() || k_batch.isTensor() || one.isIntList() || k_batch.isIntList()) return std::nullopt;
  return one == k_batch ? std::optional<c10::IValue>(one) : std::nullopt;
}

// The graph at batch N from traces at batches 1, 2 and 3, where they differ only in
// integers proportional to the batch; nothing when they differ otherwise (then the model is
// traced at N itself). Tracing small batches keeps the eager pass's memory small.
std::shared_ptr<jit::Graph> generalise(const std::vector<std::shared_ptr<jit::Graph>>& traces, int64_t n) {
  jit::Graph& g1 = *traces[0];
  std::shared_ptr<jit::Graph> out = g1.copy();
  std::vector<jit::Node*> base(g1.nodes().begin(), g1.nodes().end()), copy(out->nodes().begin(), out->nodes().end());
  std::vector<std::optional<c10::IValue>> values(base.size());
  for (size_t t = 1; t < traces.size(); ++t) {
    const int64_t k = static_cast<int64_t>(t) + 1;
    jit::Graph& gk = *traces[t];
    std::vector<jit::Node*> other(gk.nodes().begin(), gk.nodes().end());
    if (other.size() != base.size() || gk.inputs().size() != g1.inputs().size() || gk.outputs().size() != g1.outputs().size()) {
      return nullptr;
    }
    std::unordered_map<const jit::Value*, const jit::Value*> same;  // gk's value -> g1's
    for (size_t i = 0; i < g1.inputs().size(); ++i) same[gk.inputs()[i]] = g1.inputs()[i];
    for (size_t i = 0; i < base.size(); ++i) {
      const jit::Node *a = base[i], *b = other[i];
      if (a->kind() != b->kind() || a->inputs().size() != b->inputs().size() || a->outputs().size() != b->outputs().size() ||
          !a->blocks().empty() || !b->blocks().empty()) {
        return nullptr;
      }
      for (size_t j = 0; j < a->inputs().size(); ++j) {
        auto it = same.find(b->inputs()[j]);
        if (it == same.end() || it->second != a->inputs()[j]) return nullptr;
      }
      for (size_t j = 0; j < a->outputs().size(); ++j) same[b->outputs()[j]] = a->outputs()[j];
      if (a->kind() != jit::prim::Constant) {
        if (a->hasAttributes() || b->hasAttributes()) return nullptr;
        continue;
      }
      auto va = jit::toIValue(a->output()), vb = jit::toIValue(b->output());
      if (!va || !vb) return nullptr;
      bool scaled = false;
      auto v = at_batch(*va, *vb, k, n, scaled);
      if (!v) return nullptr;
      if (t == 1) {
        if (scaled) values[i] = *v;
      } else if (scaled != values[i].has_value() || (scaled && !same_value(*values[i], *v))) {
        return nullptr;  // not proportional to the batch at both sizes
      }
    }
    for (size_t i = 0; i < g1.outputs().size(); ++i) {
      if (same[gk.outputs()[i]] != g1.outputs()[i]) return nullptr;
    }
  }
  for (size_t i = 0; i < copy.size(); ++i) {
    if (!values[i]) continue;
    jit::WithInsertPoint guard(copy[i]);
    copy[i]->output()->replaceAllUsesWith(out->insertConstant(*values[i]));
    copy[i]->destroy();
  }
  jit::EraseShapeInformation(out);
  return out;
}

int usable_cpus() {
  static const int n = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return n;
}

class InferenceModelImpl : public ModelImpl {
 public:
  InferenceModelImpl(std::shared_ptr<ModelImpl> original, InferenceOptions options)
      : ModelImpl(original->type_name, flux::Chain(std::vector<flux::Layer>{}), flux::Chain(std::vector<flux::Layer>{}),
                  original->inchannels),
        original_(std::move(original)),
        options_(options) {
    // METALHEAD_INFERENCE_WINOGRAD=0 turns it off, for A/B measurements.
    if (const char* w = std::getenv("METALHEAD_INFERENCE_WINOGRAD"); w && std::string(w) == "0") options_.winograd = false;
  }

  Tensor forward(const Tensor& x) override {
    if (x.dim() != 4 || x.size(1) != inchannels || x.scalar_type() != at::kFloat) {
      input_error("fp32 [N, " + std::to_string(inchannels) + ", H, W] images", x);
    }
    // The thread count is the calling thread's OpenMP setting, which oneDNN and libtorch's
    // loops read, for this call only. at::set_num_threads also rebuilds libtorch's thread
    // pools: called around every forward, it made EfficientNet-B0 2.5 times slower. 0 is
    // every CPU the process may run on (libtorch's own default can be fewer: one on a
    // 2-vCPU virtual machine, half the speed).
    const int before = omp_get_max_threads();
    const int threads = options_.threads > 0 ? options_.threads : usable_cpus();
    const bool set = threads != before;
    if (set) omp_set_num_threads(threads);
    struct Restore {
      bool set;
      int before;
      ~Restore() {
        if (set) omp_set_num_threads(before);
      }
    } restore{set, before};
    // A new shape's first run is the one that builds its engine.
    auto [engine, y] = compiled(x);
    if (!y.defined()) {
      at::NoGradGuard no_grad;
      y = engine->run(x.contiguous());
    }
    return y;
  }

  std::vector<flux::ShowItem> show_items() const override { return {}; }

  void pretty_print(std::ostream& os) const override {
    std::lock_guard lock(mutex_);
    os << "optimize_for_inference(" << type_name << ", " << to_string(options_.precision);
    if (report_.empty()) os << "; not traced yet";
    else os << "; " << report_;
    os << ')';
  }

 private:
  // The engine for x's shape, and x's output where this call built it.
  std::pair<std::shared_ptr<inference::Engine>, Tensor> compiled(const Tensor& x) {
    const std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    std::lock_guard lock(mutex_);
    if (auto it = engines_.find(shape); it != engines_.end()) return {it->second, Tensor()};
    auto built = compile(x);
    engines_.emplace(shape, built.first);
    return built;
  }

  std::shared_ptr<jit::Graph> trace(const Tensor& x, Tensor* output = nullptr) {
    return inference::trace(*original_, x, output);
  }

  // The graph folded, its engine, and x's output from the run that built it.
  std::tuple<std::map<std::string, int64_t>, std::map<std::string, int64_t>, std::shared_ptr<inference::Engine>, Tensor>
  build(std::shared_ptr<jit::Graph> g, const Tensor& x) {
    const auto traced = census(*g);
    // Folding, as torch.jit.freeze's frozen-graph passes do it.
    inference::fold(g);
    const auto folded = census(*g);
    if (std::getenv("METALHEAD_INFERENCE_DUMP")) std::cerr << *g;
    auto engine = std::make_shared<inference::Engine>(g, options_.precision, layout_for(x, *g), options_.winograd);
    Tensor y = engine->run(x.contiguous());  // builds the primitives
    return {traced, folded, engine, y};
  }

  // Channels-last where norms run on permuted maps (norms_channels_last). Blocks pay from
  // batch 8 (at batch 16: resnet50 5-14% faster on a 2-core Intel host with AMX, 4% on a
  // 2-core AMD EPYC; mobilenet_v3_large 16-19% and 25%), and at batch 1 for
  // fp32 networks with depthwise convolutions or concatenations (on the EPYC: efficientnet_b0
  // 5-7%, densenet121 6%, convnext_tiny 2%; MobileNetV3 and Inception-v3 within 1%), or with
  // 3x3 convolutions Winograd's algorithm takes (it runs only on blocks; resnet50 15% faster
  // on the EPYC). Other networks keep oneDNN's own channels-last choice at batch 1 (resnet50
  // without Winograd: 4-10% faster on the Intel host, level on the EPYC). bf16 follows the
  // same rule on AVX512-BF16 (the EPYC: densenet121 and mobilenet_v3_large 10% faster at
  // batch 16), but keeps oneDNN's choice where AMX runs it (its AMX kernels take
  // channels-last data).
  Layout layout_for(const Tensor& x, const jit::Graph& g) const {
    if (options_.layout != Layout::automatic) return options_.layout;
    if (const char* forced = std::getenv("METALHEAD_INFERENCE_LAYOUT"); forced && *forced) {  // for A/B measurements
      if (const Layout l = layout_from_string(forced); l != Layout::automatic) return l;
    }
    if (options_.precision == Precision::bf16 && cpu_has_amx_bf16()) return Layout::native;
    if (options_.precision == Precision::fp32 && norms_channels_last(g)) return Layout::channels_last;
    const bool small_batch_blocks =
        options_.precision == Precision::fp32 && (depthwise_or_concat(g) || (options_.winograd && winograd_3x3(g)));
    return x.size(0) >= 8 || small_batch_blocks ? Layout::blocked : Layout::native;
  }

  // A LayerNorm over a map permuted to [N, H, W, C] (ConvNeXt's blocks): in channels-last
  // the permutes are views and no map is reordered (in blocks each block reordered four
  // maps; ConvNeXt-T 3% faster at batch 1 on the EPYC, level at 16).
  static bool norms_channels_last(const jit::Graph& g) {
    for (const jit::Node* n : g.nodes()) {
      if (n->kind().toQualString() != std::string("aten::layer_norm")) continue;
      const jit::Node* p = n->inputs()[0]->node();
      if (p->kind().toQualString() != std::string("aten::permute")) continue;
      auto dims = jit::toIValue(p->inputs()[1]);
      if (dims && dims->isIntList() && dims->toIntVector() == std::vector<int64_t>{0, 2, 3, 1}) return true;
    }
    return false;
  }

  static bool depthwise_or_concat(const jit::Graph& g) {
    for (const jit::Node* n : g.nodes()) {
      const std::string kind = n->kind().toQualString();
      if (kind == "aten::cat") return true;
      if (kind != "aten::_convolution") continue;
      auto w = jit::toIValue(n->inputs()[1]);
      auto groups = jit::toIValue(n->inputs()[8]);
      if (w && w->isTensor() && w->toTensor().dim() == 4 && groups && groups->isInt() && groups->toInt() > 1 &&
          w->toTensor().size(1) == 1) {
        return true;
      }
    }
    return false;
  }

  // A convolution the engine would run by Winograd's algorithm in blocks; where the trace
  // dropped the sizes (batches above 3), counted as large enough.
  static bool winograd_3x3(const jit::Graph& g) {
    for (const jit::Node* n : g.nodes()) {
      if (n->kind().toQualString() != std::string("aten::_convolution")) continue;
      auto w = jit::toIValue(n->inputs()[1]);
      auto stride = jit::toIValue(n->inputs()[3]), dilation = jit::toIValue(n->inputs()[5]), groups = jit::toIValue(n->inputs()[8]);
      if (!w || !w->isTensor() || w->toTensor().dim() != 4 || !stride || !dilation || !groups || !groups->isInt()) continue;
      auto type = n->inputs()[0]->type()->cast<c10::TensorType>();
      auto sizes = type ? type->sizes().concrete_sizes() : c10::nullopt;
      const int64_t pixels = sizes && sizes->size() == 4 ? (*sizes)[0] * (*sizes)[2] * (*sizes)[3] : INT64_MAX;
      const at::Tensor& t = w->toTensor();
      if (inference::winograd_shape(t.size(2), t.size(3), stride->toIntVector(), dilation->toIntVector(), groups->toInt(),
                                    t.size(1), t.size(0), pixels)) {
        return true;
      }
    }
    return false;
  }

  std::pair<std::shared_ptr<inference::Engine>, Tensor> compile(const Tensor& x) {
    at::NoGradGuard no_grad;  // folded weights must not require grad: they become constants
    std::shared_ptr<jit::Graph> g;
    const int64_t n = x.size(0);
    Tensor first;  // the plain model's output for the first image
    if (n > 3) {
      std::vector<std::shared_ptr<jit::Graph>> small;
      for (int64_t k = 1; k <= 3; ++k) small.push_back(trace(x.narrow(0, 0, k), k == 1 ? &first : nullptr));
      g = generalise(small, n);
    }
    auto [traced, folded, engine, y] = build(g ? g : trace(x), x);
    // A size that grew with the batch up to 3 but no further (a min(N, 3), say) is caught
    // here: the first image must come out as it did alone.
    batch_generalised_ = g != nullptr;
    if (g) {
      const double error = ((y.narrow(0, 0, 1) - first).abs().max() / first.abs().max().clamp_min(1e-12)).item<double>();
      if (error > (options_.precision == Precision::fp32 ? 1e-3 : 0.1)) {
        batch_generalised_ = false;
        std::tie(traced, folded, engine, y) = build(trace(x), x);
      }
    }
    const int64_t bn_before = count(traced, {"aten::batch_norm"}), bn_after = count(folded, {"aten::batch_norm"});
    std::ostringstream r;
    r << "traced at [";
    for (size_t i = 0; i < x.sizes().size(); ++i) r << (i ? ", " : "") << x.size(static_cast<int64_t>(i));
    r << (batch_generalised_ ? "] (from batches 1-3)" : "]") << ": " << (bn_before - bn_after) << " of " << bn_before
      << " BatchNorms folded into convolutions and Dense layers; "
      << (engine->layout() == Layout::blocked         ? "activations in 16-channel blocks; "
          : engine->layout() == Layout::channels_last ? "activations channels-last; "
                                                      : "") << engine->report();
    report_ = r.str();
    return {engine, y};
  }

  std::shared_ptr<ModelImpl> original_;
  InferenceOptions options_;
  mutable std::mutex mutex_;
  std::map<std::vector<int64_t>, std::shared_ptr<inference::Engine>> engines_;
  std::string report_;
  bool batch_generalised_ = false;
};

}  // namespace

std::string to_string(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
  }
  return "?";
}

Precision precision_from_string(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "bf16") return Precision::bf16;
  if (s == "fp16") return Precision::fp16;
  throw std::invalid_argument("precision: " + s + " is not one of fp32, bf16, fp16");
}

Layout layout_from_string(const std::string& s) {
  if (s == "automatic") return Layout::automatic;
  if (s == "native") return Layout::native;
  if (s == "blocked") return Layout::blocked;
  if (s == "channels_last") return Layout::channels_last;
  throw std::invalid_argument("layout: " + s + " is not one of automatic, native, blocked, channels_last");
}

namespace {

struct Bf16Units {
  bool avx512_bf16 = false, amx_bf16 = false;
};

Bf16Units bf16_units() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return {};
  const bool amx_bf16 = (d >> 22) & 1;
  const bool avx512f = (b >> 16) & 1;
  unsigned a1 = 0, b1, c1, d1;
  const bool avx512_bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && ((a1 >> 5) & 1) && avx512f;
  // The OS must save the AVX-512 state (XCR0 bits 5-7) for either to be usable.
  unsigned lo = 0, hi = 0;
  __get_cpuid(1, &a, &b, &c, &d);
  if (!((c >> 27) & 1)) return {};  // no OSXSAVE
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xE6) != 0xE6) return {};
  return {avx512_bf16, amx_bf16};
}

}  // namespace

bool cpu_has_bf16() {
  const Bf16Units u = bf16_units();
  return u.avx512_bf16 || u.amx_bf16;
}

bool cpu_has_amx_bf16() { return bf16_units().amx_bf16; }

Model optimize_for_inference(const Model& model, const InferenceOptions& options) {
  if (!model) throw std::invalid_argument("optimize_for_inference: the model is empty");
  if (is_optimized(model)) {
    throw std::invalid_argument("optimize_for_inference: " + model->type_name +
                                " is already optimised (optimise the original model instead)");
  }
  if (options.precision == Precision::fp16) {
    throw std::invalid_argument("optimize_for_inference: fp16 is for CUDA builds; this libtorch computes fp16 on the "
                                "CPU in fp32 (use fp32, or bf16 where the CPU has it)");
  }
  if (options.precision == Precision::bf16 && !cpu_has_bf16()) {
    throw std::invalid_argument("optimize_for_inference: bf16 needs a CPU with AVX512-BF16 or AMX; this one has "
                                "neither (use fp32)");
  }
  if (options.threads < 0) {
    throw std::invalid_argument("optimize_for_inference: threads must be 0 (all) or positive, got " +
                                std::to_string(options.threads));
  }
  return Model(std::make_shared<InferenceModelImpl>(model.ptr(), options));
}

bool is_optimized(const Model& model) {
  return model && std::dynamic_pointer_cast<InferenceModelImpl>(model.ptr()) != nullptr;
}

}  // namespace metalhead
