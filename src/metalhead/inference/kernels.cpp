#include "kernels.h"

#include <flux/threads.h>

#include <algorithm>

// GCC 12 warns of the intrinsics' own undefined pass-through registers (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace metalhead::inference {
namespace {

// x / (1 + e^-x). e^t = 2^n · e^r with n = round(t / ln 2) and |r| ≤ ln 2 / 2, e^r from
// its Taylor series to r^6 (error below 1.3e-7 relative), ln 2 split in two so that r is
// exact. -x is capped at 88, where e^-x is still finite: below -88, silu(x) comes out
// under 1e-36 in size (the true value is smaller still).
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

// Chunks of whole 16-lane vectors, about 64 KiB of floats each.
constexpr int64_t kGrain = 16384;

}  // namespace

bool own_silu_available() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

void silu_in_place(float* data, int64_t n) {
  flux::parallel_for(0, (n + 15) / 16, kGrain / 16, [&](int64_t b, int64_t e) { silu_f32(data, 16 * b, std::min(n, 16 * e)); });
}

}  // namespace metalhead::inference
