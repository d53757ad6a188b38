// scale.h — Scale (Flux 0.12's Diagonal): y = σ.(scale .* x .+ bias).
#pragma once

#include <flux/dense.h>

#include <vector>

namespace flux {

struct ScaleOptions {
  bool bias = true;
  Init init = ones32;
};

/// Scale(size, σ = identity, {.bias = true, .init = ones32}) — `size` in torch order,
/// aligned with the input's trailing dimensions by broadcasting.
/// Scale(scale, bias = true, σ = identity) with explicit arrays.
/// Example: Scale({3, 2}) on [4, 1, 2] gives [4, 3, 2] (Flux: Scale(2, 3) on (2, 1, 4)).
class ScaleImpl : public LayerImpl {
 public:
  ScaleImpl(std::vector<int64_t> size, Activation activation = identity, ScaleOptions options = {});
  ScaleImpl(Tensor scale, Bias bias = true, Activation activation = identity);

  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor scale, bias;
  Activation activation;
};

class Scale : public Holder<ScaleImpl> {
 public:
  using Holder::Holder;
  Scale(std::vector<int64_t> size, Activation activation = identity, ScaleOptions options = {})
      : Holder(make(std::move(size), std::move(activation), std::move(options))) {}
  Scale(int64_t size, Activation activation = identity, ScaleOptions options = {})
      : Holder(make(std::vector<int64_t>{size}, std::move(activation), std::move(options))) {}
  Scale(Tensor scale, Bias bias = true, Activation activation = identity)
      : Holder(make(std::move(scale), std::move(bias), std::move(activation))) {}
};

/// Flux 0.12's name for Scale.
using Diagonal = Scale;

}  // namespace flux
