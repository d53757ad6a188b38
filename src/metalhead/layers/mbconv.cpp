#include <metalhead/layers/mbconv.h>

#include <metalhead/layers/drop.h>
#include <metalhead/layers/squeeze_excite.h>

#include <flux/connection.h>
#include <flux/skip_connection.h>

#include <cmath>
#include <stdexcept>

namespace metalhead::layers {
namespace {

void check_stride(int64_t stride, const char* who) {
  if (stride != 1 && stride != 2) {
    throw std::invalid_argument(std::string(who) + ": `stride` has to be 1 or 2, got " + std::to_string(stride));
  }
}

void append(std::vector<flux::Layer>& layers, const std::vector<flux::Layer>& more) {
  layers.insert(layers.end(), more.begin(), more.end());
}

}  // namespace

flux::Chain mbconv(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t explanes, int64_t outplanes,
                   flux::Activation activation, MBConvOptions options) {
  check_stride(options.stride, "mbconv");
  std::vector<flux::Layer> layers;
  if (inplanes != explanes) {
    append(layers, conv_norm({1, 1}, inplanes, explanes, activation, {.norm_layer = options.norm_layer}));
  }
  append(layers, conv_norm(std::move(kernel_size), explanes, explanes, activation,
                           {.norm_layer = options.norm_layer,
                            .stride = options.stride,
                            .pad = flux::SamePad{},
                            .groups = explanes}));
  if (options.reduction) {
    auto round_fn = options.se_round_fn ? options.se_round_fn : [](double c) { return std::llround(c); };
    layers.push_back(squeeze_excite(explanes, {.reduction = *options.reduction,
                                               .round_fn = round_fn,
                                               .activation = options.se_activation.value_or(activation),
                                               .gate_activation = options.se_gate_activation}));
  }
  // Metalhead projects with the default BatchNorm whatever norm_layer is; we use norm_layer.
  append(layers, conv_norm({1, 1}, explanes, outplanes, flux::identity, {.norm_layer = options.norm_layer}));
  return flux::Chain(std::move(layers));
}

flux::Chain fused_mbconv(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t explanes, int64_t outplanes,
                         flux::Activation activation, FusedMBConvOptions options) {
  check_stride(options.stride, "fused_mbconv");
  std::vector<flux::Layer> layers;
  // Without expansion the one conv goes straight to outplanes, as torchvision's
  // FusedMBConv; Metalhead would add a 1×1 projection when inplanes != outplanes.
  const bool expand = explanes != inplanes;
  if (!expand) explanes = outplanes;
  append(layers, conv_norm(std::move(kernel_size), inplanes, explanes, activation,
                           {.norm_layer = options.norm_layer, .stride = options.stride, .pad = flux::SamePad{}}));
  if (expand) {
    append(layers, conv_norm({1, 1}, explanes, outplanes, flux::identity, {.norm_layer = options.norm_layer}));
  }
  return flux::Chain(std::move(layers));
}

flux::Layer invertedresidual(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t explanes, int64_t outplanes,
                             flux::Activation activation, InvertedResidualOptions options) {
  flux::Chain block = options.fused
                          ? fused_mbconv(std::move(kernel_size), inplanes, explanes, outplanes, activation,
                                         {.stride = options.block.stride, .norm_layer = options.block.norm_layer})
                          : mbconv(std::move(kernel_size), inplanes, explanes, outplanes, activation, options.block);
  if (options.block.stride != 1 || inplanes != outplanes) return block;
  block->push_back(StochasticDepth(options.stochastic_depth_prob));
  return flux::SkipConnection(block, flux::plus);
}

}  // namespace metalhead::layers
