// kernels.h — the engine's own element-wise kernels, where they beat oneDNN 2.6's.
//
// oneDNN's SiLU (its swish, as a post-op or on its own) computes exp(-x) and a division
// at about 37 cycles per 16 floats; EfficientNet-B0 spends a quarter of its fp32 time there
// at batch 1. This one is the same formula in about half the cycles, within 3e-7 of exact.
// In bf16 oneDNN's fused swish stays: a separate pass over bf16 maps was 13% slower.
#pragma once
#include <cstdint>

namespace metalhead::inference {

/// Whether this CPU runs the kernel below (AVX-512F); without it the engine keeps oneDNN's.
bool own_silu_available();
/// x·sigmoid(x) in place on every thread, for `n` floats.
void silu_in_place(float* data, int64_t n);

}  // namespace metalhead::inference
