#include <flux/activations.h>

#include <torch/types.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace flux {
namespace {

// torch's softplus: log1p(exp(x)), x itself above 20; its gradient at 0 is σ(0) = 1/2.
Tensor softplus_fn(const Tensor& x) { return torch::softplus(x); }
Tensor leakyrelu_fn(const Tensor& x, double a) { return torch::where(x > 0, x, x * a); }
// expm1 of the clamped input: the unused branch must stay finite, or its 0 · ∞ gradient is NaN.
Tensor elu_fn(const Tensor& x, double a) { return torch::where(x >= 0, x, a * torch::expm1(x.clamp_max(0))); }
Tensor celu_fn(const Tensor& x, double a) { return torch::where(x >= 0, x, a * torch::expm1(x.clamp_max(0) / a)); }
// Written so that NaN propagates, as NNlib's ifelse does.
Tensor trelu_fn(const Tensor& x, double theta) { return torch::where(x <= theta, torch::zeros_like(x), x); }
Tensor softshrink_fn(const Tensor& x, double l) {
  return torch::where(x.abs() <= l, torch::zeros_like(x), x - torch::sign(x) * l);
}
Tensor rrelu_fn(const Tensor& x, double lo, double hi) {
  Tensor a = torch::rand_like(x) * (hi - lo) + lo;
  return torch::where(x > 0, x, x * a);
}
// CPU libtorch 1.13 lacks Half kernels for most functions: compute in Float32, return Half.
bool half_on_cpu(const Tensor& x) { return x.scalar_type() == at::kHalf && x.device().is_cpu(); }

// A coefficient activation that computes Half (on CPU) in Float32.
template <Tensor (*F)(const Tensor&, double)>
Tensor half_safe(const Tensor& x, double a) {
  return half_on_cpu(x) ? F(x.to(at::kFloat), a).to(at::kHalf) : F(x, a);
}

// Integers as a float tensor of torch's default dtype (NNlib's float.(x)).
Tensor as_floating(const Tensor& x) {
  return at::isFloatingType(x.scalar_type()) || at::isComplexType(x.scalar_type())
             ? x
             : x.to(c10::typeMetaToScalarType(at::get_default_dtype()));
}

}  // namespace

bool exclusively_owned(const Tensor& t) {
  return t.defined() && !t.requires_grad() && t.use_count() == 1 && t.has_storage() && t.storage().use_count() == 1;
}

bool Activation::takes_as_is(const Tensor& x) const {
  const auto t = x.scalar_type();
  if (at::isFloatingType(t) || at::isComplexType(t)) return true;
  return domain_ == Domain::integers && t != at::kBool;
}

Tensor Activation::admit(const Tensor& x) const {
  if (takes_as_is(x)) return x;
  return domain_ == Domain::integers ? x.to(at::kLong) : as_floating(x);
}

Tensor Activation::operator()(const Tensor& x) const {
  if (!f_) return x;
  if (half_on_cpu(x)) return f_(x.to(at::kFloat)).to(at::kHalf);
  return f_(admit(x));
}

Tensor Activation::operator()(Tensor&& x) const {
  if (!inplace_ || !f_ || half_on_cpu(x)) return (*this)(static_cast<const Tensor&>(x));
  // A converted input is a fresh tensor that nobody else sees: it may be overwritten too.
  Tensor y = takes_as_is(x) ? std::move(x) : admit(x);
  if (exclusively_owned(y)) {
    inplace_(y);
    return y;
  }
  return f_(y);
}

ParamActivation::ParamActivation(std::string name, double fallback, ParamFn f, Domain domain)
    : Activation(std::move(name), [f, fallback](const Tensor& x) { return f(x, fallback); }, nullptr, domain), g_(f) {}

Activation ParamActivation::with(double a) const {
  std::ostringstream os;
  os << name() << '(' << a << ')';
  ParamFn g = g_;
  return Activation(os.str(), [g, a](const Tensor& x) { return g(x, a); }, nullptr, domain());
}

RReluActivation::RReluActivation()
    : Activation("rrelu", [](const Tensor& x) { return rrelu_fn(x, 1.0 / 8, 1.0 / 3); }) {}

// NNlib draws (hi − lo)·U + lo, whichever bound is larger.
Tensor RReluActivation::operator()(const Tensor& x, double lo, double hi) const { return rrelu_fn(admit(x), lo, hi); }

Activation RReluActivation::with(double lo, double hi) const {
  std::ostringstream os;
  os << "rrelu(" << lo << ", " << hi << ')';
  return Activation(os.str(), [lo, hi](const Tensor& x) { return rrelu_fn(x, lo, hi); });
}

constexpr auto keeps_integers = Activation::Domain::integers;

