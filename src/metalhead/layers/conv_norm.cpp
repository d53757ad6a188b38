#include <metalhead/layers/conv_norm.h>

#include <flux/conv.h>

#include <algorithm>
#include <stdexcept>

namespace metalhead::layers {

NormLayer::NormLayer(const flux::Activation& identity) {
  if (!identity.is_identity()) {
    throw std::invalid_argument("norm_layer: expected a norm layer factory or identity, got the activation " +
                                identity.name());
  }
}

std::vector<flux::Layer> NormLayer::operator()(int64_t planes, const flux::Activation& activation) const {
  if (!fn_) throw std::invalid_argument("norm_layer: called on identity (no normalisation layer)");
  return fn_(planes, activation);
}

NormLayer batch_norm(flux::BatchNormOptions options) {
  return [options](int64_t planes, const flux::Activation& act) { return flux::BatchNorm(planes, act, options); };
}

NormLayer group_norm(int64_t groups, flux::GroupNormOptions options) {
  return [groups, options](int64_t planes, const flux::Activation& act) {
    return flux::GroupNorm(planes, groups, act, options);
  };
}

NormLayer instance_norm(flux::InstanceNormOptions options) {
  return [options](int64_t planes, const flux::Activation& act) { return flux::InstanceNorm(planes, act, options); };
}

NormLayer layer_norm(flux::LayerNormOptions options) {
  return [options](int64_t planes, const flux::Activation& act) { return flux::LayerNorm(planes, act, options); };
}

std::vector<flux::Layer> conv_norm(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t outplanes,
                                   flux::Activation activation, ConvNormOptions options) {
  flux::ConvOptions conv{.stride = options.stride,
                         .pad = options.pad,
                         .dilation = options.dilation,
                         .groups = options.groups,
                         .bias = options.bias.value_or(!options.norm_layer),
                         .init = options.init};
  if (!options.norm_layer) {
    if (options.preact || options.revnorm) {
      throw std::invalid_argument("conv_norm: `preact` and `revnorm` need a norm layer, got norm_layer = identity");
    }
    return {flux::Conv(std::move(kernel_size), {inplanes, outplanes}, activation, conv)};
  }
  if (options.preact && options.revnorm) {
    throw std::invalid_argument("conv_norm: `preact` and `revnorm` cannot be set at the same time");
  }
  const bool act_on_conv = options.revnorm || options.preact;
  flux::Conv c(std::move(kernel_size), {inplanes, outplanes}, act_on_conv ? activation : flux::identity, conv);
  std::vector<flux::Layer> norm =
      options.norm_layer(options.revnorm ? inplanes : outplanes, act_on_conv ? flux::identity : activation);
  std::vector<flux::Layer> layers;
  if (options.revnorm) {
    // Metalhead reverses the pair: the norm layer(s), then the convolution.
    layers = norm;
    layers.emplace_back(c);
  } else {
    layers.emplace_back(c);
    layers.insert(layers.end(), norm.begin(), norm.end());
  }
  return layers;
}

std::vector<flux::Layer> conv_norm(std::vector<int64_t> kernel_size, flux::InOut io, flux::Activation activation,
                                   ConvNormOptions options) {
  return conv_norm(std::move(kernel_size), io.in, io.out, std::move(activation), std::move(options));
}

std::vector<flux::Layer> basic_conv_bn(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t outplanes,
                                       flux::Activation activation, BasicConvBnOptions options) {
  NormLayer norm = options.batchnorm ? batch_norm({.eps = 1e-3, .momentum = 3e-3}) : NormLayer{};
  return conv_norm(std::move(kernel_size), inplanes, outplanes, std::move(activation),
                   {.norm_layer = std::move(norm),
                    .revnorm = options.revnorm,
                    .preact = options.preact,
                    .stride = options.stride,
                    .pad = options.pad,
                    .dilation = options.dilation,
                    .groups = options.groups,
                    .bias = options.bias,
                    .init = options.init});
}

std::vector<flux::Layer> dwsep_conv_norm(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t outplanes,
                                         flux::Activation activation, DwsepConvNormOptions options) {
  std::vector<flux::Layer> layers = conv_norm(std::move(kernel_size), inplanes, inplanes, activation,
                                              {.norm_layer = options.norm_layer,
                                               .stride = options.stride,
                                               .pad = options.pad,
                                               .groups = inplanes,
                                               .bias = options.bias,
                                               .init = options.init});
  std::vector<flux::Layer> pointwise = conv_norm({1, 1}, inplanes, outplanes, activation,
                                                 {.norm_layer = options.norm_layer, .bias = options.bias, .init = options.init});
  layers.insert(layers.end(), pointwise.begin(), pointwise.end());
  return layers;
}

}  // namespace metalhead::layers
