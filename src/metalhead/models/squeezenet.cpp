// squeezenet.cpp — SqueezeNet 1.0 and 1.1 (Metalhead's `squeezenet` is 1.1).
#include <metalhead/models/squeezenet.h>

#include <metalhead/layers/connections.h>

#include "entries.h"

#include <flux/conv.h>
#include <flux/dropout.h>
#include <flux/parallel.h>
#include <flux/pooling.h>

namespace metalhead {
namespace {

// A 3×3/2 max pool that rounds its output size up (torch's ceil_mode): one extra
// row and column of padding at the end, which a max pool ignores.
flux::MaxPool ceil_pool() { return flux::MaxPool({3, 3}, {.pad = {0, 1, 0, 1}, .stride = 2}); }

}  // namespace

flux::Chain fire(int64_t inplanes, int64_t squeeze_planes, int64_t expand1x1_planes, int64_t expand3x3_planes) {
  return flux::Chain(flux::Conv({1, 1}, {inplanes, squeeze_planes}, flux::relu),
                     flux::Parallel(layers::cat_channels, flux::Conv({1, 1}, {squeeze_planes, expand1x1_planes}, flux::relu),
                                    flux::Conv({3, 3}, {squeeze_planes, expand3x3_planes}, flux::relu, {.pad = 1})));
}

flux::Chain squeezenet(const SqueezeNetOptions& o) {
  std::vector<flux::Layer> b;
  if (o.version == "1.0") {
    b = {flux::Conv({7, 7}, {o.inchannels, 96}, flux::relu, {.stride = 2}), ceil_pool(), fire(96, 16, 64, 64),
         fire(128, 16, 64, 64), fire(128, 32, 128, 128), ceil_pool(), fire(256, 32, 128, 128),
         fire(256, 48, 192, 192), fire(384, 48, 192, 192), fire(384, 64, 256, 256), ceil_pool(),
         fire(512, 64, 256, 256)};
  } else if (o.version == "1.1") {
    b = {flux::Conv({3, 3}, {o.inchannels, 64}, flux::relu, {.stride = 2}), ceil_pool(), fire(64, 16, 64, 64),
         fire(128, 16, 64, 64), ceil_pool(), fire(128, 32, 128, 128), fire(256, 32, 128, 128), ceil_pool(),
         fire(256, 48, 192, 192), fire(384, 48, 192, 192), fire(384, 64, 256, 256), fire(512, 64, 256, 256)};
  } else {
    detail::bad_config("squeezenet", "version \"" + o.version + "\"", {"\"1.0\"", "\"1.1\""});
  }
  flux::Chain classifier(flux::Dropout(o.dropout_prob), flux::Conv({1, 1}, {512, o.nclasses}, flux::relu),
                         flux::AdaptiveMeanPool({1, 1}), flux::flatten);
  return flux::Chain(flux::Chain(std::move(b)), classifier);
}

namespace {
// The activation before each pool, and the last fire module (torchvision's features
// 1, 5, 10, 12 for 1.0 and 1, 4, 7, 12 for 1.1: ours fold each ReLU into its conv).
Model with_features(Model m, const std::string& version) {
  if (version == "1.0") {
    m->features.stages = {{96, 2, "layers.0.0"}, {256, 4, "layers.0.4"}, {512, 8, "layers.0.9"}, {512, 16, "layers.0.11"}};
  } else {
    m->features.stages = {{64, 2, "layers.0.0"}, {128, 4, "layers.0.3"}, {256, 8, "layers.0.6"}, {512, 16, "layers.0.11"}};
  }
  return m;
}
}  // namespace

SqueezeNet::SqueezeNet(const ModelOptions& o)
    : Model(detail::pretrained([&] {
        return with_features(Model("SqueezeNet", squeezenet({.inchannels = o.inchannels, .nclasses = o.nclasses}), o.inchannels),
                             "1.1");
      }(), o.pretrain, "squeezenet1_1")) {}

namespace detail {

std::vector<ModelInfo> squeezenet_entries() {
  std::vector<ModelInfo> out;
  for (std::string v : {"1.0", "1.1"}) {
    std::string name = "squeezenet1_" + v.substr(2);
    out.push_back({name, {}, "SqueezeNet", "torchvision", {224, 224}, [v](const ModelOptions& o) {
                     return with_features(
                         Model("SqueezeNet", squeezenet({.version = v, .inchannels = o.inchannels, .nclasses = o.nclasses}),
                               o.inchannels),
                         v);
                   }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
