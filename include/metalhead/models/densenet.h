// densenet.h — DenseNet (121, 161, 169, 201).
//
// Metalhead builds every configuration with growth rate 32 and 64 stem planes;
// torchvision's densenet161 has growth rate 48 and 96 stem planes: the registry's
// `densenet161` is torchvision's, `DenseNet(161)` Metalhead's. Both order each layer
// BatchNorm → relu → Conv and concatenate [input, new features], as torchvision
// (Metalhead's conv_norm(revnorm) applies relu after the Conv and puts new features
// first: the same family, with the channels permuted).
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

#include <optional>
#include <vector>

namespace metalhead {

/// dense_bottleneck(inplanes, outplanes, expansion = 4): BN, relu, 1×1 conv to
/// expansion·outplanes, BN, relu, 3×3 conv to outplanes, its output appended to the input.
flux::Layer dense_bottleneck(int64_t inplanes, int64_t outplanes, int64_t expansion = 4);
/// transition(inplanes, outplanes): BN, relu, 1×1 conv, 2×2 mean pool.
flux::Chain transition(int64_t inplanes, int64_t outplanes);

struct DenseNetOptions {
  int64_t growth_rate = 32;
  std::optional<int64_t> inplanes;   // stem planes; default 2·growth_rate
  double reduction = 0.5;            // of the planes at each transition
  std::optional<double> dropout_prob;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// densenet(nblocks, {.growth_rate = 32, .inplanes, .reduction = 0.5, .dropout_prob,
///          .inchannels, .nclasses}): a 7×7/2 conv_norm stem and 3×3/2 max pool, dense blocks of
/// nblocks[i] bottlenecks with transitions between, a final BatchNorm(relu) and the head.
flux::Chain densenet(const std::vector<int64_t>& nblocks, const DenseNetOptions& options = {});

struct DenseNetModelOptions {
  int64_t growth_rate = 32;
  double reduction = 0.5;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;
};

/// DenseNet(config, {.growth_rate = 32, .reduction = 0.5, ...}): config 121, 161, 169 or 201.
class DenseNet : public Model {
 public:
  DenseNet(int64_t config, const DenseNetModelOptions& options = {});
};

}  // namespace metalhead
