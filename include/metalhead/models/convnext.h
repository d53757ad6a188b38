// convnext.h — ConvNeXt (Metalhead's `convnext`), at Metalhead's three levels.
//
//   metalhead::ConvNeXt("tiny", {.nclasses = 10})                        // high level
//   metalhead::convnext("base", {.stochastic_depth_prob = 0.2})          // mid level
//   metalhead::build_convnext({3, 3, 9, 3}, {96, 192, 384, 768}, {...})  // low level
//
// Architectures equal torchvision 0.14's convnext_tiny/small/base/large and timm's
// convnext_xlarge. Where Metalhead differs, we follow torchvision/timm:
// - every LayerNorm puts eps = 1e-6 inside the square root (torch's layer_norm), the head's
//   too; Metalhead's ChannelLayerNorm and Flux LayerNorm use (x - μ) / (σ + eps) and its
//   head norm has eps = 1e-5;
// - the MLP's GELU is the exact (erf) one, not NNlib's tanh form;
// - the head is pool, LayerNorm2d, flatten, Dense (Metalhead flattens before its LayerNorm,
//   the same function);
// - stochastic depth grows linearly from 0 at the first block to stochastic_depth_prob at
//   the last (p·i / (n - 1)); Metalhead's linear_scheduler stops one step short (p·i / n). The
//   default rate is torchvision's builder's (0.1 tiny, 0.4 small, 0.5 base and large), timm's
//   0 for xlarge; Metalhead's is 0;
// - the layer scale is torchvision's [C, 1, 1] parameter for the torchvision models, timm's
//   (and Metalhead's) [C] for xlarge, so that either's weights load as they are.
#pragma once

#include <flux/chain.h>
#include <flux/layer.h>
#include <metalhead/model.h>

#include <optional>
#include <string>
#include <vector>

namespace metalhead {

struct LayerNorm2dOptions {
  double eps = 1e-6;
};

/// LayerNorm2d(channels, {.eps = 1e-6})
/// torch's layer norm over the channels of an [N, C, H, W] batch, (x - μ) / √(σ² + eps),
/// then a per-channel `weight` and `bias` [C]: torchvision's and timm's LayerNorm2d.
/// (layers::ChannelLayerNorm is Metalhead's, with eps outside the square root.)
/// Example: LayerNorm2d(96) keeps [N, 96, 56, 56].
class LayerNorm2dImpl : public flux::LayerImpl {
 public:
  explicit LayerNorm2dImpl(int64_t channels, LayerNorm2dOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;  // [C]
  int64_t channels;
  double eps;
};

class LayerNorm2d : public flux::Holder<LayerNorm2dImpl> {
 public:
  using Holder::Holder;
  explicit LayerNorm2d(int64_t channels, LayerNorm2dOptions options = {}) : Holder(make(channels, options)) {}
};

/// Where a block's layer scale sits, so that the reference weights load unchanged:
/// torchvision's [C, 1, 1] on the NCHW output, or timm's (and Metalhead's) [C] on the
/// channels-last activations. Both compute the same function.
enum class LayerScaleLayout { torchvision, timm };

/// convnextblock(planes, stochastic_depth_prob = 0.0, layerscale_init = 1e-6,
///               layout = LayerScaleLayout::torchvision)
/// One ConvNeXt block, x + StochasticDepth(γ · f(x)) with f: a 7×7 depthwise Conv (biased),
/// permute to [N, H, W, C], LayerNormV2(planes, eps 1e-6), Dense(planes => 4·planes, gelu_erf),
/// Dense(4·planes => planes), permute back. γ is a layer scale initialised to
/// layerscale_init (none when it is ≤ 0, as Metalhead's LayerScale).
/// Example: convnextblock(96) keeps [N, 96, H, W].
flux::Layer convnextblock(int64_t planes, double stochastic_depth_prob = 0.0, double layerscale_init = 1e-6,
                          LayerScaleLayout layout = LayerScaleLayout::torchvision);

struct ConvNeXtOptions {
  std::optional<double> stochastic_depth_prob;  // the last block's rate; nullopt: the configuration's (0 in build_convnext)
  double layerscale_init = 1e-6;
  LayerScaleLayout layout = LayerScaleLayout::torchvision;  // convnext(config) takes the configuration's
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// build_convnext(depths, planes, {.stochastic_depth_prob = 0, .layerscale_init = 1e-6, .layout,
///                .inchannels = 3, .nclasses = 1000})
/// Chain(backbone, classifier). The backbone is torchvision's `features`: the stem
/// Chain(Conv(4×4/4, inchannels => planes[0]), LayerNorm2d), then for every stage a Chain of
/// depths[i] blocks, with a downsampling Chain(LayerNorm2d, Conv(2×2/2)) between stages. The
/// classifier: AdaptiveMeanPool(1, 1), LayerNorm2d, flatten, Dense(planes[end] => nclasses).
/// Example: build_convnext({3, 3, 9, 3}, {96, 192, 384, 768}) maps [N, 3, 224, 224] to [N, 1000].
flux::Chain build_convnext(const std::vector<int64_t>& depths, const std::vector<int64_t>& planes,
                           const ConvNeXtOptions& options = {});

/// convnext(config, {...}): build_convnext with the depths, planes, layer scale layout and
/// default stochastic depth of "tiny", "small", "base", "large" or "xlarge".
flux::Chain convnext(const std::string& config, ConvNeXtOptions options = {});

/// ConvNeXt(config, {inchannels, nclasses, pretrain}): "tiny", "small", "base", "large"
/// (torchvision's convnext_*) or "xlarge" (timm's convnext_xlarge).
class ConvNeXt : public Model {
 public:
  explicit ConvNeXt(const std::string& config, const ModelOptions& options = {});
};

}  // namespace metalhead
