#include <flux/pooling.h>

#include <torch/types.h>

#include <limits>

namespace flux {
namespace {

Tensor pool(bool max, const Tensor& x, const std::vector<int64_t>& k, const std::vector<int64_t>& s,
            const std::vector<int64_t>& pad2n) {
  const size_t n = k.size();
  std::vector<int64_t> padding(n, 0);
  bool native = is_symmetric(pad2n);
  for (size_t d = 0; d < n && native; ++d) native = pad2n[2 * d] <= k[d] / 2;  // torch's limit
  Tensor xp = x;
  if (native) {
    for (size_t d = 0; d < n; ++d) padding[d] = pad2n[2 * d];
  } else {
    double fill = max ? -std::numeric_limits<double>::infinity() : 0.0;
    xp = torch::constant_pad_nd(x, torch_pad_order(pad2n), fill);
  }
  if (max) {
    switch (n) {
      case 1: return torch::max_pool1d(xp, k, s, padding);
      case 2: return torch::max_pool2d(xp, k, s, padding);
      default: return torch::max_pool3d(xp, k, s, padding);
    }
  }
  switch (n) {
    case 1: return torch::avg_pool1d(xp, k, s, padding, false, true);
    case 2: return torch::avg_pool2d(xp, k, s, padding, false, true);
    default: return torch::avg_pool3d(xp, k, s, padding, false, true);
  }
}

}  // namespace

Tensor maxpool(const Tensor& x, const std::vector<int64_t>& window, const std::vector<int64_t>& stride,
               const std::vector<int64_t>& pad2n) {
  return pool(true, x, window, stride, pad2n);
}

Tensor meanpool(const Tensor& x, const std::vector<int64_t>& window, const std::vector<int64_t>& stride,
                const std::vector<int64_t>& pad2n) {
  return pool(false, x, window, stride, pad2n);
}

PoolImpl::PoolImpl(bool max, std::vector<int64_t> window, PoolOptions options) : max_(max), window_(std::move(window)) {
  const char* who = max ? "MaxPool" : "MeanPool";
  if (window_.empty() || window_.size() > 3) {
    throw std::invalid_argument(std::string(who) + ": expected a window of 1 to 3 dimensions, got " +
                                std::to_string(window_.size()));
  }
  for (int64_t k : window_) {
    if (k < 1) throw std::invalid_argument(std::string(who) + ": window sizes must be positive");
  }
  stride_ = options.stride ? options.stride->expand(window_.size(), who) : window_;
  for (int64_t s : stride_) {
    if (s < 1) throw std::invalid_argument(std::string(who) + ": stride must be positive");
  }
  pad_ = options.pad.resolve(window_, std::vector<int64_t>(window_.size(), 1));
}

Tensor PoolImpl::forward(const Tensor& x) {
  const auto n = static_cast<int64_t>(window_.size());
  if (x.dim() != n + 2) input_error("a [N, C, spatial...] input with " + std::to_string(n) + " spatial dimensions", x);
  for (int64_t d = 0; d < n; ++d) {
    if (x.size(d + 2) + pad_[2 * d] + pad_[2 * d + 1] < window_[d]) {
      input_error("spatial sizes at least the window " + tuple_string(window_) + " after padding", x);
    }
  }
  return pool(max_, x.is_floating_point() ? x : x.to(torch::kFloat32), window_, stride_, pad_);
}

void PoolImpl::pretty_print(std::ostream& os) const {
  os << (max_ ? "MaxPool(" : "MeanPool(") << tuple_string(window_);
  if (std::any_of(pad_.begin(), pad_.end(), [](int64_t p) { return p != 0; })) os << ", pad=" << pad_string(pad_);
  if (stride_ != window_) os << ", stride=" << compact_string(stride_);
  os << ')';
}

AdaptivePoolImpl::AdaptivePoolImpl(bool max, std::vector<int64_t> out) : max_(max), out_(std::move(out)) {
  if (out_.empty() || out_.size() > 3) throw std::invalid_argument("AdaptivePool: expected 1 to 3 output sizes");
  for (int64_t o : out_) {
    if (o < 1) throw std::invalid_argument("AdaptivePool: output sizes must be positive");
  }
}

Tensor AdaptivePoolImpl::forward(const Tensor& x) {
  const auto n = static_cast<int64_t>(out_.size());
  if (x.dim() != n + 2) input_error("a [N, C, spatial...] input with " + std::to_string(n) + " spatial dimensions", x);
  std::vector<int64_t> k(out_.size()), s(out_.size());
  for (int64_t d = 0; d < n; ++d) {
    int64_t in = x.size(d + 2);
    if (out_[d] > in) input_error("spatial sizes at least the output " + tuple_string(out_), x);
    s[d] = in / out_[d];
    k[d] = in - (out_[d] - 1) * s[d];
  }
  return pool(max_, x, k, s, std::vector<int64_t>(2 * out_.size(), 0));
}

void AdaptivePoolImpl::pretty_print(std::ostream& os) const {
  os << (max_ ? "AdaptiveMaxPool(" : "AdaptiveMeanPool(") << tuple_string(out_) << ')';
}

Tensor GlobalPoolImpl::forward(const Tensor& x) {
  if (x.dim() < 3) input_error("a [N, C, spatial...] input", x);
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return max_ ? x.amax(dims, true) : x.mean(dims, true);
}

const Activation flatten("Flux.flatten", [](const Tensor& x) {
  return x.dim() <= 1 ? x.reshape({1, -1}) : x.reshape({x.size(0), -1});
});

}  // namespace flux
