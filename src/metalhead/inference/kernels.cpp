#include "kernels.h"

#include <ATen/Parallel.h>

// GCC 12 warns of the intrinsics' own undefined pass-through registers (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace metalhead::inference {
namespace {

// x / (1 + e^-x). e^t = 2^n · e^r with n = round(t / ln 2) and |r| ≤ ln 2 / 2, e^r from
// its Taylor series to r^6 (error below 1.3e-7 relative), ln 2 split in two so that r is
// exact. -x is capped at 88, where e^-x is still finite: silu(x) is then -0.
__attribute__((target("avx512f"))) inline __m512 silu16(__m512 x) {
  const __m512 t = _mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), _mm512_set1_ps(88.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_scalef_ps(p, n), _mm512_set1_ps(1.f)));
}

__attribute__((target("avx512f"))) void silu_f32(float* p, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; i += 16) {
    const __mmask16 m = end - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (end - i)) - 1);
    _mm512_mask_storeu_ps(p + i, m, silu16(_mm512_maskz_loadu_ps(m, p + i)));
  }
}

// bf16 is the top half of an fp32; rounding adds 0x7fff plus the kept half's lowest bit.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void silu_bf16(uint16_t* p, int64_t begin, int64_t end) {
  const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  for (int64_t i = begin; i < end; i += 16) {
    const __mmask16 m = end - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (end - i)) - 1);
    const __m512i in = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p + i));
    const __m512i y = _mm512_castps_si512(silu16(_mm512_castsi512_ps(_mm512_slli_epi32(in, 16))));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(y, 16), one);
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(y, _mm512_add_epi32(half, lsb)), 16);
    _mm256_mask_storeu_epi16(p + i, m, _mm512_cvtepi32_epi16(rounded));
  }
}

// Chunks of whole 16-lane vectors, about 64 KiB of floats each.
constexpr int64_t kGrain = 16384;

}  // namespace

bool own_silu_available() {
  static const bool yes =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return yes;
}

void silu_in_place(float* data, int64_t n) {
  at::parallel_for(0, (n + 15) / 16, kGrain / 16, [&](int64_t b, int64_t e) { silu_f32(data, 16 * b, std::min(n, 16 * e)); });
}

void silu_in_place_bf16(uint16_t* data, int64_t n) {
  at::parallel_for(0, (n + 15) / 16, kGrain / 16, [&](int64_t b, int64_t e) { silu_bf16(data, 16 * b, std::min(n, 16 * e)); });
}

}  // namespace metalhead::inference
