// pool.h — AdaptiveMeanMaxPool.
#pragma once

#include <flux/connection.h>
#include <flux/layer.h>

#include <vector>

namespace metalhead::layers {

using flux::Tensor;

/// AdaptiveMeanMaxPool(connection = +, output_size = {1, 1})
/// Adaptive mean and max pooling of the same input, joined by `connection`: the
/// Parallel(connection, AdaptiveMeanPool(output_size), AdaptiveMaxPool(output_size))
/// of timm's adaptive_avgmax_pool.
flux::Layer AdaptiveMeanMaxPool(flux::Connection connection, std::vector<int64_t> output_size = {1, 1});
flux::Layer AdaptiveMeanMaxPool(std::vector<int64_t> output_size = {1, 1});

}  // namespace metalhead::layers
