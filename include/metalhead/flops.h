// flops.h — multiply-adds of a forward pass, counted from the operators it runs.
//
//   double g = metalhead::gflops("resnet50");   // 4.09, at the registry's default size
//
// Counts convolutions and matrix products (the GFLOPs that torchvision and timm list,
// which are multiply-adds); elementwise work is left out, as they do.
#pragma once

#include <metalhead/model.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace metalhead {

/// Multiply-adds of the convolutions and matrix products that `run` executes on this thread.
int64_t count_multiply_adds(const std::function<void()>& run);

/// Multiply-adds of one forward pass of `model` on a [1, inchannels, H, W] batch.
int64_t multiply_adds(const Model& model, const std::vector<int64_t>& input_size);

/// GFLOPs (10^9 multiply-adds) of the registry model `name` at `input_size` (default: its
/// own), from one forward pass over uninitialised weights (no random init; the cost of
/// the forward remains, seconds for the largest models).
double gflops(const std::string& name, const std::vector<int64_t>& input_size = {});

}  // namespace metalhead
