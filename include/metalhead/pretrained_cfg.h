// pretrained_cfg.h — PretrainedCfg: how a model's pretrained weights take images
// (`metalhead::pretrained_cfg(name)` in registry.h gives a registry model's).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace metalhead {

/// ImageNet's channel statistics, the mean and std most pretrained weights take.
inline constexpr std::array<double, 3> imagenet_mean{0.485, 0.456, 0.406}, imagenet_std{0.229, 0.224, 0.225};

/// How the pretrained weights of a registry model were trained to be fed, as timm's
/// pretrained_cfg and torchvision's weights transforms say it: the shorter side resized to
/// `resize` (= ⌊H / crop_pct⌋ in timm), a centre crop of `input_size`, then (x − mean) / std.
struct PretrainedCfg {
  std::string weights;                 // the checkpoint: "ResNet50_Weights.IMAGENET1K_V2", "inception_v4.tf_in1k"
  std::string naming;                  // whose tensor names it uses: torchvision, timm or Metalhead
  std::vector<int64_t> input_size;     // [C, H, W]
  double crop_pct = 0.875;
  int64_t resize = 256;                // the shorter side before the crop
  bool squash = false;                 // resize straight to [H, W], no crop (timm's crop_mode "squash")
  std::string interpolation;           // bilinear or bicubic
  std::array<double, 3> mean{}, std{};
  int64_t num_classes = 1000;
  std::string first_conv, classifier;  // the originals' module names
  std::string label_set = "imagenet-1k";  // whose classes the logits are: class_names(cfg) (weights.h) names them
};

}  // namespace metalhead
