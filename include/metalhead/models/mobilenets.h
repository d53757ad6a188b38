// mobilenets.h — MobileNetv1, MobileNetv2, MobileNetv3 and MNASNet, each a configuration
// table for build_invresmodel (invresmodel.h).
//
// Where Metalhead's tables differ from torchvision's, we follow torchvision (the
// architecture its weights need): MobileNetv3's stem uses hardswish, its SE uses relu
// inside whatever the block's activation and BatchNorm has eps 1e-3; the 96- and
// 160-plane stages of small and large start with stride 2 (Metalhead: 1, an overall
// stride of 16); the classifier's hidden width and MobileNetv2's last conv scale with
// width_mult as in torchvision; MNASNet's first depthwise separable conv has no
// activation after its 1×1 conv. MobileNetv1 follows timm's mobilenetv1_100 (relu6).
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

#include <optional>
#include <string>

namespace metalhead {

struct MobileNetv1Options {
  double width_mult = 1;
  int64_t inplanes = 32;
  std::optional<double> dropout_prob;  // none: no Dropout layer
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// mobilenetv1({.width_mult = 1, .inplanes = 32, .dropout_prob = nothing, .inchannels,
/// .nclasses}): 13 depthwise separable convs (relu6) and a Dense from 1024·width_mult
/// channels, without a tail conv. ([reference](https://arxiv.org/abs/1704.04861v1))
flux::Chain mobilenetv1(const MobileNetv1Options& options = {});

struct MobileNetv2Options {
  double width_mult = 1;
  int64_t max_width = 1280;  // the last conv's width, scaled when width_mult > 1
  int64_t inplanes = 32;
  std::optional<double> dropout_prob = 0.2;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// mobilenetv2({.width_mult = 1, .max_width = 1280, .inplanes = 32, .dropout_prob = 0.2,
/// .inchannels, .nclasses}): torchvision's mobilenet_v2 (relu6, expansion 6, `pad = 1` in
/// the stem). ([reference](https://arxiv.org/abs/1801.04381))
flux::Chain mobilenetv2(const MobileNetv2Options& options = {});

struct MobileNetv3Options {
  double width_mult = 1;
  std::optional<double> dropout_prob = 0.2;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// mobilenetv3(config, {.width_mult = 1, .dropout_prob = 0.2, .inchannels, .nclasses}):
/// config "small" or "large", torchvision's mobilenet_v3_small/large: hardswish and relu
/// blocks with hardσ-gated squeeze-excite, and a head with a hidden Dense (1024 or 1280).
/// ([reference](https://arxiv.org/abs/1905.02244))
flux::Chain mobilenetv3(const std::string& config, const MobileNetv3Options& options = {});

struct MNASNetOptions {
  double width_mult = 1;
  int64_t max_width = 1280;
  std::optional<double> dropout_prob = 0.2;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// mnasnet(config, {.width_mult = 1, .max_width = 1280, .dropout_prob = 0.2, .inchannels,
/// .nclasses}): config "B1" (torchvision's mnasnet0_5 … 1_3 by width_mult), "A1" (with
/// squeeze-excite, timm's semnasnet_100) or "small" (timm's mnasnet_small); BatchNorm
/// momentum 3e-4. ([reference](https://arxiv.org/abs/1807.11626))
flux::Chain mnasnet(const std::string& config, const MNASNetOptions& options = {});

/// MobileNetv1(width_mult = 1, {inchannels, nclasses, pretrain}).
class MobileNetv1 : public Model {
 public:
  explicit MobileNetv1(double width_mult = 1, const ModelOptions& options = {});
};

/// MobileNetv2(width_mult = 1, {inchannels, nclasses, pretrain}).
class MobileNetv2 : public Model {
 public:
  explicit MobileNetv2(double width_mult = 1, const ModelOptions& options = {});
};

/// MobileNetv3(config, {inchannels, nclasses, pretrain}, width_mult = 1): "small" or "large".
class MobileNetv3 : public Model {
 public:
  MobileNetv3(const std::string& config, const ModelOptions& options = {}, double width_mult = 1);
};

/// MNASNet(config, {inchannels, nclasses, pretrain}, width_mult = 1): "A1", "B1" or "small".
class MNASNet : public Model {
 public:
  MNASNet(const std::string& config, const ModelOptions& options = {}, double width_mult = 1);
};

}  // namespace metalhead
