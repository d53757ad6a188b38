// flops.cpp — a RecordFunction observer that adds up the multiply-adds of the leaf
// compute operators (convolution, mm, addmm, bmm, baddbmm), whatever device they run on.
#include <metalhead/flops.h>
#include <metalhead/placeholders.h>

#include <ATen/record_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cstring>

namespace metalhead {
namespace {

thread_local int64_t counted = 0;

int64_t numel(at::IntArrayRef s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

at::IntArrayRef sizes_of(const c10::IValue& v) { return v.toTensor().sizes(); }

void count_end(const at::RecordFunction& fn, at::ObserverContext*) {
  const char* name = fn.name();
  const auto& in = fn.inputs();
  const auto& out = fn.outputs();
  if (out.empty() || !out[0].isTensor()) return;
  const auto result = out[0].toTensor().sizes();
  if (!std::strcmp(name, "aten::convolution") && in.size() >= 2) {
    // Each output element: (input channels / groups) × kernel size multiply-adds;
    // a transposed convolution does as many per input element.
    const auto w = sizes_of(in[1]);
    const bool transposed = in.size() > 6 && in[6].isBool() && in[6].toBool();
    const int64_t per = numel(w) / w[0];
    counted += transposed ? numel(sizes_of(in[0])) * numel(w) / sizes_of(in[0])[1] : numel(result) * per;
  } else if ((!std::strcmp(name, "aten::mm") || !std::strcmp(name, "aten::bmm")) && in.size() >= 2) {
    counted += numel(result) * sizes_of(in[0]).back();
  } else if ((!std::strcmp(name, "aten::addmm") || !std::strcmp(name, "aten::baddbmm")) && in.size() >= 3) {
    counted += numel(result) * sizes_of(in[1]).back();
  }
}

}  // namespace

int64_t count_multiply_adds(const std::function<void()>& run) {
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(nullptr, count_end).needsInputs(true).needsOutputs(true).scopes({at::RecordScope::FUNCTION}));
  const int64_t before = counted;
  try {
    run();
  } catch (...) {
    at::removeCallback(handle);
    throw;
  }
  at::removeCallback(handle);
  return counted - before;
}

int64_t multiply_adds(const Model& model, const std::vector<int64_t>& input_size) {
  if (input_size.size() != 2) throw std::invalid_argument("multiply_adds: input_size must be [H, W]");
  const auto p = model.ptr()->parameters();
  const auto options = p.empty() ? at::TensorOptions() : p.front().options().requires_grad(false);
  // In the model's own mode (the count does not depend on it); BatchNorm statistics a
  // training-mode call would move are put back.
  std::vector<at::Tensor> buffers;
  for (const auto& b : model.ptr()->buffers()) buffers.push_back(b.clone());
  const int64_t n = count_multiply_adds([&] {
    torch::NoGradGuard no_grad;
    model(at::zeros({1, model->inchannels, input_size[0], input_size[1]}, options));
  });
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& b : model.ptr()->buffers()) b.copy_(buffers[i++]);
  return n;
}

double gflops(const std::string& name, const std::vector<int64_t>& input_size) {
  const auto& info = model_info(name);
  if (input_size.empty()) {
    if (const int64_t n = tabulated_multiply_adds(info.name); n >= 0) return static_cast<double>(n) / 1e9;
  }
  const auto size = input_size.empty() ? info.input_size : input_size;
  Model model = placeholder_model(info);
  // libtorch has no meta kernels for convolution, so the forward runs on the CPU, over
  // uninitialised memory in place of the placeholders: never written, its pages are
  // not even allocated; only the arithmetic costs.
  for (const auto& p : model.ptr()->parameters()) {
    if (p.is_meta()) fill_placeholder(p, at::empty(p.sizes(), p.options().device(at::kCPU)));
  }
  return static_cast<double>(multiply_adds(model, size)) / 1e9;
}

}  // namespace metalhead
