// squeeze_excite.h — squeeze-and-excitation: squeeze_excite and effective_squeeze_excite.
#pragma once

#include <flux/activations.h>
#include <flux/connection.h>
#include <flux/layer.h>
#include <metalhead/layers/connections.h>
#include <metalhead/layers/conv_norm.h>

#include <functional>

namespace metalhead::layers {

/// round_channels(channels, divisor = 8, min_value = 0): MobileNet's rounding of a channel
/// count to the nearest multiple of divisor (at least min_value), bumped up by one divisor
/// when that loses more than 10%. Example: round_channels(37.5) == 40.
int64_t round_channels(double channels, int64_t divisor = 8, int64_t min_value = 0);

struct SqueezeExciteOptions {
  double reduction = 16;
  std::function<int64_t(double)> round_fn = [](double c) { return round_channels(c); };
  NormLayer norm_layer = {};  // none
  flux::Activation activation = flux::relu;
  flux::Activation gate_activation = flux::sigmoid;
};

/// squeeze_excite(inplanes, {.reduction = 16, .round_fn = round_channels, .norm_layer = none,
///                .activation = relu, .gate_activation = sigmoid})
/// SkipConnection(Chain(AdaptiveMeanPool({1, 1}), conv_norm(1×1, inplanes => r, activation),
/// conv_norm(1×1, r => inplanes, gate_activation)), .*) with r = round_fn(⌊inplanes / reduction⌋):
/// the input scaled by a per-channel gate. Used by SE-ResNets, MobileNets, EfficientNets.
flux::Layer squeeze_excite(int64_t inplanes, SqueezeExciteOptions options = {});

struct EffectiveSqueezeExciteOptions {
  flux::Activation gate_activation = flux::sigmoid;
};

/// effective_squeeze_excite(inplanes, {.gate_activation = sigmoid})
/// CenterMask's effective SE: one 1×1 Conv(inplanes => inplanes) on the pooled input as
/// the gate, no reduction. ([reference](https://arxiv.org/abs/1911.06667))
flux::Layer effective_squeeze_excite(int64_t inplanes, EffectiveSqueezeExciteOptions options = {});
/// The issue tracker's spelling of the same layer.
inline flux::Layer efficient_squeeze_excite(int64_t inplanes, EffectiveSqueezeExciteOptions options = {}) {
  return effective_squeeze_excite(inplanes, std::move(options));
}

}  // namespace metalhead::layers
