// mbconv.h — inverted residual blocks: mbconv, fused_mbconv and invertedresidual.
#pragma once

#include <flux/activations.h>
#include <flux/chain.h>
#include <metalhead/layers/conv_norm.h>

#include <functional>
#include <optional>

namespace metalhead::layers {

struct MBConvOptions {
  int64_t stride = 1;                          // 1 or 2 (a keyword without default in Julia)
  std::optional<double> reduction;             // squeeze-excite reduction; none when absent
  std::function<int64_t(double)> se_round_fn;  // default: round to nearest
  NormLayer norm_layer = batch_norm();
  std::optional<flux::Activation> se_activation;  // default: the block's activation
  flux::Activation se_gate_activation = flux::hardsigmoid;
};

/// mbconv(kernel_size, inplanes, explanes, outplanes, activation = relu, {.stride = 1,
///        .reduction, .se_round_fn = round, .norm_layer = batch_norm(), .se_activation,
///        .se_gate_activation = hardσ})
/// MobileNetv2's inverted residual without its skip: a 1×1 conv_norm inplanes => explanes
/// with activation (only when they differ), a depthwise kernel_size conv_norm with stride
/// and SamePad, a squeeze_excite on explanes when `reduction` is given (Metalhead's gate is
/// hardσ; torchvision's EfficientNet uses sigmoid), and a 1×1 conv_norm explanes =>
/// outplanes without activation. Use `invertedresidual` for the block with its skip.
/// Example: mbconv({3, 3}, 16, 64, 24, relu, {.stride = 2}) maps [N, 16, 32, 32] to [N, 24, 16, 16].
flux::Chain mbconv(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t explanes, int64_t outplanes,
                   flux::Activation activation = flux::relu, MBConvOptions options = {});

struct FusedMBConvOptions {
  int64_t stride = 1;  // 1 or 2
  NormLayer norm_layer = batch_norm();
};

/// fused_mbconv(kernel_size, inplanes, explanes, outplanes, activation = relu,
///              {.stride = 1, .norm_layer = batch_norm()})
/// EfficientNetv2's fused block: a full kernel_size conv_norm inplanes => explanes with
/// activation, stride and SamePad, then a 1×1 conv_norm explanes => outplanes without
/// activation; when explanes == inplanes (no expansion) the first conv goes straight to
/// outplanes and there is no projection.
flux::Chain fused_mbconv(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t explanes, int64_t outplanes,
                         flux::Activation activation = flux::relu, FusedMBConvOptions options = {});

struct InvertedResidualOptions {
  MBConvOptions block = {};
  bool fused = false;                            // fused_mbconv instead of mbconv
  std::optional<double> stochastic_depth_prob;   // on the residual branch
};

/// invertedresidual(kernel_size, inplanes, explanes, outplanes, activation = relu,
///                  {.block = {.stride, .reduction, ...}, .fused = false, .stochastic_depth_prob})
/// The whole inverted residual block (Metalhead 0.7's name): an mbconv (or fused_mbconv),
/// wrapped as SkipConnection(Chain(block, StochasticDepth(p)), +) when the shapes allow a
/// skip (stride 1 and inplanes == outplanes), else the plain block.
flux::Layer invertedresidual(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t explanes, int64_t outplanes,
                             flux::Activation activation = flux::relu, InvertedResidualOptions options = {});

}  // namespace metalhead::layers
