// shape.h — parameter-free reshaping layers and traversal: swapdims, seconddimmean,
// flatten_chains.
#pragma once

#include <flux/layer.h>

#include <vector>

namespace metalhead::layers {

using flux::Tensor;

/// swapdims(perm): the layer x.permute(perm), perm in torch's order (MLPMixer's token
/// mixing transposes [N, T, D] with swapdims({0, 2, 1})).
flux::Layer swapdims(std::vector<int64_t> perm);

/// seconddimmean: the mean over the tokens of [N, T, D], giving [N, D] (ViT's `:mean` pool).
flux::Layer seconddimmean();

/// flatten_chains(m): the leaves of nested Chains in order; any other layer is one leaf.
std::vector<flux::Layer> flatten_chains(const flux::Layer& m);

}  // namespace metalhead::layers
