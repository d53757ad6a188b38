// activations.h — NNlib's activation functions, named so that layers print them.
//
//   flux::relu(x);  flux::leakyrelu(x, 0.2);  Dense({5, 2}, flux::tanh)
//
// Each is elementwise, except softmax/logsoftmax, which act along the last
// dimension (Flux's `dims = 1`). `gelu` is the tanh approximation, as in NNlib.
// Integer and Bool input gives a float result (torch's default dtype, Float32; NNlib's
// float(Int) is Float64), except for relu, relu6, hardtanh, trelu and identity, which
// keep integers as NNlib does. Float input keeps its dtype.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

namespace flux {

using at::Tensor;

/// True when `t` may be overwritten: no autograd history is wanted and no other tensor
/// (no other handle, no view) shares its memory.
bool exclusively_owned(const Tensor& t);

/// A named elementwise function. The name is what a layer prints (`relu`, `σ`).
class Activation {
 public:
  using Fn = std::function<Tensor(const Tensor&)>;
  using InplaceFn = void (*)(Tensor&);
  /// Which non-float inputs the function takes as they are.
  enum class Domain { floats, integers };
  /// `inplace`, when given, overwrites its argument with the same values as `f`.
  Activation(std::string name, Fn f, InplaceFn inplace = nullptr, Domain domain = Domain::floats)
      : name_(std::move(name)), f_(std::move(f)), inplace_(inplace), domain_(domain) {}

  Tensor operator()(const Tensor& x) const;
  /// On a tensor the caller gives up (a layer's fresh output): in place when nothing else
  /// can see it and no gradient is recorded, which saves a full-size temporary per layer.
  /// Gives exactly what the const& overload gives, dtype included.
  Tensor operator()(Tensor&& x) const;
  const std::string& name() const { return name_; }
  bool is_identity() const { return name_ == "identity"; }
  Domain domain() const { return domain_; }

 protected:
  /// x as the function takes it: integers and Bool become floats unless the domain keeps them.
  Tensor admit(const Tensor& x) const;
  bool takes_as_is(const Tensor& x) const;

 private:
  std::string name_;
  Fn f_;
  InplaceFn inplace_ = nullptr;
  Domain domain_ = Domain::floats;
};

/// An activation with one coefficient: `leakyrelu(x)`, `leakyrelu(x, 0.2)`, and
/// `leakyrelu.with(0.2)` for a layer's activation argument.
class ParamActivation : public Activation {
 public:
  using ParamFn = Tensor (*)(const Tensor&, double);
  ParamActivation(std::string name, double fallback, ParamFn f, Domain domain = Domain::floats);
  using Activation::operator();
  Tensor operator()(const Tensor& x, double a) const { return g_(admit(x), a); }
  Activation with(double a) const;

 private:
  ParamFn g_;
};

/// rrelu(x, lo = 1/8, hi = 1/3): leakyrelu with a slope drawn from U(lo, hi) for every
/// element (NNlib's randomized ReLU); `rrelu.with(lo, hi)` for a layer's activation.
class RReluActivation : public Activation {
 public:
  RReluActivation();
  using Activation::operator();
  Tensor operator()(const Tensor& x, double lo, double hi) const;
  Activation with(double lo, double hi) const;
};

extern const Activation identity;
extern const Activation sigmoid;  // prints as σ
extern const Activation hardsigmoid;
extern const Activation logsigmoid;
extern const Activation tanh;
extern const Activation hardtanh;
extern const Activation relu;
extern const Activation relu6;
extern const ParamActivation leakyrelu;  // a = 0.01
extern const ParamActivation elu;        // α = 1
extern const ParamActivation celu;       // α = 1
extern const Activation gelu;            // tanh approximation
extern const Activation gelu_erf;        // exact, torch's default
extern const Activation swish;
extern const Activation hardswish;
extern const Activation selu;
extern const Activation softplus;
extern const Activation softsign;
extern const Activation mish;
extern const Activation tanhshrink;
extern const Activation lisht;             // x·tanh(x)
extern const Activation logcosh;           // log(cosh(x)), without overflow
extern const ParamActivation trelu;        // θ = 1: x where x > θ, else 0
extern const ParamActivation softshrink;   // λ = 0.5: x ∓ λ outside [−λ, λ], else 0
extern const RReluActivation rrelu;
extern const Activation softmax;     // along the last dimension
extern const Activation logsoftmax;  // along the last dimension

/// softmax(x; dims) with torch dimension `dim`; integer input gives floats.
Tensor softmax_dim(const Tensor& x, int64_t dim);
Tensor logsoftmax_dim(const Tensor& x, int64_t dim);

}  // namespace flux
