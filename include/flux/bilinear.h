// bilinear.h — Bilinear: z[o] = σ(xᵀ W[o] y + b[o]).
#pragma once

#include <flux/dense.h>

namespace flux {

/// `(in1, in2) => out`.
struct Bilinear2 {
  int64_t in1;
  int64_t in2;
  int64_t out;
};

/// Bilinear({in1, in2, out}, σ = identity, {.bias, .init}), Bilinear({in, out}) for in1 == in2,
/// Bilinear(W, bias = true, σ = identity) with W of shape [out, in1, in2].
/// `B(x, y)` on `[N, in1]`, `[N, in2]` gives `[N, out]`; `B(x) == B(x, x)`; a vector
/// `{x, y}` is the tuple form, so Bilinear can be a SkipConnection's connection.
class BilinearImpl : public LayerImpl {
 public:
  BilinearImpl(Bilinear2 sizes, Activation activation = identity, DenseOptions options = {});
  BilinearImpl(Tensor weight, Bias bias = true, Activation activation = identity);

  Tensor forward(const Tensor& x) override;
  Tensor forward_multi(const std::vector<Tensor>& xs) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;
  Activation activation;
};

class Bilinear : public Holder<BilinearImpl> {
 public:
  using Holder::Holder;
  Bilinear(Bilinear2 sizes, Activation activation = identity, DenseOptions options = {})
      : Holder(make(sizes, std::move(activation), std::move(options))) {}
  Bilinear(InOut io, Activation activation = identity, DenseOptions options = {})
      : Holder(make(Bilinear2{io.in, io.in, io.out}, std::move(activation), std::move(options))) {}
  Bilinear(Tensor weight, Bias bias = true, Activation activation = identity)
      : Holder(make(std::move(weight), std::move(bias), std::move(activation))) {}
  Tensor operator()(const Tensor& x) const { return this->ptr()->forward(x); }
  Tensor operator()(const Tensor& x, const Tensor& y) const { return this->ptr()->forward_multi({x, y}); }
  Tensor operator()(const std::vector<Tensor>& xy) const { return this->ptr()->forward_multi(xy); }
};

}  // namespace flux
