// swin.h — the Swin Transformer, V1 and V2, at Metalhead's three levels.
//
//   metalhead::SwinTransformer("tiny", {.nclasses = 10})             // high level
//   metalhead::swin_transformer("v2_small")                          // mid level
//   metalhead::build_swin_transformer(96, {2, 2, 6, 2}, {3, 6, 12, 24}, {...})  // low level
//
// The architectures are torchvision 0.14's swin_t, swin_s, swin_b (V1, 7 × 7 windows) and
// swin_v2_t, swin_v2_s, swin_v2_b (V2, 8 × 8 windows, trained at 256), whose weights load by
// their own names. The maps between layers are channels-last, [N, H, W, C], as torchvision's;
// any image size works: windows pad as torchvision pads. timm's swin_tiny_patch4_window7_224,
// swin_small_… and swin_base_… are aliases of the V1 rows. timm's swinv2_*_window8_256 are
// not: they keep the key's zero bias as a buffer, not a parameter, and name it apart.
#pragma once

#include <flux/chain.h>
#include <flux/layer.h>
#include <metalhead/model.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace metalhead {

struct SwinBlockOptions {
  std::array<int64_t, 2> shift = {0, 0};
  double mlp_ratio = 4.0;
  double dropout_prob = 0.0;       // after the MLP's layers and the attention's projection
  double attn_dropout_prob = 0.0;  // on the attention weights
  double stochastic_depth_prob = 0.0;
  bool v2 = false;                 // res-post-norm and scaled cosine attention
};

/// swin_block(planes, nheads, window, {.shift, .mlp_ratio = 4, .dropout_prob, .attn_dropout_prob,
///            .stochastic_depth_prob, .v2 = false})
/// One Swin block on [N, H, W, planes]: x + SD(WindowAttention(LayerNorm(x))), then
/// x + SD(MLP(LayerNorm(x))), with the MLP Dense(planes => mlp_ratio·planes, gelu_erf),
/// Dense(=> planes). V2 normalises after each branch instead: x + SD(LayerNorm(f(x))).
/// LayerNorms have eps 1e-5; SD is StochasticDepth("row").
/// Example: swin_block(96, 3, {7, 7}, {.shift = {3, 3}}) keeps [N, 56, 56, 96].
flux::Layer swin_block(int64_t planes, int64_t nheads, std::array<int64_t, 2> window, SwinBlockOptions options = {});

struct SwinTransformerOptions {
  std::array<int64_t, 2> patch_size = {4, 4};
  std::array<int64_t, 2> window = {7, 7};
  double mlp_ratio = 4.0;
  double dropout_prob = 0.0;
  double attn_dropout_prob = 0.0;
  /// The last block's rate; the others' grow linearly from 0 at the first (torchvision's
  /// p·i / (n − 1)). nullopt: the configuration's (0 in build_swin_transformer).
  std::optional<double> stochastic_depth_prob;
  bool v2 = false;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// build_swin_transformer(embed_planes, depths, nheads, {.patch_size = {4, 4}, .window = {7, 7}, ...})
/// Chain(backbone, classifier). The backbone is torchvision's `features`: the patch
/// embedding Chain(Conv(patch_size, stride patch_size, inchannels => embed_planes), to
/// channels-last, LayerNorm), then for every stage a Chain of depths[i] swin_blocks of
/// embed_planes·2^i planes (the odd ones shifted by half a window), with a PatchMerging
/// between stages (V2's normalises after its reduction). The classifier: LayerNorm,
/// back to channels-first, AdaptiveMeanPool(1, 1), flatten, Dense(=> nclasses).
/// Example: build_swin_transformer(96, {2, 2, 6, 2}, {3, 6, 12, 24}) maps [N, 3, 224, 224]
/// to [N, 1000].
flux::Chain build_swin_transformer(int64_t embed_planes, const std::vector<int64_t>& depths,
                                   const std::vector<int64_t>& nheads, const SwinTransformerOptions& options = {});

/// swin_transformer(config, {...}): "tiny", "small", "base" (V1, window 7) or "v2_tiny",
/// "v2_small", "v2_base" (V2, window 8), with torchvision's default stochastic depth
/// (0.2, 0.3, 0.5); the options' v2 and window are the configuration's.
flux::Chain swin_transformer(const std::string& config, SwinTransformerOptions options = {});

/// SwinTransformer(config, {inchannels, nclasses, pretrain, drop_path_rate}): swin_t,
/// swin_s, swin_b, swin_v2_t, swin_v2_s or swin_v2_b.
class SwinTransformer : public Model {
 public:
  explicit SwinTransformer(const std::string& config, const ModelOptions& options = {});
};

}  // namespace metalhead
