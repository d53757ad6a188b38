// squeezenet.h — SqueezeNet (Metalhead's is v1.1; torchvision also has v1.0).
//
// Both round the max pools' output sizes up as torchvision does (ceil_mode); Metalhead's
// Flux pools round down, which gives the same sizes at 224×224 and one pixel less on
// some other sizes.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

#include <string>

namespace metalhead {

/// fire(inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes): a 1×1 squeeze
/// conv with relu, then 1×1 and 3×3 expand convs with relu, concatenated on channels.
flux::Chain fire(int64_t inplanes, int64_t squeeze_planes, int64_t expand1x1_planes, int64_t expand3x3_planes);

struct SqueezeNetOptions {
  std::string version = "1.1";  // "1.0" or "1.1"
  double dropout_prob = 0.5;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// squeezenet({.version = "1.1", .dropout_prob = 0.5, .inchannels, .nclasses}): the
/// backbone of fire modules and Chain(Dropout, Conv(1×1 => nclasses, relu),
/// AdaptiveMeanPool(1, 1), flatten). Max pools round up (torch's ceil_mode), as torchvision.
flux::Chain squeezenet(const SqueezeNetOptions& options = {});

/// SqueezeNet({inchannels, nclasses, pretrain}): version 1.1.
class SqueezeNet : public Model {
 public:
  explicit SqueezeNet(const ModelOptions& options = {});
};

}  // namespace metalhead
