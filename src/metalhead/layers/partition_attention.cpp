#include <metalhead/layers/partition_attention.h>

#include <metalhead/layers/drop.h>
#include <metalhead/layers/normalise.h>
#include <metalhead/layers/window_attention.h>

#include <flux/dropout.h>

#include <torch/types.h>

#include <cmath>
#include <stdexcept>

namespace metalhead::layers {

RelativePositionAttentionImpl::RelativePositionAttentionImpl(int64_t planes_, int64_t head_dim, int64_t partition_)
    : planes(planes_), nheads(head_dim > 0 ? planes_ / head_dim : 0), partition(partition_) {
  if (planes <= 0 || head_dim <= 0 || planes % head_dim != 0 || partition <= 0) {
    throw std::invalid_argument("RelativePositionAttention(" + std::to_string(planes) + ", " + std::to_string(head_dim) +
                                ", " + std::to_string(partition) +
                                "): planes must be a positive multiple of head_dim, and partition positive");
  }
  to_qkv = register_module("to_qkv", flux::Dense({planes, 3 * planes}));
  merge = register_module("merge", flux::Dense({planes, planes}));
  const int64_t s = partition;
  relative_position_bias_table = register_parameter(
      "relative_position_bias_table", (0.02 * torch::randn({(2 * s - 1) * (2 * s - 1), nheads})).clamp(-0.04, 0.04));
  relative_position_index = register_buffer("relative_position_index", layers::relative_position_index({s, s}));
}

Tensor RelativePositionAttentionImpl::forward(const Tensor& x) {
  const int64_t T = partition * partition;
  if (x.dim() != 4 || x.size(2) != T || x.size(3) != planes) {
    input_error("[N, G, " + std::to_string(T) + ", " + std::to_string(planes) + "] tokens", x);
  }
  const int64_t B = x.size(0), G = x.size(1), d = planes / nheads;
  auto qkv = to_qkv(x).chunk(3, -1);
  auto heads = [&](const Tensor& t) { return t.reshape({B, G, T, nheads, d}).permute({0, 1, 3, 2, 4}); };
  const Tensor q = heads(qkv[0]), k = heads(qkv[1]) * std::pow(static_cast<double>(planes), -0.5), v = heads(qkv[2]);
  const Tensor bias = relative_position_bias(relative_position_bias_table, relative_position_index);
  const Tensor w = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) + bias, -1);
  return merge(torch::matmul(w, v).permute({0, 1, 3, 2, 4}).reshape({B, G, T, planes}));
}

std::vector<flux::ShowItem> RelativePositionAttentionImpl::show_items() const {
  return {{"", to_qkv.ptr(), ""}, {"", merge.ptr(), ""}};
}

void RelativePositionAttentionImpl::pretty_print(std::ostream& os) const {
  os << "RelativePositionAttention(" << planes << ", nheads=" << nheads << ", partition=" << partition << ')';
}

PartitionAttentionImpl::PartitionAttentionImpl(int64_t planes_, int64_t head_dim, int64_t partition_, std::string kind_,
                                               PartitionAttentionOptions o)
    : planes(planes_), partition(partition_), kind(std::move(kind_)) {
  if (kind != "window" && kind != "grid") {
    throw std::invalid_argument("PartitionAttention: kind must be \"window\" or \"grid\", got \"" + kind + "\"");
  }
  if (o.mlp_ratio <= 0) throw std::invalid_argument("PartitionAttention: mlp_ratio must be positive");
  auto norm = [&] { return LayerNormV2(planes, flux::identity, {.eps = 1e-5}); };
  attn_layer = register_module("attn_layer", flux::Chain(norm(), RelativePositionAttention(planes, head_dim, partition),
                                                         flux::Dropout(o.attn_dropout_prob)));
  mlp_layer = register_module(
      "mlp_layer", flux::Chain(norm(), flux::Dense({planes, o.mlp_ratio * planes}, flux::gelu_erf),
                               flux::Dense({o.mlp_ratio * planes, planes}), flux::Dropout(o.mlp_dropout_prob)));
  stochastic_depth = StochasticDepth(o.stochastic_depth_prob, "row");
  register_module("stochastic_depth", stochastic_depth.ptr());
}

Tensor PartitionAttentionImpl::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != planes) input_error("[N, " + std::to_string(planes) + ", H, W] maps", x);
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  // The patch side P: the partition for blocks; for the grid, the spacing H / partition
  // (torchvision's, from the height for both sides).
  const bool grid = kind == "grid";
  const int64_t P = grid ? H / partition : partition;
  if (H % partition != 0 || W % partition != 0 || P == 0 || H % P != 0 || W % P != 0) {
    throw std::invalid_argument("PartitionAttention(" + kind + "): the map's sides must be multiples of the partition " +
                                std::to_string(partition) + ", got " + flux::shape_string(x));
  }
  const int64_t gh = H / P, gw = W / P;
  Tensor t = x.reshape({B, planes, gh, P, gw, P}).permute({0, 2, 4, 3, 5, 1}).reshape({B, gh * gw, P * P, planes});
  if (grid) t = t.transpose(-2, -3);
  t = t + stochastic_depth(attn_layer(t));
  t = t + stochastic_depth(mlp_layer(t));
  if (grid) t = t.transpose(-2, -3);
  return t.reshape({B, gh, gw, P, P, planes}).permute({0, 5, 1, 3, 2, 4}).reshape({B, planes, H, W});
}

std::vector<flux::ShowItem> PartitionAttentionImpl::show_items() const {
  return {{"", attn_layer.ptr(), ""}, {"", mlp_layer.ptr(), ""}, {"", stochastic_depth.ptr(), ""}};
}

void PartitionAttentionImpl::pretty_print(std::ostream& os) const {
  os << "PartitionAttention(" << planes << ", \"" << kind << "\", partition=" << partition << ')';
}

}  // namespace metalhead::layers
