// activations.h — NNlib's activation functions, named so that layers print them.
//
//   flux::relu(x);  flux::leakyrelu(x, 0.2);  Dense({5, 2}, flux::tanh)
//
// Each is elementwise, except softmax/logsoftmax, which act along the last
// dimension (Flux's `dims = 1`). `gelu` is the tanh approximation, as in NNlib.
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
  /// `inplace`, when given, overwrites its argument with the same values as `f`.
  Activation(std::string name, Fn f, InplaceFn inplace = nullptr)
      : name_(std::move(name)), f_(std::move(f)), inplace_(inplace) {}

  Tensor operator()(const Tensor& x) const { return f_ ? f_(x) : x; }
  /// On a tensor the caller gives up (a layer's fresh output): in place when nothing else
  /// can see it and no gradient is recorded, which saves a full-size temporary per layer.
  Tensor operator()(Tensor&& x) const {
    if (inplace_ && exclusively_owned(x)) {
      inplace_(x);
      return std::move(x);
    }
    return (*this)(static_cast<const Tensor&>(x));
  }
  const std::string& name() const { return name_; }
  bool is_identity() const { return name_ == "identity"; }

 private:
  std::string name_;
  Fn f_;
  InplaceFn inplace_ = nullptr;
};

/// An activation with one coefficient: `leakyrelu(x)`, `leakyrelu(x, 0.2)`, and
/// `leakyrelu.with(0.2)` for a layer's activation argument.
class ParamActivation : public Activation {
 public:
  using ParamFn = Tensor (*)(const Tensor&, double);
  ParamActivation(std::string name, double fallback, ParamFn f);
  using Activation::operator();
  Tensor operator()(const Tensor& x, double a) const { return g_(x, a); }
  Activation with(double a) const;

 private:
  ParamFn g_;
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
extern const Activation softmax;     // along the last dimension
extern const Activation logsoftmax;  // along the last dimension

/// softmax(x; dims) with torch dimension `dim`.
Tensor softmax_dim(const Tensor& x, int64_t dim);
Tensor logsoftmax_dim(const Tensor& x, int64_t dim);

}  // namespace flux
