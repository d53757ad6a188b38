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

/// GFLOPs (10^9 multiply-adds) of the registry model `name` at `input_size`, from one
/// forward pass over uninitialised weights (no random init; the cost of the forward
/// remains, seconds for the largest models). Without `input_size`: at the model's own
/// size, from a table counted in advance (scripts/gflops-table; a test checks it).
double gflops(const std::string& name, const std::vector<int64_t>& input_size = {});

/// The table's multiply-adds at the model's own size, or -1 for a name it lacks.
int64_t tabulated_multiply_adds(const std::string& name);
/// The parameter count of registry name `name` from the same table; -1 if not there.
int64_t tabulated_parameters(const std::string& name);

}  // namespace metalhead
