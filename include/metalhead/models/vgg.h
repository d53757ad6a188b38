// vgg.h — VGG (11, 13, 16, 19, with and without BatchNorm).
//
// Metalhead's VGG flattens the 7×7 feature map of a 224×224 image straight into the
// first Dense and has no conv bias next to a BatchNorm. The registry's torchvision
// names (`vgg16`, `vgg16_bn`) keep torchvision's conv bias and its adaptive 7×7
// average pool (torch's windows), so any input size works there.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

#include <optional>
#include <utility>
#include <vector>

namespace metalhead {

/// One VGG stage: (output planes, number of 3×3 convolutions).
using VGGStage = std::pair<int64_t, int64_t>;

struct VGGOptions {
  std::vector<VGGStage> config;          // e.g. {{64, 1}, {128, 1}, {256, 2}, {512, 2}, {512, 2}}
  bool batchnorm = false;
  std::optional<bool> conv_bias;         // default: no bias next to a BatchNorm (Metalhead)
  flux::Layer pool_layer = {};           // before flattening; none by default (Metalhead)
  int64_t fcsize = 4096;
  double dropout_prob = 0.0;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// vgg(imsize, {.config, .batchnorm = false, .fcsize = 4096, .dropout_prob = 0, .inchannels,
///     .nclasses, .conv_bias, .pool_layer}): Chain(convolutions, classifier) for images of
/// `imsize` = {H, W}: a max pool after each stage, then flatten, Dense(fcsize, relu),
/// Dropout, Dense(fcsize, relu), Dropout, Dense(nclasses).
flux::Chain vgg(std::vector<int64_t> imsize, const VGGOptions& options);

struct VGGModelOptions {
  bool batchnorm = false;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;
  std::vector<int64_t> imsize = {224, 224};  // the size the classifier is built for
};

/// VGG(depth, {.batchnorm = false, .inchannels, .nclasses, .pretrain}): depth 11, 13, 16 or 19,
/// dropout 0.5 in the classifier.
class VGG : public Model {
 public:
  VGG(int64_t depth, const VGGModelOptions& options = {});
};

}  // namespace metalhead
