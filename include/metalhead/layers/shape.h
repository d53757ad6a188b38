// shape.h — parameter-free reshaping layers and traversal: swapdims, seconddimmean,
// channel_shuffle, channel_chunk, flatten_chains.
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

/// channel_shuffle(groups): ShuffleNet's shuffle of [N, C, H, W]: the channels, seen as a
/// [groups, C / groups] grid, are read column by column, so that each of the next grouped
/// convolution's groups sees channels from every group. Example: channel_shuffle(2) maps
/// the channels 0 1 2 3 4 5 to 0 3 1 4 2 5. ([reference](https://arxiv.org/abs/1707.01083))
flux::Layer channel_shuffle(int64_t groups);

/// channel_chunk(chunks, index): the index-th of `chunks` equal slices of the channels of
/// [N, C, ...] (torch's x.chunk(chunks, 1)[index]); ShuffleNetV2's channel split.
flux::Layer channel_chunk(int64_t chunks, int64_t index);

/// flatten_chains(m): the leaves of nested Chains in order; any other layer is one leaf.
std::vector<flux::Layer> flatten_chains(const flux::Layer& m);

}  // namespace metalhead::layers
