// regnet.h — RegNet X and Y from their design-space parameters, at Metalhead's three levels.
//
//   metalhead::RegNet("y_1_6gf", {.nclasses = 10})                          // high level
//   metalhead::regnet("x_400mf")                                            // mid level
//   metalhead::build_regnet({.depth = 16, .w_0 = 48, .w_a = 27.89, .w_m = 2.09,
//                            .group_width = 8, .se_ratio = 0.25})           // low level
//
// The architectures are torchvision 0.14's regnet_x_400mf … regnet_x_32gf and
// regnet_y_400mf … regnet_y_128gf, whose weights load by their own names. timm's rows of
// the same architecture are aliases (regnetx_016, regnety_032, …). Three of timm's plain
// names are other designs: its regnetx_004 ends at 384 channels (torchvision's 400),
// regnety_008 has 128 and 768 (144 and 784) and regnety_080 starts at 168 (224); timm's
// regnetx_004_tv, regnety_008_tv and regnety_080_tv are torchvision's, and the aliases.
#pragma once

#include <flux/chain.h>
#include <flux/layer.h>
#include <metalhead/model.h>

#include <string>
#include <vector>

namespace metalhead {

/// A RegNet's design-space parameters (Radosavovic et al., "Designing Network Design
/// Spaces"): block j of `depth` has the continuous width w_0 + w_a·j, quantised in log
/// space to w_0·w_m^k and to a multiple of 8; runs of equal widths are the stages.
struct RegNetParams {
  int64_t depth = 0;
  int64_t w_0 = 0;      // the first block's width, a multiple of 8
  double w_a = 0;       // the slope of the widths, ≥ 0
  double w_m = 0;       // the width multiplier between stages, > 1
  int64_t group_width = 1;
  double bottleneck_ratio = 1.0;
  double se_ratio = 0;  // squeeze-excite width over the block's input width; 0: none (RegNet X)
};

/// One stage: its blocks' output width, their count and the group width of their 3×3
/// convolutions. Every stage starts with a stride-2 block.
struct RegNetStage {
  int64_t width = 0;
  int64_t depth = 0;
  int64_t group_width = 0;
  bool operator==(const RegNetStage&) const = default;
};

/// regnet_stages(params): the stages the parameters give, torchvision's quantisation in
/// float32 arithmetic, with each width adjusted so that its bottleneck width is a multiple
/// of the group width (the group width capped at the bottleneck width).
/// Example: regnet_stages({.depth = 22, .w_0 = 24, .w_a = 24.48, .w_m = 2.54, .group_width = 16})
/// gives {32, 1, 16}, {64, 2, 16}, {160, 7, 16}, {400, 12, 16} (RegNet X 400MF).
std::vector<RegNetStage> regnet_stages(const RegNetParams& params);

/// regnet_block(inplanes, outplanes, stride, group_width, bottleneck_ratio = 1, se_ratio = 0)
/// The residual bottleneck block, relu(shortcut(x) + f(x)): f is a 1×1 conv-BN-relu to
/// w_b = round(outplanes · bottleneck_ratio), a 3×3 conv-BN-relu with w_b / group_width
/// groups at `stride`, a squeeze-excite of round(se_ratio · inplanes) channels (relu, σ
/// gate) when se_ratio > 0, and a 1×1 conv-BN to outplanes. The shortcut is the identity
/// or, when the width or size changes, a 1×1 conv-BN at `stride`.
/// Example: regnet_block(32, 48, 2, 8, 1.0, 0.25) maps [N, 32, 56, 56] to [N, 48, 28, 28].
flux::Layer regnet_block(int64_t inplanes, int64_t outplanes, int64_t stride, int64_t group_width,
                         double bottleneck_ratio = 1.0, double se_ratio = 0.0);

struct RegNetOptions {
  int64_t stem_width = 32;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// build_regnet(params, {.stem_width = 32, .inchannels = 3, .nclasses = 1000})
/// Chain(backbone, classifier). The backbone: the stem Chain(Conv(3×3/2, inchannels =>
/// stem_width), BatchNorm(relu)), then one Chain of regnet_block per regnet_stages(params)
/// stage. The classifier: AdaptiveMeanPool(1, 1), flatten, Dense(last width => nclasses).
flux::Chain build_regnet(const RegNetParams& params, const RegNetOptions& options = {});

/// regnet_params(config): torchvision's parameters for "x_400mf", "x_800mf", "x_1_6gf",
/// "x_3_2gf", "x_8gf", "x_16gf", "x_32gf", "y_400mf", "y_800mf", "y_1_6gf", "y_3_2gf",
/// "y_8gf", "y_16gf", "y_32gf" or "y_128gf" (Y: se_ratio 0.25).
const RegNetParams& regnet_params(const std::string& config);

/// regnet(config, {...}): build_regnet(regnet_params(config), options).
flux::Chain regnet(const std::string& config, const RegNetOptions& options = {});

/// RegNet(config, {inchannels, nclasses, pretrain}): torchvision's regnet_<config>.
class RegNet : public Model {
 public:
  explicit RegNet(const std::string& config, const ModelOptions& options = {});
};

}  // namespace metalhead
