// mixers.h — the MLP models: MLPMixer, ResMLP and gMLP (Metalhead's src/mixers).
//
//   metalhead::MLPMixer("base", {.nclasses = 10})                  // high level: timm's mixer_b16_224
//   metalhead::ResMLP("12", {.imsize = {64, 64}})                   // 16 patches instead of 196
//   metalhead::mlpmixer(block, {224, 224}, {.embedplanes = 384})    // mid level, any block builder
//
// All three are timm's MlpMixer, layer for layer, on Metalhead's Chain(backbone, classifier):
// backbone = Chain(PatchEmbedding, Chain(blocks...)), classifier = Chain(norm, seconddimmean,
// Dense). Where Metalhead differs from timm we follow timm:
//  - gelu is the exact (erf) form, timm's nn.GELU; Metalhead's is the tanh approximation.
//  - norms are torch's LayerNorm (LayerNormV2, eps inside the square root) with eps 1e-6,
//    and 1e-5 inside the spatial gating unit; Metalhead uses Flux's LayerNorm (eps 1e-5).
//  - ResMLP normalises with timm's Affine (a Scale of shape [1, 1, D]) everywhere, the head
//    included (Metalhead's head has a LayerNorm); the layer scale is 1e-4, 1e-5 or 1e-6 by depth.
//  - stochastic_depth_prob is the same for every block, as timm's drop_path_rate (Metalhead
//    ramps it up linearly).
//  - gMLP's "tiny", "small", "base" are the paper's and timm's gMLP-Ti/S/B (depth 30,
//    mlp_ratio 6); Metalhead reuses MLPMixer's sizes for gMLP.
// Input images must have the model's imsize: the token-mixing layers are sized by the
// number of patches.
#pragma once

#include <flux/activations.h>
#include <flux/chain.h>
#include <flux/skip_connection.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/layers/mlp.h>
#include <metalhead/model.h>

#include <array>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace metalhead {

/// torch_layer_norm(eps = 1e-5): the norm_layer making LayerNormV2(planes; eps), torch's
/// nn.LayerNorm, as timm's mixers use it.
layers::NormLayer torch_layer_norm(double eps = 1e-5);

/// affine(): ResMLP's "norm", timm's Affine: a learnable per-channel Scale of shape
/// [1, 1, planes] with bias, initialised to the identity.
layers::NormLayer affine();

/// An MLP for the blocks: (inplanes, hidden_planes, {.dropout_prob, .activation}) → the
/// Chain mapping [..., inplanes] to [..., inplanes]. Empty: layers::mlp_block.
using MlpLayer = std::function<flux::Chain(int64_t inplanes, int64_t hidden_planes, const layers::MlpOptions&)>;

struct MixerBlockOptions {
  MlpLayer mlp_layer = {};                         // empty: mlp_block
  std::array<double, 2> mlp_ratio = {0.5, 4.0};    // token-mixing, channel-mixing hidden planes / planes
  double dropout_prob = 0.0;                       // in the MLPs (timm's proj_drop_rate)
  double stochastic_depth_prob = 0.0;
  flux::Activation activation = flux::gelu_erf;
  layers::NormLayer norm_layer = torch_layer_norm(1e-6);
};

/// mixerblock(planes, npatches, {.mlp_layer = mlp_block, .mlp_ratio = {0.5, 4.0},
///            .dropout_prob = 0, .stochastic_depth_prob = 0, .activation = gelu_erf,
///            .norm_layer = torch_layer_norm(1e-6)})
/// MLP-Mixer's block on [N, npatches, planes] tokens: x + mlp_tokens(norm(x)ᵀ)ᵀ, mixing
/// across the patches with ⌊0.5·planes⌋ hidden planes, then x + mlp_channels(norm(x)) with
/// ⌊4·planes⌋; each residual branch ends in StochasticDepth. ([reference](https://arxiv.org/abs/2105.01601))
flux::Chain mixerblock(int64_t planes, int64_t npatches, const MixerBlockOptions& options = {});

struct ResMixerBlockOptions {
  MlpLayer mlp_layer = {};  // empty: mlp_block
  double mlp_ratio = 4.0;
  double layerscale_init = 1e-4;
  double dropout_prob = 0.0;
  double stochastic_depth_prob = 0.0;
  flux::Activation activation = flux::gelu_erf;
  layers::NormLayer norm_layer = affine();
};

/// resmixerblock(planes, npatches, {.mlp_layer = mlp_block, .mlp_ratio = 4, .layerscale_init = 1e-4,
///               .dropout_prob = 0, .stochastic_depth_prob = 0, .activation = gelu_erf,
///               .norm_layer = affine()})
/// ResMLP's block: x + ls₁ ⊙ Dense(npatches => npatches)(affine(x)ᵀ)ᵀ, then
/// x + ls₂ ⊙ mlp(affine(x)) with ⌊mlp_ratio·planes⌋ hidden planes; LayerScales start at
/// layerscale_init. ([reference](https://arxiv.org/abs/2105.03404))
flux::Chain resmixerblock(int64_t planes, int64_t npatches, const ResMixerBlockOptions& options = {});

