// inception_common.h — what the Inception family's files share (internal).
#pragma once

#include <metalhead/layers/conv_norm.h>
#include <metalhead/model.h>

#include <flux/chain.h>
#include <flux/layer.h>
#include <flux/padding.h>

#include <ATen/ATen.h>

#include <vector>

namespace metalhead::detail {

/// A basic_conv_bn (bias-free conv, BatchNorm eps 1e-3, relu) with a torch-order
/// kernel {kH, kW} and pad {pH, pW}: torchvision's and timm's BasicConv2d.
inline flux::Chain cbr(std::vector<int64_t> kernel, int64_t in, int64_t out, std::vector<int64_t> pad = {0, 0},
                       int64_t stride = 1) {
  return flux::Chain(
      layers::basic_conv_bn(std::move(kernel), in, out, flux::relu, {.stride = stride, .pad = std::move(pad)}));
}

/// timm's AvgPool2d(3, stride=1, padding=1, count_include_pad=False): border windows
/// average only the pixels inside (Flux's MeanPool counts the padding).
inline flux::Layer avg_pool3_exclude_pad() {
  return flux::fn("avg_pool(3, pad=1, count_include_pad=false)",
                  [](const flux::Tensor& x) { return at::avg_pool2d(x, {3, 3}, {1, 1}, {1, 1}, false, false); });
}

/// The feature stages of the backbones googlenet(...), inceptionv3(...) and xception(...)
/// build: their classes and the registry rows that build them directly share them.
FeatureSpec googlenet_features();
FeatureSpec inceptionv3_features();
FeatureSpec xception_features();

}  // namespace metalhead::detail
