// invresmodel.h — the one builder behind MobileNetv1/v2/v3, MNASNet, EfficientNet and
// EfficientNetv2: each model is a table of stages (its novelties as data) and a few
// options for the stem, the squeeze-excite and the head.
#pragma once

#include <flux/activations.h>
#include <flux/chain.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/model.h>

#include <optional>
#include <vector>

namespace metalhead {

/// The block a stage repeats.
enum class IRBlock {
  dwsep,         // depthwise separable conv (MobileNetv1, MNASNet's first stage)
  mbconv,        // inverted residual with optional squeeze-excite (MobileNetv2/v3, EfficientNet)
  fused_mbconv,  // EfficientNetv2's fused block
};

/// One row of a configuration table, before width and depth scaling.
struct IRStage {
  IRBlock block;
  int64_t kernel;                   // square kernel of the (depthwise) conv
  int64_t outplanes;                // before the width multiplier
  double expansion;                 // explanes = round_channels(inplanes * expansion); 1 for dwsep
  int64_t stride;                   // of the stage's first block
  int64_t repeats;                  // before the depth multiplier (rounded up)
  std::optional<double> reduction;  // squeeze-excite reduction; none when absent
  flux::Activation activation;
};

struct InvResModelOptions {
  double width_mult = 1;   // scales every stage's planes (rounded to `divisor`)
  double depth_mult = 1;   // scales every stage's repeats (rounded up)
  int64_t inplanes = 32;   // stem width before width_mult
  flux::Activation stem_activation = flux::relu;
  layers::NormLayer norm_layer = layers::batch_norm();
  int64_t divisor = 8;
  bool se_from_explanes = false;  // SE width = explanes / reduction (MobileNetv3), else inplanes / reduction
  bool se_round = false;          // round the SE width to `divisor` (MobileNetv3)
  std::optional<flux::Activation> se_activation;  // default: the block's activation
  flux::Activation se_gate_activation = flux::sigmoid;
  bool dwsep_pw_activation = true;  // activation after dwsep's 1×1 conv (MobileNetv1: yes, MNASNet: no)
  bool dwsep_skip = false;          // a skip around dwsep blocks that keep their shape (timm's mnasnet_small)
  std::optional<double> stochastic_depth_prob;  // linearly increasing over all blocks, on skips only
  int64_t headplanes = 0;                   // the final 1×1 conv_norm's width; 0: none (MobileNetv1)
  std::optional<int64_t> hidden_planes;     // a hidden Dense with hardswish in the head (MobileNetv3)
  std::optional<double> dropout_prob;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// build_invresmodel(stages, {.width_mult, .depth_mult, .inplanes = 32, .stem_activation,
///                   .norm_layer, .divisor = 8, .se_from_explanes, .se_round, .se_activation,
///                   .se_gate_activation, .dwsep_pw_activation, .dwsep_skip, .stochastic_depth_prob,
///                   .headplanes, .hidden_planes, .dropout_prob, .inchannels, .nclasses})
/// Chain(backbone, classifier): a 3×3/2 conv_norm stem, one Chain of blocks per stage
/// (the first block of a stage takes its stride, mbconv/fused blocks get a skip with
/// stochastic depth when stride is 1 and planes agree), an optional 1×1 conv_norm to
/// headplanes, and create_classifier (with hidden_planes, MobileNetv3's hidden Dense).
flux::Chain build_invresmodel(const std::vector<IRStage>& stages, const InvResModelOptions& options);

/// invresmodel_features(stages, options, head_is_stage = false)
/// The feature stages of build_invresmodel(stages, options), timm's EfficientNet
/// feature_info: at each stride, the last of the stem and the stages' outputs, and with
/// `head_is_stage` the final 1×1 conv_norm's (timm's MobileNetv3 keeps it in its blocks).
FeatureSpec invresmodel_features(const std::vector<IRStage>& stages, const InvResModelOptions& options,
                                 bool head_is_stage = false);

/// scaled_planes(planes, width_mult, divisor = 8): round_channels(planes · width_mult) with
/// at least `divisor`, the rounding all these models use.
int64_t scaled_planes(double planes, double width_mult, int64_t divisor = 8);

}  // namespace metalhead
