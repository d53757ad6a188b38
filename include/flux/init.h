// init.h — Flux's initialisers, with Flux's fan rules.
//
// An initialiser is called as Flux calls it, with Flux's (Julia) dimensions:
// `init({out, in})` for Dense, `init({kW, kH, in / groups, out})` for a 2-d Conv,
// `init({out, in1, in2})` for Bilinear; it returns a tensor of exactly that shape
// and the layer arranges it into torch's layout. So the fans are Flux's:
// for dims (d1, ..., dk, a, b), fan_in = d1·…·dk·a and fan_out = d1·…·dk·b;
// a matrix (out, in) has fan_in = in, fan_out = out; a vector (n) has (1, n).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <functional>
#include <utility>
#include <vector>

namespace flux {

using at::Tensor;
using Init = std::function<Tensor(at::IntArrayRef dims)>;

/// Flux's nfan: (fan_in, fan_out) of an array of Julia dimensions `dims`.
std::pair<int64_t, int64_t> nfan(at::IntArrayRef dims);

/// U(−a, a) with a = gain·√(6 / (fan_in + fan_out)). The default for Dense, Conv, RNN cells.
struct GlorotUniform {
  double gain = 1.0;
  Tensor operator()(at::IntArrayRef dims) const;
};
/// N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out)).
struct GlorotNormal {
  double gain = 1.0;
  Tensor operator()(at::IntArrayRef dims) const;
};
/// U(−b, b) with b = gain·√(3 / fan_in); gain defaults to √2.
struct KaimingUniform {
  double gain = 1.4142135623730951;
  Tensor operator()(at::IntArrayRef dims) const;
};
/// N(0, σ²) with σ = gain / √fan_in; gain defaults to √2.
struct KaimingNormal {
  double gain = 1.4142135623730951;
  Tensor operator()(at::IntArrayRef dims) const;
};
/// N(mean, std²) truncated to the absolute bounds [lo, hi] by inverse-CDF sampling.
struct TruncatedNormal {
  double mean = 0.0;
  double std = 1.0;
  double lo = -2.0;
  double hi = 2.0;
  Tensor operator()(at::IntArrayRef dims) const;
};

/// N(0, σ²) truncated to [−2, 2] (absolute, as Flux), σ = gain·√(1 / fan_in) (Flux's lecun_normal).
struct LecunNormal {
  double gain = 1.0;
  Tensor operator()(at::IntArrayRef dims) const;
};
/// A (semi-)orthogonal matrix times gain: orthonormal columns when rows ≥ cols, rows
/// otherwise. For other ranks, Julia's reshape of orthogonal(prod(dims[0:n-1]), dims[n-1])
/// (a vector is a 1 × n row).
struct Orthogonal {
  double gain = 1.0;
  Tensor operator()(at::IntArrayRef dims) const;
};
/// A matrix (rows, cols) of N(0, std²) values in which every column has
/// ceil(min(1, sparsity)·rows) zeros at random rows. Matrices only, as in Flux.
struct SparseInit {
  double sparsity = 0.0;
  double std = 0.01;
  Tensor operator()(at::IntArrayRef dims) const;
};
/// Flux's identity_init: a vector of zeros (a bias), gain·I for a matrix, and for a kernel
/// (k..., in, out) gain at the kernel's centre for every channel pair (i, i), i < min(in, out),
/// so that a Conv with SamePad starts as the identity. Then circularly shifted by
/// `shift`, one value per Julia dimension (missing ones 0), as Julia's circshift.
struct IdentityInit {
  double gain = 1.0;
  std::vector<int64_t> shift = {};
  Tensor operator()(at::IntArrayRef dims) const;
};

inline constexpr GlorotUniform glorot_uniform{};
inline constexpr GlorotNormal glorot_normal{};
inline constexpr KaimingUniform kaiming_uniform{};
inline constexpr KaimingNormal kaiming_normal{};
inline constexpr TruncatedNormal truncated_normal{};
inline constexpr LecunNormal lecun_normal{};
inline constexpr Orthogonal orthogonal{};
inline const IdentityInit identity_init{};
/// sparse_init(sparsity, std = 0.01) as an initialiser (Flux's keyword form).
inline SparseInit sparse_init(double sparsity, double std = 0.01) { return SparseInit{sparsity, std}; }

/// While a SkipInit is alive (on this thread), the random initialisers return tensors
/// on torch's meta device (shapes without memory) instead of drawing: for models whose
/// weights are loaded next (loading replaces them), or only inspected (parameter
/// counts), where drawing or even touching millions of numbers would dominate. zeros32
/// and ones32 still fill. A model built so cannot run until its weights are loaded.
///   { flux::SkipInit skip; auto m = metalhead::create_model("vgg16"); load_weights(m, file); }
class SkipInit {
 public:
  SkipInit();
  ~SkipInit();
  SkipInit(const SkipInit&) = delete;
  SkipInit& operator=(const SkipInit&) = delete;

 private:
  bool previous_;
};
/// Whether a SkipInit is alive on this thread.
bool skipping_init();

Tensor zeros32(at::IntArrayRef dims);
Tensor ones32(at::IntArrayRef dims);
Tensor rand32(at::IntArrayRef dims);
Tensor randn32(at::IntArrayRef dims);

}  // namespace flux
