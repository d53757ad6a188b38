// window_attention.h — the Swin Transformer's layers: WindowAttention (shifted windows,
// a relative position bias, or Swin V2's scaled cosine attention with a continuous
// position bias) and PatchMerging.
//
// Both take channels-last maps [N, H, W, C], as torchvision's Swin does.
#pragma once

#include <flux/chain.h>
#include <flux/dense.h>
#include <flux/layer.h>
#include <metalhead/layers/normalise.h>

#include <array>

namespace metalhead::layers {

using flux::Tensor;

/// relative_position_index(window): the [T, T] rows (T = wh·ww) of a relative position
/// bias table for tokens i and j of a window: their offset (Δh, Δw), shifted to start at
/// 0, in row-major order over the (2wh − 1) × (2ww − 1) offsets (Swin's and MaxViT's).
Tensor relative_position_index(std::array<int64_t, 2> window);

/// relative_position_bias(table, index): [nheads, T, T] from a [T, T] index: for tokens
/// i and j, row index[i, j] of the [rows, nheads] table. Contiguous: a strided constant
/// would make every add of it slow.
Tensor relative_position_bias(const Tensor& table, const Tensor& index);

struct WindowAttentionOptions {
  std::array<int64_t, 2> shift = {0, 0};  // the cyclic shift (Swin's odd blocks: half the window)
  bool cosine = false;                    // Swin V2: scaled cosine attention and a continuous position bias
  bool qkv_bias = true;
  double attn_dropout_prob = 0.0;
  double proj_dropout_prob = 0.0;
};

/// WindowAttention(planes, nheads, window, {.shift = {0, 0}, .cosine = false, .qkv_bias = true,
///                 .attn_dropout_prob = 0, .proj_dropout_prob = 0})
/// Multi-head self-attention within non-overlapping window[0] × window[1] windows of an
/// [N, H, W, planes] map (Liu et al., "Swin Transformer", https://arxiv.org/abs/2103.14030).
/// The map is padded at the bottom and right to whole windows and, with a shift, rolled
/// up and left by it first (and back after), where a mask of −100 keeps tokens from
/// attending across the seams of the roll; a shift is dropped along a side that one window
/// covers. Each head adds a learned bias per relative position (a table of
/// (2·wh − 1)(2·ww − 1) rows, `relative_position_bias_table`) to q·kᵀ/√d.
/// With `cosine` (Swin V2, https://arxiv.org/abs/2111.09883): cos(q, k) times a learned
/// per-head scale exp(min(logit_scale, log 100)), and a bias 16·σ(MLP(coordinates)) from a
/// 2 => 512 => nheads MLP (`cpb_mlp`) of the log-spaced relative coordinates
/// sign(t)·log2(1 + |t|)/3, t = 8·Δ/(window − 1); the key's part of the qkv bias is 0.
/// Example: WindowAttention(96, 3, {7, 7}, {.shift = {3, 3}}) keeps [N, 56, 56, 96].
class WindowAttentionImpl : public flux::LayerImpl {
 public:
  WindowAttentionImpl(int64_t planes, int64_t nheads, std::array<int64_t, 2> window, WindowAttentionOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::vector<flux::ShowItem> show_items() const override;
  std::string show_name() const override { return "WindowAttention"; }
  void pretty_print(std::ostream& os) const override;
  /// [nheads, T, T] for T = wh·ww: the bias each head adds to its attention logits.
  Tensor relative_position_bias();

  int64_t planes, nheads;
  std::array<int64_t, 2> window;
  WindowAttentionOptions options;
  flux::Dense qkv{nullptr}, proj{nullptr};
  Tensor relative_position_bias_table;  // V1: [(2wh − 1)(2ww − 1), nheads]
  Tensor relative_position_index;       // [T·T] rows of the table (a buffer)
  Tensor logit_scale;                   // V2: [nheads, 1, 1], log 10 at first
  Tensor relative_coords_table;         // V2: [1, 2wh − 1, 2ww − 1, 2] (a buffer)
  flux::Chain cpb_mlp{nullptr};         // V2

 private:
  Tensor mask(int64_t h, int64_t w, std::array<int64_t, 2> shift) const;
};

class WindowAttention : public flux::Holder<WindowAttentionImpl> {
 public:
  using Holder::Holder;
  WindowAttention(int64_t planes, int64_t nheads, std::array<int64_t, 2> window, WindowAttentionOptions options = {})
      : Holder(make(planes, nheads, window, options)) {}
};

struct PatchMergingOptions {
  bool postnorm = false;  // Swin V2: the LayerNorm after the reduction, on 2·planes
  double eps = 1e-5;
};

/// PatchMerging(planes, {.postnorm = false, .eps = 1e-5})
/// Swin's downsampling of [N, H, W, planes] to [N, ⌈H/2⌉, ⌈W/2⌉, 2·planes]: an odd side is
/// padded by one, each 2×2 patch's four tokens are concatenated (top-left, bottom-left,
/// top-right, bottom-right), then a LayerNorm(4·planes) and a bias-free Dense(4·planes =>
/// 2·planes) (`reduction`); with `postnorm` the Dense comes first and the LayerNorm is on
/// 2·planes.
/// Example: PatchMerging(96) maps [N, 56, 56, 96] to [N, 28, 28, 192].
class PatchMergingImpl : public flux::LayerImpl {
 public:
  explicit PatchMergingImpl(int64_t planes, PatchMergingOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::vector<flux::ShowItem> show_items() const override;
  std::string show_name() const override { return "PatchMerging"; }
  void pretty_print(std::ostream& os) const override;

  int64_t planes;
  bool postnorm;
  LayerNormV2 norm{nullptr};
  flux::Dense reduction{nullptr};
};

class PatchMerging : public flux::Holder<PatchMergingImpl> {
 public:
  using Holder::Holder;
  explicit PatchMerging(int64_t planes, PatchMergingOptions options = {}) : Holder(make(planes, options)) {}
};

}  // namespace metalhead::layers
