// scale.h — LayerScale and inputscale.
#pragma once

#include <flux/activations.h>
#include <flux/layer.h>

namespace metalhead::layers {

using flux::Tensor;

/// LayerScale(planes, λ): CaiT's learnable per-channel scale on the last dimension,
/// initialised to λ and without bias: `flux::Scale(fill(λ, planes), false)`. The identity
/// when λ ≤ 0 (Metalhead's way of switching it off).
flux::Layer LayerScale(int64_t planes, double lambda);

/// inputscale(λ, activation = identity): the parameter-free layer activation.(λ .* x).
flux::Layer inputscale(double lambda, flux::Activation activation = flux::identity);

}  // namespace metalhead::layers
