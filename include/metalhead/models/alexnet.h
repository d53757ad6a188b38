// alexnet.h — AlexNet, as torchvision's (and Metalhead's) one-tower variant.
#pragma once

#include <flux/chain.h>
#include <flux/pooling.h>
#include <metalhead/model.h>

namespace metalhead {

struct AlexNetOptions {
  double dropout_prob = 0.5;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  flux::Layer pool_layer = flux::AdaptiveMeanPool({6, 6});  // the head's pooling to 6×6
};

/// alexnet({.dropout_prob = 0.5, .inchannels, .nclasses}): Chain(backbone, classifier):
/// 11×11/4 conv 64, pool, 5×5 conv 192, pool, 3×3 convs 384, 256, 256, pool; then
/// AdaptiveMeanPool(6, 6), flatten, Dropout, Dense(9216 => 4096, relu), Dropout,
/// Dense(4096 => 4096, relu), Dense(4096 => nclasses).
flux::Chain alexnet(const AlexNetOptions& options = {});

/// AlexNet({inchannels, nclasses, pretrain}).
class AlexNet : public Model {
 public:
  explicit AlexNet(const ModelOptions& options = {});
};

}  // namespace metalhead
