// attention.h — MultiHeadSelfAttention (Metalhead 0.7's MHAttention).
#pragma once

#include <flux/chain.h>
#include <flux/dense.h>
#include <flux/dropout.h>
#include <flux/layer.h>

namespace metalhead::layers {

using flux::Tensor;

struct MultiHeadSelfAttentionOptions {
  bool qkv_bias = false;
  double attn_dropout_prob = 0.0;
  double proj_dropout_prob = 0.0;
};

/// MultiHeadSelfAttention(planes, nheads = 8, {.qkv_bias = false, .attn_dropout_prob = 0,
///                        .proj_dropout_prob = 0})
/// Self-attention over [N, T, planes] tokens: q, k and v from one Dense(planes => 3planes)
/// (in that order, as torch's in_proj), softmax(q kᵀ / √(planes / nheads)) per head with
/// dropout on the weights, the heads concatenated, then Chain(Dense(planes => planes),
/// Dropout). planes must be divisible by nheads.
/// Example: MultiHeadSelfAttention(64, 4) maps [2, 10, 64] to [2, 10, 64].
class MultiHeadSelfAttentionImpl : public flux::LayerImpl {
 public:
  MultiHeadSelfAttentionImpl(int64_t planes, int64_t nheads = 8, MultiHeadSelfAttentionOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::vector<flux::ShowItem> show_items() const override;
  std::string show_name() const override { return "MultiHeadSelfAttention"; }
  void pretty_print(std::ostream& os) const override;

  int64_t nheads;
  flux::Dense qkv_layer{nullptr};
  flux::Dropout attn_drop{nullptr};
  flux::Chain projection{nullptr};
};

class MultiHeadSelfAttention : public flux::Holder<MultiHeadSelfAttentionImpl> {
 public:
  using Holder::Holder;
  MultiHeadSelfAttention(int64_t planes, int64_t nheads = 8, MultiHeadSelfAttentionOptions options = {})
      : Holder(make(planes, nheads, options)) {}
};

/// Metalhead 0.7's name.
using MHAttention = MultiHeadSelfAttention;

}  // namespace metalhead::layers
