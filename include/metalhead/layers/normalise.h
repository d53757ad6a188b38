// normalise.h — LayerNormV2, ChannelLayerNorm, prenorm and postnorm.
#pragma once

#include <flux/activations.h>
#include <flux/layer.h>
#include <metalhead/layers/conv_norm.h>

#include <vector>

namespace metalhead::layers {

struct LayerNormV2Options {
  bool affine = true;
  double eps = 1e-5;
};

/// LayerNormV2(size, λ = identity, {.affine = true, .eps = 1e-5})
/// Flux's LayerNorm with eps inside the square root, (x - μ) / √(σ² + eps), so it equals
/// torch's layer_norm. Normalises over the trailing dimensions `size` (torch order), then
/// the elementwise `weight`, `bias` of shape `size` when affine, then λ.
/// Example: LayerNormV2(768) on [N, 197, 768] tokens.
class LayerNormV2Impl : public flux::LayerImpl {
 public:
  LayerNormV2Impl(std::vector<int64_t> size, flux::Activation activation = flux::identity,
                  LayerNormV2Options options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;  // undefined without affine
  flux::Activation activation;
  std::vector<int64_t> size;
  double eps;
};

class LayerNormV2 : public flux::Holder<LayerNormV2Impl> {
 public:
  using Holder::Holder;
  LayerNormV2(std::vector<int64_t> size, flux::Activation activation = flux::identity, LayerNormV2Options options = {})
      : Holder(make(std::move(size), std::move(activation), options)) {}
  LayerNormV2(int64_t size, flux::Activation activation = flux::identity, LayerNormV2Options options = {})
      : Holder(make(std::vector<int64_t>{size}, std::move(activation), options)) {}
};

struct ChannelLayerNormOptions {
  double eps = 1e-6;
};

/// ChannelLayerNorm(channels, λ = identity, {.eps = 1e-6})
/// LayerNorm over the channel dimension of an [N, C, H, W] batch, with Flux's
/// (x - μ) / (σ + eps), then a learnable per-channel scale `weight` and shift `bias`
/// and λ (Metalhead's `Scale(1, 1, C, λ)`). Used by ConvNeXt.
class ChannelLayerNormImpl : public flux::LayerImpl {
 public:
  explicit ChannelLayerNormImpl(int64_t channels, flux::Activation activation = flux::identity,
                                ChannelLayerNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;  // [C]
  flux::Activation activation;
  int64_t channels;
  double eps;
};

class ChannelLayerNorm : public flux::Holder<ChannelLayerNormImpl> {
 public:
  using Holder::Holder;
  ChannelLayerNorm(int64_t channels, flux::Activation activation = flux::identity,
                   ChannelLayerNormOptions options = {})
      : Holder(make(channels, std::move(activation), options)) {}
};

/// prenorm(planes, block, norm_layer = layer_norm()): Chain(norm_layer(planes), block),
/// normalisation before a block as in ViT's encoder.
flux::Layer prenorm(int64_t planes, flux::Layer block, NormLayer norm_layer = layer_norm());

/// postnorm(planes, block, norm_layer = layer_norm()): Chain(block, norm_layer(planes)),
/// normalisation after a block inside its residual branch, x + norm(f(x)): Swin V2's
/// res-post-norm (https://arxiv.org/abs/2111.09883).
flux::Layer postnorm(int64_t planes, flux::Layer block, NormLayer norm_layer = layer_norm());

}  // namespace metalhead::layers
