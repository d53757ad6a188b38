// shufflenet.h — ShuffleNet V2 at Metalhead's three levels.
//
//   metalhead::ShuffleNetv2(1.0, {.nclasses = 10})                   // high level
//   metalhead::shufflenetv2(0.5)                                     // mid level
//   metalhead::build_shufflenetv2({4, 8, 4}, {24, 116, 232, 464, 1024})  // low level
//
// The architectures are torchvision 0.14's shufflenet_v2_x0_5 … x2_0, whose weights load by
// their own names. timm has no ShuffleNet.
#pragma once

#include <flux/chain.h>
#include <flux/layer.h>
#include <metalhead/model.h>

#include <vector>

namespace metalhead {

/// shufflenetv2_unit(inplanes, outplanes, stride)
/// ShuffleNet V2's unit, then channel_shuffle(2). With stride 1 (inplanes == outplanes) the
/// channels are split in two halves: the first passes, the second goes through a 1×1
/// conv-BN-relu, a 3×3 depthwise conv-BN and a 1×1 conv-BN-relu, and the halves are
/// concatenated. With stride 2 both branches take the whole input: one a 3×3 depthwise
/// conv-BN (stride 2) and a 1×1 conv-BN-relu, the other the three layers above with the
/// depthwise conv at stride 2; each gives outplanes / 2 channels.
/// ([reference](https://arxiv.org/abs/1807.11164))
/// Example: shufflenetv2_unit(24, 116, 2) maps [N, 24, 56, 56] to [N, 116, 28, 28].
flux::Layer shufflenetv2_unit(int64_t inplanes, int64_t outplanes, int64_t stride);

struct ShuffleNetv2Options {
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// build_shufflenetv2(stage_repeats, stage_planes, {.inchannels = 3, .nclasses = 1000})
/// Chain(backbone, classifier). The backbone: Chain(Conv(3×3/2, inchannels => planes[0]),
/// BatchNorm(relu)), MaxPool(3×3/2, pad 1), one Chain of units per stage (the first at
/// stride 2), and Chain(Conv(1×1 => planes[end]), BatchNorm(relu)). stage_planes has one
/// more entry than stage_repeats, plus the last conv's: torchvision's stages_out_channels.
/// The classifier: AdaptiveMeanPool(1, 1), flatten, Dense(planes[end] => nclasses).
/// Example: build_shufflenetv2({4, 8, 4}, {24, 116, 232, 464, 1024}) maps [N, 3, 224, 224]
/// to [N, 1000].
flux::Chain build_shufflenetv2(const std::vector<int64_t>& stage_repeats, const std::vector<int64_t>& stage_planes,
                               const ShuffleNetv2Options& options = {});

/// shufflenetv2(width_mult = 1.0, {...}): torchvision's stages {4, 8, 4} at width 0.5
/// (48, 96, 192 planes), 1.0 (116, 232, 464), 1.5 (176, 352, 704) or 2.0 (244, 488, 976;
/// a last conv of 2048 instead of 1024).
flux::Chain shufflenetv2(double width_mult = 1.0, const ShuffleNetv2Options& options = {});

/// ShuffleNetv2(width_mult = 1.0, {inchannels, nclasses, pretrain}): shufflenet_v2_x0_5,
/// _x1_0, _x1_5 or _x2_0.
class ShuffleNetv2 : public Model {
 public:
  explicit ShuffleNetv2(double width_mult = 1.0, const ModelOptions& options = {});
};

}  // namespace metalhead
