// engine.h — runs a traced, BN-folded TorchScript graph with oneDNN primitives.
//
// Convolutions, inner products, poolings, element-wise and binary operations, concats and
// BatchNorms run as oneDNN primitives on tensors in the layouts oneDNN picks or in
// 16-channel blocks (nChw16c, Layout::blocked), with activations, scalar arithmetic and
// residual sums fused into the convolution before them as post-ops, and weights
// reordered once; fp32 3x3 convolutions in blocks by Winograd's algorithm; at batch 1 in
// blocks, convolutions write their parts of a concatenation in place. Every other node runs
// as libtorch's own operator on plain tensors. The first run builds the primitives (a
// graph is traced for one input shape), later runs only execute them.
#pragma once
#include <metalhead/inference.h>

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace torch::jit {
struct Graph;
}

namespace metalhead::inference {

/// The shapes the engine runs by Winograd's algorithm (fp32 in 16-channel blocks): 3x3,
/// stride 1, dilation 1, not grouped, channels in multiples of 16, and at least 14x14
/// pixels in the batch (on 7x7 maps at batch 1 direct convolution is faster).
bool winograd_shape(int64_t kh, int64_t kw, const std::vector<int64_t>& stride, const std::vector<int64_t>& dilation,
                    int64_t groups, int64_t in_channels, int64_t out_channels, int64_t pixels);

class Engine {
 public:
  /// `layout` is native or blocked (automatic is the caller's to resolve); `winograd` lets
  /// fp32 3x3 stride-1 convolutions in blocks run by Winograd's algorithm.
  Engine(std::shared_ptr<torch::jit::Graph> graph, Precision precision, Layout layout, bool winograd);
  ~Engine();
  /// The graph's output for input `x` (of the shape it was traced at), as fp32.
  at::Tensor run(const at::Tensor& x);
  /// What runs where: "48 convolutions (44 with fused activations, 16 residual sums), ...".
  std::string report() const;
  /// The layout convolutions' activations run in (native, blocked or channels_last).
  Layout layout() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace metalhead::inference