const Activation identity("identity", [](const Tensor& x) { return x; }, nullptr, keeps_integers);
const Activation sigmoid("σ", [](const Tensor& x) { return torch::sigmoid(x); }, [](Tensor& x) { x.sigmoid_(); });
const Activation hardsigmoid("hardσ", [](const Tensor& x) { return torch::clamp((x + 3) / 6, 0, 1); },
                             [](Tensor& x) { x.add_(3).div_(6).clamp_(0, 1); });
const Activation logsigmoid("logσ", [](const Tensor& x) { return -softplus_fn(-x); });
const Activation tanh("tanh", [](const Tensor& x) { return torch::tanh(x); }, [](Tensor& x) { x.tanh_(); });
const Activation hardtanh("hardtanh", [](const Tensor& x) { return torch::clamp(x, -1, 1); }, nullptr, keeps_integers);
const Activation relu("relu", [](const Tensor& x) { return torch::relu(x); }, [](Tensor& x) { x.relu_(); }, keeps_integers);
const Activation relu6("relu6", [](const Tensor& x) { return torch::clamp(x, 0, 6); }, [](Tensor& x) { x.clamp_(0, 6); },
                       keeps_integers);
const ParamActivation leakyrelu("leakyrelu", 0.01, half_safe<leakyrelu_fn>);
const ParamActivation elu("elu", 1.0, half_safe<elu_fn>);
const ParamActivation celu("celu", 1.0, half_safe<celu_fn>);
const Activation gelu("gelu", [](const Tensor& x) { return torch::gelu(x, "tanh"); });
const Activation gelu_erf("gelu_erf", [](const Tensor& x) { return torch::gelu(x); }, [](Tensor& x) { at::gelu_(x); });
const Activation swish("swish", [](const Tensor& x) { return torch::silu(x); }, [](Tensor& x) { at::silu_(x); });
const Activation hardswish("hardswish", [](const Tensor& x) { return torch::hardswish(x); },
                           [](Tensor& x) { at::hardswish_(x); });
const Activation selu("selu", [](const Tensor& x) { return torch::selu(x); });
const Activation softplus("softplus", softplus_fn);
const Activation softsign("softsign", [](const Tensor& x) { return x / (1 + x.abs()); });
const Activation mish("mish", [](const Tensor& x) { return x * torch::tanh(softplus_fn(x)); });
const Activation tanhshrink("tanhshrink", [](const Tensor& x) { return x - torch::tanh(x); });
const Activation lisht("lisht", [](const Tensor& x) { return x * torch::tanh(x); });
// log(cosh x) = |x| + log1p(exp(−2|x|)) − log 2: no overflow for large |x|.
const Activation logcosh("logcosh", [](const Tensor& x) {
  Tensor a = x.abs();
  return a + torch::log1p(torch::exp(-2 * a)) - std::log(2.0);
});
const ParamActivation trelu("trelu", 1.0, half_safe<trelu_fn>, keeps_integers);
const ParamActivation softshrink("softshrink", 0.5, half_safe<softshrink_fn>);
const RReluActivation rrelu;
const Activation softmax("softmax", [](const Tensor& x) { return softmax_dim(x, -1); });
const Activation logsoftmax("logsoftmax", [](const Tensor& x) { return logsoftmax_dim(x, -1); });

Tensor softmax_dim(const Tensor& x0, int64_t dim) {
  const Tensor x = as_floating(x0);
  Tensor y = torch::softmax(x, dim);
  // Where the maximum is +Inf, torch gives NaN; NNlib gives 1 at the Infs and 0 elsewhere.
  if (x.numel() > 0 && at::isnan(y).any().item<bool>()) {
    const Tensor inf = x == std::numeric_limits<double>::infinity();
    const Tensor rows = inf.any(dim, /*keepdim=*/true);
    const Tensor ones = inf.to(y.scalar_type());
    y = torch::where(rows, ones / ones.sum(dim, true), y);
  }
  return y;
}
Tensor logsoftmax_dim(const Tensor& x0, int64_t dim) {
  const Tensor x = as_floating(x0);
  Tensor y = torch::log_softmax(x, dim);
  // As softmax: where the maximum is +Inf, log(1/k) at the k Infs and −Inf elsewhere.
  if (x.numel() > 0 && at::isnan(y).any().item<bool>()) {
    const double inf = std::numeric_limits<double>::infinity();
    const Tensor infs = x == inf;
    const Tensor rows = infs.any(dim, /*keepdim=*/true);
    const Tensor count = infs.sum(dim, true).to(y.scalar_type());
    y = torch::where(rows, torch::where(infs, -torch::log(count), torch::full_like(y, -inf)), y);
  }
  return y;
}

}  // namespace flux
