// efficientnets.h — EfficientNet (b0 to b8) and EfficientNetv2 (small to xlarge), each a
// configuration table for build_invresmodel (invresmodel.h).
//
// As torchvision (whose weights need it), and unlike Metalhead: the last conv has 4× the
// last stage's planes after width scaling (Metalhead: 1280 for every size), each size has
// torchvision's classifier dropout (0.2 to 0.5; Metalhead: none), b5–b7 and v2 use
// BatchNorm eps 1e-3, and the squeeze-excite gate is σ. EfficientNetv2 "xlarge" is timm's
// tf_efficientnetv2_xl (its 5th and 6th stages have 256 and 512 planes, its last 640;
// Metalhead's table says 384, 512, 768); timm's TF-style "same" padding is not modelled.
#pragma once

#include <flux/chain.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/model.h>

#include <optional>
#include <string>

namespace metalhead {

struct EfficientNetOptions {
  std::optional<layers::NormLayer> norm_layer;  // default: BatchNorm as torchvision's size has it
  std::optional<double> stochastic_depth_prob = 0.2;
  std::optional<double> dropout_prob;           // default: torchvision's rate for the size
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// efficientnet(config, {.norm_layer, .stochastic_depth_prob = 0.2, .dropout_prob,
/// .inchannels, .nclasses}): config "b0" … "b8", torchvision's efficientnet_b0 … b7 (and
/// timm's b8): swish mbconv blocks with σ-gated squeeze-excite, scaled by the size's width
/// and depth multipliers. ([reference](https://arxiv.org/abs/1905.11946v5))
flux::Chain efficientnet(const std::string& config, const EfficientNetOptions& options = {});

/// efficientnetv2(config, {.norm_layer, .stochastic_depth_prob = 0.2, .dropout_prob,
/// .inchannels, .nclasses}): config "small", "medium", "large" (torchvision's
/// efficientnet_v2_s/m/l) or "xlarge" (timm's tf_efficientnetv2_xl): fused_mbconv stages,
/// then mbconv stages with squeeze-excite. ([reference](https://arxiv.org/abs/2104.00298))
flux::Chain efficientnetv2(const std::string& config, const EfficientNetOptions& options = {});

/// The default input size [H, W] of an EfficientNet or EfficientNetv2 config.
int64_t efficientnet_imsize(const std::string& config);

/// EfficientNet(config, {inchannels, nclasses, pretrain}): "b0" … "b8".
class EfficientNet : public Model {
 public:
  EfficientNet(const std::string& config, const ModelOptions& options = {});
};

/// EfficientNetv2(config, {inchannels, nclasses, pretrain}): "small", "medium", "large", "xlarge".
class EfficientNetv2 : public Model {
 public:
  EfficientNetv2(const std::string& config, const ModelOptions& options = {});
};

}  // namespace metalhead
