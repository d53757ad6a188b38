#include <flux/normalise.h>

#include <torch/types.h>

namespace flux {

Tensor normalise(const Tensor& x, NormaliseOptions options) {
  Tensor mu = x.mean(options.dims, /*keepdim=*/true);
  Tensor sigma = (x - mu).square().mean(options.dims, true).sqrt();  // population std
  return (x - mu) / (sigma + options.eps);
}

// ---- BatchNorm / InstanceNorm ----------------------------------------------------

BatchNormImpl::BatchNormImpl(int64_t c, Activation act, BatchNormOptions o) : BatchNormImpl(false, c, std::move(act), std::move(o)) {}

BatchNormImpl::BatchNormImpl(bool instance, int64_t c, Activation act, BatchNormOptions o)
    : activation(std::move(act)), channels(c), eps(o.eps), momentum(o.momentum), instance_(instance) {
  const char* who = instance ? "InstanceNorm" : "BatchNorm";
  if (c < 1) throw std::invalid_argument(std::string(who) + ": channels must be positive, got " + std::to_string(c));
  if (o.eps <= 0) throw std::invalid_argument(std::string(who) + ": eps must be positive");
  if (o.affine) {
    bias = register_parameter("bias", o.init_beta({c}).reshape({c}));
    weight = register_parameter("weight", o.init_gamma({c}).reshape({c}));
  }
  if (o.track_stats) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
  }
  active = o.active;
  if (active) torch::nn::Module::train(*active);
}

Tensor BatchNormImpl::forward(const Tensor& x) {
  if (x.dim() < 2 || x.size(1) != channels) {
    input_error("input with " + std::to_string(channels) + " channels in dimension 1", x);
  }
  const bool training = is_active(x) || !running_mean.defined();
  Tensor y = torch::batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps,
                               /*cudnn_enabled=*/true);
  return activation(std::move(y));
}

void BatchNormImpl::pretty_print(std::ostream& os) const {
  os << "BatchNorm(" << channels;
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!weight.defined()) os << ", affine=false";
  print_active(os);
  os << ')';
}

namespace {
BatchNormOptions as_batchnorm(const InstanceNormOptions& o) {
  return {o.init_beta, o.init_gamma, o.affine, o.track_stats, o.active, o.eps, o.momentum};
}
}  // namespace

InstanceNormImpl::InstanceNormImpl(int64_t c, Activation act, InstanceNormOptions o)
    : BatchNormImpl(true, c, std::move(act), as_batchnorm(o)) {}

Tensor InstanceNormImpl::forward(const Tensor& x) {
  if (x.dim() < 3 || x.size(1) != channels) {
    input_error("a [N, " + std::to_string(channels) + ", spatial...] input", x);
  }
  const bool use_input_stats = is_active(x) || !running_mean.defined();
  Tensor y = torch::instance_norm(x, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                                  /*cudnn_enabled=*/true);
  return activation(std::move(y));
}

void InstanceNormImpl::pretty_print(std::ostream& os) const {
  os << "InstanceNorm(" << channels;
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!weight.defined()) os << ", affine=false";
  print_active(os);
  os << ')';
}

// ---- GroupNorm -----------------------------------------------------------------------

GroupNormImpl::GroupNormImpl(int64_t c, int64_t g, Activation act, GroupNormOptions o)
    : activation(std::move(act)), channels(c), groups(g), eps(o.eps) {
  if (c < 1 || g < 1 || c % g != 0) {
    throw std::invalid_argument("GroupNorm: the number of groups (" + std::to_string(g) +
                                ") must divide the number of channels (" + std::to_string(c) + ")");
  }
  if (o.affine) {
    bias = register_parameter("bias", o.init_beta({c}).reshape({c}));
    weight = register_parameter("weight", o.init_gamma({c}).reshape({c}));
  }
  active = o.active;
  if (active) torch::nn::Module::train(*active);
}

Tensor GroupNormImpl::forward(const Tensor& x) {
  if (x.dim() < 2 || x.size(1) != channels) {
    input_error("input with " + std::to_string(channels) + " channels in dimension 1", x);
  }
  return activation(torch::group_norm(x, groups, weight, bias, eps, /*cudnn_enabled=*/true));
}

void GroupNormImpl::pretty_print(std::ostream& os) const {
  os << "GroupNorm(" << channels << ", " << groups;
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!weight.defined()) os << ", affine=false";
  print_active(os);
  os << ')';
}

// ---- LayerNorm -----------------------------------------------------------------------

LayerNormImpl::LayerNormImpl(std::vector<int64_t> sz, Activation act, LayerNormOptions o)
    : activation(std::move(act)), size(std::move(sz)), eps(o.eps) {
  if (size.empty()) throw std::invalid_argument("LayerNorm: needs at least one size");
  for (int64_t s : size) {
    if (s < 1) throw std::invalid_argument("LayerNorm: sizes must be positive");
  }
  if (o.affine) {
    weight = register_parameter("weight", torch::ones(size));
    bias = register_parameter("bias", torch::zeros(size));
  }
}

Tensor LayerNormImpl::forward(const Tensor& x) {
  const auto k = static_cast<int64_t>(size.size());
  bool ok = x.dim() >= k;
  for (int64_t i = 0; ok && i < k; ++i) ok = x.size(x.dim() - k + i) == size[i];
  if (!ok) input_error("input whose trailing dimensions are " + shape_string(size), x);
  std::vector<int64_t> dims;
  for (int64_t i = 1; i <= k; ++i) dims.push_back(-i);
  Tensor y = normalise(x, {.dims = dims, .eps = eps});
  if (weight.defined()) y = y * weight + bias;
  return activation(std::move(y));
}

void LayerNormImpl::pretty_print(std::ostream& os) const {
  os << "LayerNorm(";
  for (size_t i = 0; i < size.size(); ++i) os << (i ? ", " : "") << size[i];
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!weight.defined()) os << ", affine=false";
  os << ')';
}

}  // namespace flux
