#include <flux/normalise.h>

#include <torch/csrc/autograd/custom_function.h>
#include <torch/types.h>

#include <algorithm>

namespace flux {
namespace {

// Flux broadcasts a norm's Float32 parameters against the input, so Float64 input is
// normalised in Float64. We compute in the wider of the input's and the parameters'
// types and return the input's float type: Float16 is computed in Float32 (CPU
// libtorch has no Half batch norm) and returned as Float16; integers give floats.
struct NormTypes {
  at::ScalarType compute, result;
};

NormTypes norm_types(const Tensor& x, const Tensor& param) {
  const auto p = param.defined() ? param.scalar_type() : c10::typeMetaToScalarType(at::get_default_dtype());
  if (!at::isFloatingType(x.scalar_type())) return {p, p};
  auto compute = at::promote_types(x.scalar_type(), p);
  if (compute == at::kHalf && x.device().is_cpu()) compute = at::kFloat;  // no Half norms on CPU
  return {compute, x.scalar_type()};
}

Tensor as_type(const Tensor& t, at::ScalarType type) {
  return !t.defined() || t.scalar_type() == type ? t : t.to(type);
}

// Runs a torch norm with running statistics in `compute` type; the running statistics
// (kept in their own type) take the update.
template <class F>
Tensor with_running_stats(Tensor& running_mean, Tensor& running_var, at::ScalarType compute, F&& norm) {
  if (!running_mean.defined() || running_mean.scalar_type() == compute) return norm(running_mean, running_var);
  Tensor mean = running_mean.to(compute), var = running_var.to(compute);
  Tensor y = norm(mean, var);
  torch::NoGradGuard no_grad;
  running_mean.copy_(mean);
  running_var.copy_(var);
  return y;
}

// SyncBatchNorm's training forward and backward: the batch statistics, and the two sums
// the input gradient needs, over every replica. Weight and bias gradients stay local:
// data-parallel training averages them with the others.
struct SyncStats {
  Tensor mean, var;  // over every replica; var biased
  double count = 0;  // values per channel over every replica
};

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x, const Tensor& weight,
                        const Tensor& bias, ReplicaReducer* reducer, double eps, SyncStats* stats) {
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    const int64_t c = x.size(1);
    Tensor sums = at::cat({x.sum(dims), at::full({1}, static_cast<double>(x.numel() / c), x.options())});
    reducer->sum(sums);
    const Tensor count = sums.narrow(0, c, 1);
    const Tensor mean = sums.narrow(0, 0, c) / count;
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = c;
    const Tensor centred = x - mean.view(shape);
    Tensor squares = centred.square().sum(dims);
    reducer->sum(squares);
    const Tensor var = squares / count;  // biased, to normalise
    const Tensor invstd = (var + eps).rsqrt();
    const Tensor xhat = centred * invstd.view(shape);
    Tensor y = weight.defined() ? xhat * weight.view(shape) + bias.view(shape) : xhat;
    ctx->save_for_backward({xhat, invstd, weight, count});
    ctx->saved_data["reducer"] = reinterpret_cast<int64_t>(reducer);  // the layer keeps it alive
    *stats = {mean, var, count.item<double>()};
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &xhat = saved[0], &invstd = saved[1], &weight = saved[2], &count = saved[3];
    auto* reducer = reinterpret_cast<ReplicaReducer*>(ctx->saved_data["reducer"].toInt());
    const Tensor dy = grads[0];
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < dy.dim(); ++d) dims.push_back(d);
    const int64_t c = dy.size(1);
    std::vector<int64_t> shape(static_cast<size_t>(dy.dim()), 1);
    shape[1] = c;
    const Tensor sum_dy = dy.sum(dims), sum_dy_xhat = (dy * xhat).sum(dims);
    Tensor global = at::cat({sum_dy, sum_dy_xhat});
    reducer->sum(global);
    const Tensor mean_dy = global.narrow(0, 0, c) / count, mean_dy_xhat = global.narrow(0, c, c) / count;
    Tensor scale = weight.defined() ? invstd * weight : invstd;
    Tensor dx = scale.view(shape) * (dy - mean_dy.view(shape) - xhat * mean_dy_xhat.view(shape));
    return {dx, weight.defined() ? sum_dy_xhat : Tensor(), weight.defined() ? sum_dy : Tensor(), Tensor(), Tensor(),
            Tensor()};
  }
};

}  // namespace

Tensor normalise(const Tensor& x0, NormaliseOptions options) {
  const Tensor x = at::isFloatingType(x0.scalar_type()) ? x0 : x0.to(c10::typeMetaToScalarType(at::get_default_dtype()));
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
  const auto [compute, result] = norm_types(x, weight.defined() ? weight : running_mean);
  if (training && sync) {
    SyncStats stats;
    Tensor y = SyncBatchNormFunction::apply(as_type(x, compute), as_type(weight, compute), as_type(bias, compute),
                                            sync.get(), eps, &stats);
    if (running_mean.defined()) {
      torch::NoGradGuard no_grad;
      const double n = stats.count;
      running_mean.mul_(1 - momentum).add_(stats.mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1 - momentum).add_(stats.var.to(running_var.scalar_type()) * (n / std::max(n - 1, 1.0)), momentum);
    }
    return activation(as_type(y, result));
  }
  Tensor y = with_running_stats(running_mean, running_var, compute, [&](const Tensor& mean, const Tensor& var) {
    return torch::batch_norm(as_type(x, compute), as_type(weight, compute), as_type(bias, compute), mean, var,
                             training, momentum, eps, /*cudnn_enabled=*/true);
  });
  y = as_type(y, result);
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
  const auto [compute, result] = norm_types(x, weight.defined() ? weight : running_mean);
  Tensor y = with_running_stats(running_mean, running_var, compute, [&](const Tensor& mean, const Tensor& var) {
    return torch::instance_norm(as_type(x, compute), as_type(weight, compute), as_type(bias, compute), mean, var,
                                use_input_stats, momentum, eps, /*cudnn_enabled=*/true);
  });
  y = as_type(y, result);
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
  const auto [compute, result] = norm_types(x, weight);
  Tensor y = torch::group_norm(as_type(x, compute), groups, as_type(weight, compute), as_type(bias, compute), eps,
                               /*cudnn_enabled=*/true);
  y = as_type(y, result);
  return activation(std::move(y));
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
