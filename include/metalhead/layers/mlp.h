// mlp.h — feed-forward blocks: mlp_block, gated_mlp_block and SpatialGatingUnit.
//
// Tokens are [N, T, D] (Julia's D × T × N); Dense acts on the last dimension.
#pragma once

#include <flux/activations.h>
#include <flux/chain.h>
#include <flux/dense.h>
#include <flux/layer.h>
#include <metalhead/layers/conv_norm.h>

#include <functional>

namespace metalhead::layers {

struct MlpOptions {
  double dropout_prob = 0.0;
  flux::Activation activation = flux::gelu;
};

/// mlp_block(inplanes, hidden_planes, outplanes = inplanes, {.dropout_prob = 0, .activation = gelu})
/// Chain(Dense(inplanes => hidden_planes, activation), Dropout(p), Dense(hidden_planes =>
/// outplanes), Dropout(p)): the feed-forward block of MLPMixer and ViT.
flux::Chain mlp_block(int64_t inplanes, int64_t hidden_planes, int64_t outplanes, MlpOptions options = {});
flux::Chain mlp_block(int64_t inplanes, int64_t hidden_planes, MlpOptions options = {});

/// A gate layer for gated_mlp_block: a callable of the hidden planes. Empty: none.
using GateLayer = std::function<flux::Layer(int64_t planes)>;

/// gated_mlp_block(gate_layer, inplanes, hidden_planes, outplanes = inplanes, {.dropout_prob, .activation})
/// gMLP's block: Chain(Dense(inplanes => hidden_planes, activation), Dropout(p),
/// gate_layer(hidden_planes), Dense(hidden_planes ÷ 2 => outplanes), Dropout(p)); the
/// gate halves the planes. An empty gate_layer gives mlp_block. hidden_planes must be even.
flux::Chain gated_mlp_block(const GateLayer& gate_layer, int64_t inplanes, int64_t hidden_planes, int64_t outplanes,
                            MlpOptions options = {});
flux::Chain gated_mlp_block(const GateLayer& gate_layer, int64_t inplanes, int64_t hidden_planes,
                            MlpOptions options = {});

struct SpatialGatingUnitOptions {
  NormLayer norm_layer = layer_norm();
};

/// SpatialGatingUnit(planes, npatches, {.norm_layer = layer_norm()})
/// gMLP's gate on [N, npatches, planes] tokens: split the planes into halves u and v,
/// normalise v, mix it across the patches with a Dense(npatches => npatches) (weights
/// near zero, bias one, so the unit starts as u .* v), and return u .* v:
/// [N, npatches, planes ÷ 2]. ([reference](https://arxiv.org/abs/2105.08050))
class SpatialGatingUnitImpl : public flux::LayerImpl {
 public:
  SpatialGatingUnitImpl(int64_t planes, int64_t npatches, SpatialGatingUnitOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::vector<flux::ShowItem> show_items() const override;
  std::string show_name() const override { return "SpatialGatingUnit"; }
  void pretty_print(std::ostream& os) const override;

  flux::Layer norm;
  flux::Dense proj{nullptr};
  int64_t planes, npatches;
};

class SpatialGatingUnit : public flux::Holder<SpatialGatingUnitImpl> {
 public:
  using Holder::Holder;
  SpatialGatingUnit(int64_t planes, int64_t npatches, SpatialGatingUnitOptions options = {})
      : Holder(make(planes, npatches, std::move(options))) {}
};

}  // namespace metalhead::layers
