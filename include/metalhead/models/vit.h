// vit.h — the Vision Transformer (Metalhead's ViT) at Metalhead's three levels.
//
//   metalhead::ViT("base", {.nclasses = 10})                               // high level
//   metalhead::vit({32, 32}, {.patch_size = {8, 8}, .embedplanes = 192})    // mid level
//   metalhead::transformer_encoder(768, 12, 12)                            // low level
//
// Architectures equal torchvision's VisionTransformer (vit_b_16 ... vit_h_14) and timm's
// (tiny, small, giant, gigantic): a strided-conv patch embedding, a class token, a learnt
// position embedding over 1 + npatches tokens, pre-norm encoder blocks (LayerNorm eps 1e-6,
// torch's (x - μ) / √(σ² + eps); attention with a biased qkv; an MLP with exact, erf GELU),
// a final LayerNorm and a Dense head. Where Metalhead differs we follow them: Metalhead's
// Flux LayerNorm (eps 1e-5 outside the root) and tanh GELU are replaced, and the `mean`
// pool averages the patch tokens only, as timm's `global_pool='avg'` (Metalhead includes
// the class token). The final LayerNorm sits after the pool, as Metalhead and timm's
// fc_norm put it; on the class token that equals torchvision's norm-then-select.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

#include <optional>
#include <string>
#include <vector>

namespace metalhead {

/// How ViT turns tokens into one feature vector: the class token (Metalhead's `:class`)
/// or the mean of the patch tokens (`:mean`).
enum class TokenPool { class_token, mean };

struct TransformerEncoderOptions {
  double mlp_ratio = 4.0;                   // MLP hidden planes: ⌊mlp_ratio · planes⌋
  double dropout_prob = 0.0;                // after the attention projection and in the MLP
  std::optional<double> attn_dropout_prob;  // on the attention weights; default dropout_prob (Metalhead)
  bool qkv_bias = true;
};

/// transformer_encoder(planes, depth, nheads, {.mlp_ratio = 4, .dropout_prob = 0,
///                     .attn_dropout_prob = dropout_prob, .qkv_bias = true})
/// `depth` pre-norm blocks on [N, T, planes] tokens, each Chain(SkipConnection(prenorm(
/// MultiHeadSelfAttention), +), SkipConnection(prenorm(mlp_block), +)) with LayerNorm(eps 1e-6).
/// Example: transformer_encoder(64, 2, 4) maps [2, 17, 64] to [2, 17, 64].
flux::Chain transformer_encoder(int64_t planes, int64_t depth, int64_t nheads,
                                const TransformerEncoderOptions& options = {});

/// token_pool(pool): the layer that pools [N, T, D] tokens to [N, D]: token 0 for
/// class_token, the mean of tokens 1..T-1 for mean.
flux::Layer token_pool(TokenPool pool);

struct ViTOptions {
  int64_t inchannels = 3;
  std::vector<int64_t> patch_size = {16, 16};  // one value: square
  int64_t embedplanes = 768;
  int64_t depth = 6;
  int64_t nheads = 16;
  double mlp_ratio = 4.0;
  double dropout_prob = 0.1;
  std::optional<double> attn_dropout_prob;  // default dropout_prob (Metalhead); torchvision's attention_dropout
  double emb_dropout_prob = 0.1;
  TokenPool pool = TokenPool::class_token;
  int64_t nclasses = 1000;
  bool qkv_bias = true;
};

/// vit(imsize = {256, 256}, {.inchannels = 3, .patch_size = {16, 16}, .embedplanes = 768,
///     .depth = 6, .nheads = 16, .mlp_ratio = 4, .dropout_prob = 0.1, .attn_dropout_prob,
///     .emb_dropout_prob = 0.1, .pool = class_token, .nclasses = 1000, .qkv_bias = true})
/// Chain(backbone: PatchEmbedding, ClassTokens, ViPosEmbedding, Dropout, transformer_encoder,
/// token_pool; classifier: LayerNorm(eps 1e-6), Dense(embedplanes => nclasses)). imsize
/// (one value: square) must be divisible by patch_size. The backbone gives [N, embedplanes].
/// Example: vit({32, 32}, {.patch_size = {8, 8}, .embedplanes = 64, .nheads = 4}) maps
/// [N, 3, 32, 32] to [N, 1000].
flux::Chain vit(std::vector<int64_t> imsize = {256, 256}, const ViTOptions& options = {});

struct ViTModelOptions {
  std::vector<int64_t> imsize = {224, 224};    // one value: square
  std::vector<int64_t> patch_size = {16, 16};  // one value: square
  TokenPool pool = TokenPool::class_token;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;
};

/// ViT(config = "base", {.imsize = {224, 224}, .patch_size = {16, 16}, .pool = class_token,
///     .inchannels = 3, .nclasses = 1000, .pretrain = false})
/// config is one of "tiny", "small", "base", "large", "huge", "giant", "gigantic" (embedding
/// planes 192 ... 1664, as timm). No dropout, as torchvision's and timm's builders
/// (Metalhead's keeps vit's 0.1). ViT("base") is torchvision's vit_b_16.
class ViT : public Model {
 public:
  explicit ViT(const std::string& config = "base", const ViTModelOptions& options = {});
};

}  // namespace metalhead
