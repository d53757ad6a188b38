// trace.h — a Model as a TorchScript graph, for the inference engine and the ONNX exporter:
// traced in test mode, inlined, without dropout, constants propagated; then BatchNorms
// folded into the convolutions and Dense layers before them.
#pragma once

#include <metalhead/model.h>

#include <memory>

namespace torch::jit {
struct Graph;
}

namespace metalhead::inference {

/// `model` traced on x (test mode, no gradients; its own settings restored after), and the
/// output it gave in `output`. Its tensors are the graph's constants (detached views).
std::shared_ptr<torch::jit::Graph> trace(ModelImpl& model, const at::Tensor& x, at::Tensor* output = nullptr);

/// Conv + BatchNorm, Conv + constant add/sub/mul/div (torch.jit.freeze's passes), and
/// Dense + BatchNorm folded, until nothing changes.
void fold(std::shared_ptr<torch::jit::Graph>& g);

}  // namespace metalhead::inference
