// dense.h — Dense: y = σ.(W * x .+ b) on the last dimension.
#pragma once

#include <flux/activations.h>
#include <flux/init.h>
#include <flux/layer.h>

#include <optional>

namespace flux {

/// `in => out` in Flux; `{in, out}` here.
struct InOut {
  int64_t in;
  int64_t out;
};

/// A bias argument: `true` (zeros), `false` (none) or an explicit vector.
class Bias {
 public:
  Bias(bool on) : on_(on) {}
  Bias(Tensor value) : on_(true), value_(std::move(value)) {}
  bool on() const { return on_; }
  /// The bias of length `n` and the weight's type `dtype` (Flux's create_bias): the
  /// explicit vector (checked, converted) or zeros. `who` names the layer in errors.
  std::optional<Tensor> make(int64_t n, const std::string& who, at::ScalarType dtype = at::kFloat) const;

 private:
  bool on_;
  Tensor value_;
};

/// An explicit weight as a layer stores it: a copy that keeps a float type (Flux keeps
/// the array's eltype); integers and Bool become Float32.
Tensor parameter_copy(const Tensor& w);

struct DenseOptions {
  bool bias = true;
  Init init = glorot_uniform;
};

/// Dense({in, out}, σ = identity, {.bias = true, .init = glorot_uniform})
/// Dense(W, bias = true, σ = identity)   with W of shape [out, in]
/// A fully connected layer on the last dimension: any number of leading batch
/// dimensions, `[..., in]` → `[..., out]`. `weight` is [out, in] as in Flux and torch.
/// Example: Dense({5, 2})(torch::rand({64, 5})) has shape [64, 2].
class DenseImpl : public LayerImpl {
 public:
  DenseImpl(InOut io, Activation activation = identity, DenseOptions options = {});
  DenseImpl(Tensor weight, Bias bias = true, Activation activation = identity);

  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;  // bias undefined when off
  Activation activation;
};

class Dense : public Holder<DenseImpl> {
 public:
  using Holder::Holder;
  Dense(InOut io, Activation activation = identity, DenseOptions options = {})
      : Holder(make(io, std::move(activation), std::move(options))) {}
  Dense(Tensor weight, Bias bias = true, Activation activation = identity)
      : Holder(make(std::move(weight), std::move(bias), std::move(activation))) {}
};

}  // namespace flux