/// A gated MLP for spatialgatingblock: (gate_layer, inplanes, hidden_planes, {...}), as
/// layers::gated_mlp_block (the default when empty).
using GatedMlpLayer = std::function<flux::Chain(const layers::GateLayer& gate_layer, int64_t inplanes,
                                                int64_t hidden_planes, const layers::MlpOptions&)>;

struct SpatialGatingBlockOptions {
  double mlp_ratio = 4.0;
  layers::NormLayer norm_layer = torch_layer_norm(1e-6);
  GatedMlpLayer mlp_layer = {};  // empty: gated_mlp_block
  double dropout_prob = 0.0;
  double stochastic_depth_prob = 0.0;
  flux::Activation activation = flux::gelu_erf;
  layers::NormLayer gate_norm_layer = torch_layer_norm(1e-5);  // in the SpatialGatingUnit
};

/// spatialgatingblock(planes, npatches, {.mlp_ratio = 4, .norm_layer = torch_layer_norm(1e-6),
///                    .mlp_layer = gated_mlp_block, .dropout_prob = 0, .stochastic_depth_prob = 0,
///                    .activation = gelu_erf, .gate_norm_layer = torch_layer_norm(1e-5)})
/// gMLP's block: x + gated_mlp(norm(x)) whose gate is a SpatialGatingUnit over the
/// npatches tokens, with ⌊mlp_ratio·planes⌋ (even) hidden planes. ([reference](https://arxiv.org/abs/2105.08050))
flux::SkipConnection spatialgatingblock(int64_t planes, int64_t npatches, const SpatialGatingBlockOptions& options = {});

/// A block builder for mlpmixer: (planes, npatches, stochastic_depth_prob) → one block,
/// with the family's other keywords captured (Metalhead's `block` and `kwargs...`).
using MixerBlockBuilder = std::function<flux::Layer(int64_t planes, int64_t npatches, double stochastic_depth_prob)>;

struct MixerOptions {
  layers::NormLayer norm_layer = torch_layer_norm(1e-6);  // the head's norm
  std::vector<int64_t> patch_size = {16, 16};
  int64_t embedplanes = 512;
  double stochastic_depth_prob = 0.0;  // every block's (timm's drop_path_rate)
  int64_t depth = 12;
  std::optional<double> head_dropout_prob;  // Dropout before the Dense (timm's drop_rate); nullopt: none
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// mlpmixer(block, imsize = {224, 224}, {.norm_layer = torch_layer_norm(1e-6), .patch_size = {16, 16},
///          .embedplanes = 512, .stochastic_depth_prob = 0, .depth = 12, .head_dropout_prob = nullopt,
///          .inchannels = 3, .nclasses = 1000})
/// Chain(Chain(PatchEmbedding(imsize), Chain(block(embedplanes, npatches, p) × depth)),
/// Chain(norm_layer(embedplanes), seconddimmean, [Dropout], Dense(embedplanes => nclasses))),
/// npatches = (H ÷ ph)·(W ÷ pw). imsize must be divisible by patch_size.
/// Example: mlpmixer(b, {64, 64}) maps [N, 3, 64, 64] to [N, 1000] through [N, 16, 512] tokens.
flux::Chain mlpmixer(const MixerBlockBuilder& block, std::vector<int64_t> imsize = {224, 224},
                     const MixerOptions& options = {});

/// The keywords of the high-level MLPMixer, ResMLP and gMLP.
struct MixerModelOptions {
  std::vector<int64_t> imsize = {224, 224};
  std::vector<int64_t> patch_size = {};  // empty: the configuration's (16, or 8 for ResMLP "big_24")
  bool pretrain = false;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// MLPMixer(config, {imsize = {224, 224}, patch_size = {16, 16}, pretrain, inchannels, nclasses})
/// config: "small" (depth 8, 512 planes), "base" (12, 768), "large" (24, 1024), "huge" (32, 1280).
/// With patch 16 or 32 at 224, small/base/large are timm's mixer_{s,b,l}{16,32}_224.
class MLPMixer : public Model {
 public:
  explicit MLPMixer(std::string_view config, const MixerModelOptions& options = {});
};

/// ResMLP(config, {imsize = {224, 224}, patch_size, pretrain, inchannels, nclasses})
/// config: timm's "12", "24", "36" (384 planes) and "big_24" (768 planes, patch 8), or
/// Metalhead's "small", "base", "large", "huge" (MLPMixer's sizes, layer scale 1e-4).
class ResMLP : public Model {
 public:
  explicit ResMLP(std::string_view config, const MixerModelOptions& options = {});
};

/// gMLP(config, {imsize = {224, 224}, patch_size = {16, 16}, pretrain, inchannels, nclasses})
/// config: "tiny" (128 planes), "small" (256), "base" (512); depth 30, mlp_ratio 6: timm's
/// gmlp_{ti,s,b}16_224.
class gMLP : public Model {
 public:
  explicit gMLP(std::string_view config, const MixerModelOptions& options = {});
};

}  // namespace metalhead
