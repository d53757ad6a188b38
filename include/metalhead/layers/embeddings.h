// embeddings.h — PatchEmbedding, ViPosEmbedding and ClassTokens for ViT-like models.
//
// Tokens are [N, T, D]: Julia's D × T × N batch in torch's order.
#pragma once

#include <flux/chain.h>
#include <flux/init.h>
#include <flux/layer.h>
#include <metalhead/layers/conv_norm.h>

#include <vector>

namespace metalhead::layers {

struct PatchEmbeddingOptions {
  int64_t inchannels = 3;
  std::vector<int64_t> patch_size = {16, 16};
  int64_t embedplanes = 768;
  NormLayer norm_layer = {};  // none
  bool flatten = true;        // [N, D, h, w] → [N, h·w, D]
};

/// PatchEmbedding(imsize = {224, 224}, {.inchannels = 3, .patch_size = {16, 16},
///                .embedplanes = 768, .norm_layer = none, .flatten = true})
/// Splits images into patches and embeds each: Chain(Conv(patch_size, inchannels =>
/// embedplanes; stride = patch_size), flatten_spatial, norm_layer(embedplanes)).
/// imsize must be divisible by patch_size.
/// Example: PatchEmbedding({224, 224}) maps [N, 3, 224, 224] to [N, 196, 768].
flux::Chain PatchEmbedding(std::vector<int64_t> imsize = {224, 224}, PatchEmbeddingOptions options = {});

/// flatten_spatial: [N, C, H, W] → [N, H·W, C], image to tokens.
flux::Layer flatten_spatial();

struct ViPosEmbeddingOptions {
  flux::Init init = flux::rand32;  // called with Flux's dims (embedsize, npatches)
  // The tokens' layout, for resampling weights of another image size on load: `prefix`
  // leading tokens (a class token), then a grid[0] × grid[1] grid, row-major. Empty: none
  // known, and no resampling.
  std::vector<int64_t> grid = {};
  int64_t prefix = 0;
};

/// ViPosEmbedding(embedsize, npatches, {.init = rand32})
/// A learnable positional embedding `vectors` of shape [npatches, embedsize] added to
/// [N, npatches, embedsize] tokens.
class ViPosEmbeddingImpl : public flux::LayerImpl {
 public:
  ViPosEmbeddingImpl(int64_t embedsize, int64_t npatches, ViPosEmbeddingOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor vectors;
  std::vector<int64_t> grid;
  int64_t prefix;
};

/// resample_pos_embed(vectors, grid, prefix): [prefix + h·w, D] position vectors of a
/// square h × h grid to [prefix + grid[0]·grid[1], D], as timm's resample_abs_pos_embed:
/// the grid resized bicubically (antialiased, align_corners false), the prefix kept.
/// Throws for a token count that is not prefix + a square.
Tensor resample_pos_embed(const Tensor& vectors, const std::vector<int64_t>& grid, int64_t prefix);

class ViPosEmbedding : public flux::Holder<ViPosEmbeddingImpl> {
 public:
  using Holder::Holder;
  ViPosEmbedding(int64_t embedsize, int64_t npatches, ViPosEmbeddingOptions options = {})
      : Holder(make(embedsize, npatches, std::move(options))) {}
};

struct ClassTokensOptions {
  flux::Init init = flux::zeros32;  // called with Flux's dims (planes, 1, 1)
};

/// ClassTokens(planes, {.init = zeros32})
/// Prepends a learnable class token [1, 1, planes] to every sequence: [N, T, planes] →
/// [N, T + 1, planes].
class ClassTokensImpl : public flux::LayerImpl {
 public:
  explicit ClassTokensImpl(int64_t planes, ClassTokensOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor token;
};

class ClassTokens : public flux::Holder<ClassTokensImpl> {
 public:
  using Holder::Holder;
  explicit ClassTokens(int64_t planes, ClassTokensOptions options = {}) : Holder(make(planes, std::move(options))) {}
};

}  // namespace metalhead::layers
