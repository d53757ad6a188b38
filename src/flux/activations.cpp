#include <flux/activations.h>

#include <torch/types.h>

namespace flux {
namespace {

Tensor softplus_fn(const Tensor& x) { return torch::log1p(torch::exp(-x.abs())) + torch::relu(x); }
Tensor leakyrelu_fn(const Tensor& x, double a) { return torch::where(x > 0, x, x * a); }
Tensor elu_fn(const Tensor& x, double a) { return torch::where(x >= 0, x, a * torch::expm1(x)); }
Tensor celu_fn(const Tensor& x, double a) { return torch::where(x >= 0, x, a * torch::expm1(x / a)); }

}  // namespace

bool exclusively_owned(const Tensor& t) {
  return t.defined() && !t.requires_grad() && t.use_count() == 1 && t.has_storage() && t.storage().use_count() == 1;
}

ParamActivation::ParamActivation(std::string name, double fallback, ParamFn f)
    : Activation(std::move(name), [f, fallback](const Tensor& x) { return f(x, fallback); }), g_(f) {}

Activation ParamActivation::with(double a) const {
  std::ostringstream os;
  os << name() << '(' << a << ')';
  ParamFn g = g_;
  return Activation(os.str(), [g, a](const Tensor& x) { return g(x, a); });
}

const Activation identity("identity", [](const Tensor& x) { return x; });
const Activation sigmoid("σ", [](const Tensor& x) { return torch::sigmoid(x); }, [](Tensor& x) { x.sigmoid_(); });
const Activation hardsigmoid("hardσ", [](const Tensor& x) { return torch::clamp((x + 3) / 6, 0, 1); },
                             [](Tensor& x) { x.add_(3).div_(6).clamp_(0, 1); });
const Activation logsigmoid("logσ", [](const Tensor& x) { return -softplus_fn(-x); });
const Activation tanh("tanh", [](const Tensor& x) { return torch::tanh(x); }, [](Tensor& x) { x.tanh_(); });
const Activation hardtanh("hardtanh", [](const Tensor& x) { return torch::clamp(x, -1, 1); });
const Activation relu("relu", [](const Tensor& x) { return torch::relu(x); }, [](Tensor& x) { x.relu_(); });
const Activation relu6("relu6", [](const Tensor& x) { return torch::clamp(x, 0, 6); }, [](Tensor& x) { x.clamp_(0, 6); });
const ParamActivation leakyrelu("leakyrelu", 0.01, leakyrelu_fn);
const ParamActivation elu("elu", 1.0, elu_fn);
const ParamActivation celu("celu", 1.0, celu_fn);
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
const Activation softmax("softmax", [](const Tensor& x) { return softmax_dim(x, -1); });
const Activation logsoftmax("logsoftmax", [](const Tensor& x) { return logsoftmax_dim(x, -1); });

Tensor softmax_dim(const Tensor& x, int64_t dim) { return torch::softmax(x, dim); }
Tensor logsoftmax_dim(const Tensor& x, int64_t dim) { return torch::log_softmax(x, dim); }

}  // namespace flux
