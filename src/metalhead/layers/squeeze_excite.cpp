#include <metalhead/layers/squeeze_excite.h>

#include <flux/chain.h>
#include <flux/conv.h>
#include <flux/pooling.h>
#include <flux/skip_connection.h>

#include <cmath>
#include <stdexcept>

namespace metalhead::layers {

int64_t round_channels(double channels, int64_t divisor, int64_t min_value) {
  if (divisor <= 0) throw std::invalid_argument("round_channels: divisor must be positive, got " + std::to_string(divisor));
  const auto rounded = static_cast<int64_t>(std::floor(channels + static_cast<double>(divisor) / 2)) / divisor * divisor;
  const int64_t out = std::max(min_value, rounded);
  return static_cast<double>(out) < 0.9 * channels ? out + divisor : out;
}

flux::Layer squeeze_excite(int64_t inplanes, SqueezeExciteOptions options) {
  if (inplanes <= 0) throw std::invalid_argument("squeeze_excite: inplanes must be positive, got " + std::to_string(inplanes));
  if (!(options.reduction > 0)) throw std::invalid_argument("squeeze_excite: reduction must be positive");
  // Julia's `inplanes ÷ reduction`: floored division, even for a real reduction.
  const int64_t squeeze_planes = options.round_fn(std::floor(static_cast<double>(inplanes) / options.reduction));
  if (squeeze_planes <= 0) {
    throw std::invalid_argument("squeeze_excite: " + std::to_string(inplanes) + " planes with reduction " +
                                std::to_string(options.reduction) + " leave no squeeze planes");
  }
  flux::Chain gate(flux::AdaptiveMeanPool({1, 1}),
                   conv_norm({1, 1}, inplanes, squeeze_planes, options.activation, {.norm_layer = options.norm_layer}),
                   conv_norm({1, 1}, squeeze_planes, inplanes, options.gate_activation, {.norm_layer = options.norm_layer}));
  return flux::SkipConnection(gate, times);
}

flux::Layer effective_squeeze_excite(int64_t inplanes, EffectiveSqueezeExciteOptions options) {
  flux::Chain gate(flux::AdaptiveMeanPool({1, 1}), flux::Conv({1, 1}, {inplanes, inplanes}, options.gate_activation));
  return flux::SkipConnection(gate, times);
}

}  // namespace metalhead::layers
