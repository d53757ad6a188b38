#include <flux/init.h>

#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace flux {

std::pair<int64_t, int64_t> nfan(at::IntArrayRef dims) {
  switch (dims.size()) {
    case 0: return {1, 1};
    case 1: return {1, dims[0]};
    case 2: return {dims[1], dims[0]};
    default: {
      int64_t receptive = 1;
      for (size_t i = 0; i + 2 < dims.size(); ++i) receptive *= dims[i];
      return {receptive * dims[dims.size() - 2], receptive * dims[dims.size() - 1]};
    }
  }
}

namespace {
at::TensorOptions f32() { return torch::TensorOptions().dtype(torch::kFloat32); }

thread_local bool skip_init = false;

// Under SkipInit: a tensor on the meta device, shape without memory, so that counting
// even a billion-parameter model touches no pages.
Tensor skipped(at::IntArrayRef dims) { return torch::empty(dims, f32().device(torch::kMeta)); }
}  // namespace

Tensor GlorotUniform::operator()(at::IntArrayRef dims) const {
  if (skip_init) return skipped(dims);
  auto [in, out] = nfan(dims);
  double a = gain * std::sqrt(6.0 / static_cast<double>(in + out));
  return torch::empty(dims, f32()).uniform_(-a, a);
}

Tensor GlorotNormal::operator()(at::IntArrayRef dims) const {
  if (skip_init) return skipped(dims);
  auto [in, out] = nfan(dims);
  return torch::randn(dims, f32()) * (gain * std::sqrt(2.0 / static_cast<double>(in + out)));
}

Tensor KaimingUniform::operator()(at::IntArrayRef dims) const {
  if (skip_init) return skipped(dims);
  double b = gain * std::sqrt(3.0 / static_cast<double>(nfan(dims).first));
  return torch::empty(dims, f32()).uniform_(-b, b);
}

Tensor KaimingNormal::operator()(at::IntArrayRef dims) const {
  if (skip_init) return skipped(dims);
  return torch::randn(dims, f32()) * (gain / std::sqrt(static_cast<double>(nfan(dims).first)));
}

Tensor TruncatedNormal::operator()(at::IntArrayRef dims) const {
  if (skip_init) return skipped(dims);
  if (!(lo < hi)) throw std::invalid_argument("truncated_normal: lo must be below hi");
  // Inverse-CDF sampling between the normal CDF values of the bounds.
  auto cdf = [&](double v) { return 0.5 * (1 + std::erf((v - mean) / (std * std::sqrt(2.0)))); };
  double l = cdf(lo), u = cdf(hi);
  Tensor p = torch::empty(dims, torch::TensorOptions().dtype(torch::kFloat64)).uniform_(2 * l - 1, 2 * u - 1);
  Tensor x = torch::erfinv(p) * (std * std::sqrt(2.0)) + mean;
  return x.clamp(lo, hi).to(torch::kFloat32);
}

Tensor LecunNormal::operator()(at::IntArrayRef dims) const {
  const double sigma = gain * std::sqrt(1.0 / static_cast<double>(nfan(dims).first));
  return TruncatedNormal{0.0, sigma, -2.0, 2.0}(dims);  // Flux truncates at ±2, not ±2σ
}

Tensor Orthogonal::operator()(at::IntArrayRef dims) const {
  if (skip_init) return skipped(dims);
  if (dims.empty()) throw std::invalid_argument("orthogonal: needs at least 1 dimension");
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows *= dims[i];
  const int64_t cols = dims.back();
  // QR of the taller orientation; signs of R's diagonal make the draw uniform (Haar).
  const bool wide = rows < cols;
  Tensor a = torch::randn(wide ? std::vector<int64_t>{cols, rows} : std::vector<int64_t>{rows, cols}, f32());
  auto [q, r] = torch::linalg_qr(a);
  q = q * torch::sign(r.diagonal()).unsqueeze(0) * gain;
  if (wide) q = q.t();
  // Julia's reshape is column-major: the first dims vary fastest along a column.
  std::vector<int64_t> reversed(dims.rbegin() + 1, dims.rend());
  reversed.push_back(cols);
  Tensor m = q.reshape(reversed);  // [d_{n-2}, ..., d_0, cols]
  std::vector<int64_t> perm;
  for (int64_t i = static_cast<int64_t>(dims.size()) - 2; i >= 0; --i) perm.push_back(i);
  perm.push_back(static_cast<int64_t>(dims.size()) - 1);
  return m.permute(perm).contiguous();
}

Tensor SparseInit::operator()(at::IntArrayRef dims) const {
  if (dims.size() != 2) {
    throw std::invalid_argument("sparse_init: only 2-dimensional outputs are supported, got " + std::to_string(dims.size()) +
                                " dimensions");
  }
  if (skip_init) return skipped(dims);
  const int64_t rows = dims[0], cols = dims[1];
  // Flux: ceil(min(1, sparsity)·rows) zeros per column; a negative sparsity gives none.
  const auto zeros = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(std::min(1.0, sparsity) * static_cast<double>(rows))));
  Tensor w = torch::randn({rows, cols}, f32()) * std;
  // Every column gets its own random set of zero rows.
  Tensor order = torch::rand({rows, cols}).argsort(/*dim=*/int64_t{0});
  w.scatter_(0, order.slice(0, 0, zeros), 0.0);
  return w;
}

Tensor IdentityInit::operator()(at::IntArrayRef dims) const {
  Tensor w = torch::zeros(dims, f32());
  if (dims.size() == 2) {
    w.diagonal().fill_(gain);
  } else if (dims.size() > 2) {
    const size_t n = dims.size();
    std::vector<at::indexing::TensorIndex> at_centre;
    for (size_t i = 0; i + 2 < n; ++i) at_centre.emplace_back((dims[i] - 1) / 2);  // Julia's cld(k, 2), 0-based
    at_centre.emplace_back(at::indexing::Slice());
    at_centre.emplace_back(at::indexing::Slice());
    w.index(at_centre).diagonal().fill_(gain);
  }
  if (shift.empty() || w.dim() == 0) return w;
  if (shift.size() > dims.size()) {
    throw std::invalid_argument("identity_init: " + std::to_string(shift.size()) + " shifts for " +
                                std::to_string(dims.size()) + " dimensions");
  }
  std::vector<int64_t> axes(shift.size());
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  return torch::roll(w, shift, axes);
}

Tensor zeros32(at::IntArrayRef dims) { return torch::zeros(dims, f32()); }
Tensor ones32(at::IntArrayRef dims) { return torch::ones(dims, f32()); }
Tensor rand32(at::IntArrayRef dims) { return skip_init ? skipped(dims) : torch::rand(dims, f32()); }
Tensor randn32(at::IntArrayRef dims) { return skip_init ? skipped(dims) : torch::randn(dims, f32()); }

SkipInit::SkipInit() : previous_(skip_init) { skip_init = true; }
SkipInit::~SkipInit() { skip_init = previous_; }
bool skipping_init() { return skip_init; }

}  // namespace flux
