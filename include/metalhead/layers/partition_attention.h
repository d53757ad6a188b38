// partition_attention.h — MaxViT's multi-axis attention: RelativePositionAttention over
// partitioned tokens, and PartitionAttention, its block ("window") and grid attention
// (Tu et al., "MaxViT: Multi-Axis Vision Transformer", https://arxiv.org/abs/2204.01697).
#pragma once

#include <flux/chain.h>
#include <flux/dense.h>
#include <flux/layer.h>

#include <string>

namespace metalhead::layers {

using flux::Tensor;

/// RelativePositionAttention(planes, head_dim, partition)
/// Self-attention within each group of [N, G, P, planes] tokens (P = partition², a
/// partition × partition patch), planes / head_dim heads: q, k, v from one Dense(planes =>
/// 3·planes) (`to_qkv`), softmax(q·kᵀ·planes^−½ + bias), the heads merged by
/// Dense(planes => planes) (`merge`). The bias is a learned table per relative position
/// ((2·partition − 1)² rows, `relative_position_bias_table`), as Swin's. The scale is
/// torchvision's: planes^−½, not head_dim^−½.
/// Example: RelativePositionAttention(64, 32, 7) keeps [N, 64, 49, 64].
class RelativePositionAttentionImpl : public flux::LayerImpl {
 public:
  RelativePositionAttentionImpl(int64_t planes, int64_t head_dim, int64_t partition);
  Tensor forward(const Tensor& x) override;
  std::vector<flux::ShowItem> show_items() const override;
  std::string show_name() const override { return "RelativePositionAttention"; }
  void pretty_print(std::ostream& os) const override;

  int64_t planes, nheads, partition;
  flux::Dense to_qkv{nullptr}, merge{nullptr};
  Tensor relative_position_bias_table;  // [(2p − 1)², nheads]
  Tensor relative_position_index;       // [p², p²] rows of the table (a buffer)
};

class RelativePositionAttention : public flux::Holder<RelativePositionAttentionImpl> {
 public:
  using Holder::Holder;
  RelativePositionAttention(int64_t planes, int64_t head_dim, int64_t partition)
      : Holder(make(planes, head_dim, partition)) {}
};

struct PartitionAttentionOptions {
  int64_t mlp_ratio = 4;
  double attn_dropout_prob = 0.0;  // after the attention
  double mlp_dropout_prob = 0.0;   // after the MLP
  double stochastic_depth_prob = 0.0;
};

/// PartitionAttention(planes, head_dim, partition, kind, {.mlp_ratio = 4, .attn_dropout_prob,
///                    .mlp_dropout_prob, .stochastic_depth_prob})
/// One of MaxViT's two attentions on [N, planes, H, W]: the map is cut into groups of
/// partition² tokens, x + SD(attention(LayerNorm(x))) and x + SD(MLP(LayerNorm(x))) run on
/// them, and the map is put back. `kind` "window" groups each partition × partition block
/// of neighbours (block attention); "grid" groups the tokens H/partition apart, a
/// partition × partition grid spread over the whole map (grid attention). The MLP is
/// Dense(planes => mlp_ratio·planes, gelu_erf), Dense(=> planes), Dropout; LayerNorms have
/// eps 1e-5. H and W must be multiples of partition (and of H/partition for "grid").
/// Example: PartitionAttention(64, 32, 7, "grid") keeps [N, 64, 56, 56].
class PartitionAttentionImpl : public flux::LayerImpl {
 public:
  PartitionAttentionImpl(int64_t planes, int64_t head_dim, int64_t partition, std::string kind,
                         PartitionAttentionOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::vector<flux::ShowItem> show_items() const override;
  std::string show_name() const override { return "PartitionAttention"; }
  void pretty_print(std::ostream& os) const override;

  int64_t planes, partition;
  std::string kind;
  flux::Chain attn_layer{nullptr};  // LayerNorm, RelativePositionAttention, Dropout
  flux::Chain mlp_layer{nullptr};   // LayerNorm, Dense, Dense, Dropout
  flux::Layer stochastic_depth;
};

class PartitionAttention : public flux::Holder<PartitionAttentionImpl> {
 public:
  using Holder::Holder;
  PartitionAttention(int64_t planes, int64_t head_dim, int64_t partition, std::string kind,
                     PartitionAttentionOptions options = {})
      : Holder(make(planes, head_dim, partition, std::move(kind), options)) {}
};

}  // namespace metalhead::layers
