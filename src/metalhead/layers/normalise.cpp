#include <metalhead/layers/normalise.h>

#include <flux/chain.h>
#include <flux/normalise.h>
#include <flux/padding.h>

#include <torch/types.h>

#include <sstream>
#include <stdexcept>

namespace metalhead::layers {

LayerNormV2Impl::LayerNormV2Impl(std::vector<int64_t> sz, flux::Activation act, LayerNormV2Options options)
    : activation(std::move(act)), size(std::move(sz)), eps(options.eps) {
  if (size.empty()) option_error("expected at least one normalised dimension");
  for (int64_t s : size) {
    if (s <= 0) option_error("sizes must be positive");
  }
  if (options.affine) {
    weight = register_parameter("weight", torch::ones(size));
    bias = register_parameter("bias", torch::zeros(size));
  }
}

Tensor LayerNormV2Impl::forward(const Tensor& x) {
  const auto n = static_cast<int64_t>(size.size());
  if (x.dim() < n || !std::equal(size.begin(), size.end(), x.sizes().end() - n)) {
    input_error("trailing dimensions " + flux::shape_string(size), x);
  }
  return activation(at::layer_norm(x, size, weight, bias, eps));
}

void LayerNormV2Impl::pretty_print(std::ostream& os) const {
  os << "LayerNormV2(";
  for (size_t i = 0; i < size.size(); ++i) os << (i ? ", " : "") << size[i];
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!weight.defined()) os << ", affine=false";
  os << ')';
}

ChannelLayerNormImpl::ChannelLayerNormImpl(int64_t c, flux::Activation act, ChannelLayerNormOptions options)
    : activation(std::move(act)), channels(c), eps(options.eps) {
  if (channels <= 0) option_error("channels must be positive");
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

Tensor ChannelLayerNormImpl::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != channels) {
    input_error("[N, " + std::to_string(channels) + ", H, W]", x);
  }
  Tensor y = flux::normalise(x, {.dims = {1}, .eps = eps});
  return activation(y * weight.view({1, -1, 1, 1}) + bias.view({1, -1, 1, 1}));
}

void ChannelLayerNormImpl::pretty_print(std::ostream& os) const {
  os << "ChannelLayerNorm(" << channels;
  if (!activation.is_identity()) os << ", " << activation.name();
  if (eps != 1e-6) os << ", eps=" << eps;
  os << ')';
}

flux::Layer prenorm(int64_t planes, flux::Layer block, NormLayer norm_layer) {
  if (!block) throw std::invalid_argument("prenorm: empty block");
  return flux::Chain(norm_layer(planes), std::move(block));
}

flux::Layer postnorm(int64_t planes, flux::Layer block, NormLayer norm_layer) {
  if (!block) throw std::invalid_argument("postnorm: empty block");
  return flux::Chain(std::move(block), norm_layer(planes));
}

}  // namespace metalhead::layers
