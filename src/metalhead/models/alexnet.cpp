// alexnet.cpp — AlexNet (Metalhead's `alexnet`).
#include <metalhead/models/alexnet.h>

#include <metalhead/layers/pool.h>

#include "entries.h"

#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/dropout.h>

namespace metalhead {

flux::Chain alexnet(const AlexNetOptions& o) {
  flux::Chain backbone(flux::Conv({11, 11}, {o.inchannels, 64}, flux::relu, {.stride = 4, .pad = 2}),
                       flux::MaxPool({3, 3}, {.stride = 2}),
                       flux::Conv({5, 5}, {64, 192}, flux::relu, {.pad = 2}),
                       flux::MaxPool({3, 3}, {.stride = 2}),
                       flux::Conv({3, 3}, {192, 384}, flux::relu, {.pad = 1}),
                       flux::Conv({3, 3}, {384, 256}, flux::relu, {.pad = 1}),
                       flux::Conv({3, 3}, {256, 256}, flux::relu, {.pad = 1}),
                       flux::MaxPool({3, 3}, {.stride = 2}));
  flux::Chain classifier(o.pool_layer, flux::flatten, flux::Dropout(o.dropout_prob),
                         flux::Dense({256 * 6 * 6, 4096}, flux::relu), flux::Dropout(o.dropout_prob),
                         flux::Dense({4096, 4096}, flux::relu), flux::Dense({4096, o.nclasses}));
  return flux::Chain(backbone, classifier);
}

namespace {
// Every activation before a pool, and the last pool (as timm's VGG): the first conv
// has stride 4, so there is no stride-2 map.
const FeatureSpec kAlexNetFeatures{.stages = {{64, 4, "layers.0.0"}, {192, 8, "layers.0.2"}, {256, 16, "layers.0.6"},
                                              {256, 32, "layers.0.7"}}};

Model with_features(Model m) {
  m->features = kAlexNetFeatures;
  return m;
}
}  // namespace

AlexNet::AlexNet(const ModelOptions& o)
    : Model(detail::pretrained([&] {
        return with_features(Model("AlexNet", alexnet({.inchannels = o.inchannels, .nclasses = o.nclasses}), o.inchannels));
      }(), o.pretrain, "alexnet")) {}

namespace detail {

std::vector<ModelInfo> alexnet_entries() {
  return {{"alexnet", {}, "AlexNet", "torchvision", {224, 224}, [](const ModelOptions& o) {
             // torch's adaptive pool: the same at 224, and defined for small inputs too.
             return with_features(Model("AlexNet",
                          alexnet({.inchannels = o.inchannels, .nclasses = o.nclasses,
                                   .pool_layer = layers::adaptive_avg_pool({6, 6})}),
                          o.inchannels));
           }}};
}

}  // namespace detail
}  // namespace metalhead
