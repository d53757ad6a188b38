#include <flux/init.h>

#include <torch/types.h>

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

Tensor zeros32(at::IntArrayRef dims) { return torch::zeros(dims, f32()); }
Tensor ones32(at::IntArrayRef dims) { return torch::ones(dims, f32()); }
Tensor rand32(at::IntArrayRef dims) { return skip_init ? skipped(dims) : torch::rand(dims, f32()); }
Tensor randn32(at::IntArrayRef dims) { return skip_init ? skipped(dims) : torch::randn(dims, f32()); }

SkipInit::SkipInit() : previous_(skip_init) { skip_init = true; }
SkipInit::~SkipInit() { skip_init = previous_; }
bool skipping_init() { return skip_init; }

}  // namespace flux
