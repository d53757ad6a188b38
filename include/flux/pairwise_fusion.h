// pairwise_fusion.h — PairwiseFusion: each layer's output joined with the next input.
#pragma once

#include <flux/parallel.h>

namespace flux {

/// PairwiseFusion(connection, layers...):
///   y₀ = layer₀(x₀),  yᵢ = layerᵢ(connection(yᵢ₋₁, xᵢ))
/// with one input used as every xᵢ, or one input per layer. `m.outputs(...)` gives every
/// yᵢ (Flux's tuple). Where we differ: `m(x)`, the layer's forward (so that it can sit in
/// a Chain), gives the last output only, as a layer here returns one tensor.
class PairwiseFusionImpl : public BranchesImpl {
 public:
  PairwiseFusionImpl(Connection connection, std::vector<Layer> layers)
      : BranchesImpl("PairwiseFusion", std::move(connection), std::move(layers)) {}
  PairwiseFusionImpl(Connection connection, NamedLayers layers)
      : BranchesImpl("PairwiseFusion", std::move(connection), std::move(layers)) {}

  std::vector<Tensor> outputs(const std::vector<Tensor>& xs);
  Tensor forward(const Tensor& x) override { return forward_multi({x}); }
  Tensor forward_multi(const std::vector<Tensor>& xs) override;
};

class PairwiseFusion : public Holder<PairwiseFusionImpl> {
 public:
  using Holder::Holder;
  template <class... Ls>
    requires(detail::LayerArg<Ls> && ...)
  PairwiseFusion(Connection connection, Ls&&... layers)
      : Holder(make(std::move(connection), detail::collect_layers(std::forward<Ls>(layers)...))) {}
  PairwiseFusion(Connection connection, NamedLayers layers) : Holder(make(std::move(connection), std::move(layers))) {}

  template <class... Ts>
  std::vector<Tensor> outputs(const Tensor& x, const Ts&... rest) const {
    return this->ptr()->outputs({x, rest...});
  }
  std::vector<Tensor> outputs(const std::vector<Tensor>& xs) const { return this->ptr()->outputs(xs); }
  size_t size() const { return this->ptr()->size(); }
};

}  // namespace flux
