#include <metalhead/layers/attention.h>

#include <torch/types.h>

#include <cmath>

namespace metalhead::layers {

MultiHeadSelfAttentionImpl::MultiHeadSelfAttentionImpl(int64_t planes, int64_t heads,
                                                       MultiHeadSelfAttentionOptions options)
    : nheads(heads) {
  if (planes <= 0 || nheads <= 0 || planes % nheads != 0) {
    throw std::invalid_argument("MultiHeadSelfAttention: planes (" + std::to_string(planes) +
                                ") should be divisible by nheads (" + std::to_string(nheads) + ")");
  }
  qkv_layer = register_module("qkv_layer", flux::Dense({planes, 3 * planes}, flux::identity, {.bias = options.qkv_bias}));
  attn_drop = register_module("attn_drop", flux::Dropout(options.attn_dropout_prob));
  projection = register_module(
      "projection", flux::Chain(flux::Dense({planes, planes}), flux::Dropout(options.proj_dropout_prob)));
}

Tensor MultiHeadSelfAttentionImpl::forward(const Tensor& x) {
  const int64_t planes = qkv_layer->weight.size(1);
  if (x.dim() != 3 || x.size(2) != planes) input_error("[N, T, " + std::to_string(planes) + "] tokens", x);
  const int64_t N = x.size(0), T = x.size(1), d = planes / nheads;
  // [N, T, 3, heads, d] → three [N, heads, T, d]
  auto qkv = qkv_layer(x).view({N, T, 3, nheads, d}).permute({2, 0, 3, 1, 4});
  Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  Tensor weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(d)), -1);
  weights = attn_drop(weights);
  Tensor y = torch::matmul(weights, v).transpose(1, 2).reshape({N, T, planes});
  return projection(y);
}

std::vector<flux::ShowItem> MultiHeadSelfAttentionImpl::show_items() const {
  return {{"", qkv_layer.ptr(), ""}, {"", attn_drop.ptr(), ""}, {"", projection.ptr(), ""}};
}

void MultiHeadSelfAttentionImpl::pretty_print(std::ostream& os) const {
  os << "MultiHeadSelfAttention(" << qkv_layer->repr() << ", " << attn_drop->repr() << ", " << projection->repr()
     << ')';
}

}  // namespace metalhead::layers
