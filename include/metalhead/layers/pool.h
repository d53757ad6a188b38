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

/// adaptive_avg_pool(output_size): torch's AdaptiveAvgPool2d, whose windows
/// [⌊i·I/O⌋, ⌈(i+1)·I/O⌉) also work when O does not divide I or exceeds it (Flux's
/// AdaptiveMeanPool needs I ≥ O). What torchvision's VGG and AlexNet heads use.
flux::Layer adaptive_avg_pool(std::vector<int64_t> output_size);

}  // namespace metalhead::layers
