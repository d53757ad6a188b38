// densenet.cpp — DenseNet (Metalhead's `densenet`), in torchvision's layer order.
#include <metalhead/models/densenet.h>

#include <metalhead/layers/classifier.h>

#include "entries.h"

#include <flux/conv.h>
#include <flux/normalise.h>
#include <flux/pooling.h>
#include <flux/skip_connection.h>

#include <torch/types.h>

#include <cmath>
#include <map>

namespace metalhead {
namespace {

const std::map<int64_t, std::vector<int64_t>> kDenseNetConfigs = {
    {121, {6, 12, 24, 16}},
    {161, {6, 12, 36, 24}},
    {169, {6, 12, 32, 32}},
    {201, {6, 12, 48, 32}},
};

// [input, new features]: torchvision's order of concatenation.
const flux::Connection append_features("cat_channels(x, ·)", [](const std::vector<flux::Tensor>& xs) {
  return torch::cat({xs.at(1), xs.at(0)}, 1);
});

// timm's feature_info: the stem's activation, each dense block before its transition,
// and the final norm's activation (densenet's layer list, counted).
FeatureSpec densenet_features(const std::vector<int64_t>& nblocks, int64_t growth_rate, int64_t inplanes, double reduction) {
  FeatureSpec spec{.stages = {{inplanes, 2, "layers.0.1"}}};
  int64_t index = 2, stride = 4;  // the stem's max pool
  for (size_t i = 0; i < nblocks.size(); ++i) {
    index += nblocks[i];
    const int64_t outplanes = inplanes + nblocks[i] * growth_rate;
    if (i + 1 != nblocks.size()) {
      spec.stages.push_back({outplanes, stride, "layers.0." + std::to_string(index)});
      ++index;
      stride *= 2;
      inplanes = static_cast<int64_t>(std::floor(static_cast<double>(outplanes) * reduction));
    } else {
      spec.stages.push_back({outplanes, stride, "layers.0." + std::to_string(index + 1)});
    }
  }
  return spec;
}

}  // namespace

flux::Layer dense_bottleneck(int64_t inplanes, int64_t outplanes, int64_t expansion) {
  flux::Chain layer(flux::BatchNorm(inplanes, flux::relu),
                    flux::Conv({1, 1}, {inplanes, expansion * outplanes}, flux::identity, {.bias = false}),
                    flux::BatchNorm(expansion * outplanes, flux::relu),
                    flux::Conv({3, 3}, {expansion * outplanes, outplanes}, flux::identity, {.pad = 1, .bias = false}));
  return flux::SkipConnection(layer, append_features);
}

flux::Chain transition(int64_t inplanes, int64_t outplanes) {
  return flux::Chain(flux::BatchNorm(inplanes, flux::relu),
                     flux::Conv({1, 1}, {inplanes, outplanes}, flux::identity, {.bias = false}),
                     flux::MeanPool({2, 2}));
}

flux::Chain densenet(const std::vector<int64_t>& nblocks, const DenseNetOptions& o) {
  int64_t inplanes = o.inplanes.value_or(2 * o.growth_rate);
  std::vector<flux::Layer> layers{
      flux::Conv({7, 7}, {o.inchannels, inplanes}, flux::identity, {.stride = 2, .pad = 3, .bias = false}),
      flux::BatchNorm(inplanes, flux::relu), flux::MaxPool({3, 3}, {.pad = 1, .stride = 2})};
  int64_t outplanes = inplanes;
  for (size_t i = 0; i < nblocks.size(); ++i) {
    for (int64_t j = 0; j < nblocks[i]; ++j) layers.push_back(dense_bottleneck(inplanes + j * o.growth_rate, o.growth_rate));
    outplanes = inplanes + nblocks[i] * o.growth_rate;
    if (i + 1 != nblocks.size()) {
      const auto reduced = static_cast<int64_t>(std::floor(static_cast<double>(outplanes) * o.reduction));
      layers.emplace_back(transition(outplanes, reduced));
      inplanes = reduced;
    }
  }
  layers.emplace_back(flux::BatchNorm(outplanes, flux::relu));
  return flux::Chain(flux::Chain(std::move(layers)),
                     // A Dropout slot even at rate 0: stable tensor names.
                     layers::create_classifier(outplanes, o.nclasses, flux::identity,
                                               {.dropout_prob = o.dropout_prob.value_or(0.0)}));
}

DenseNet::DenseNet(int64_t config, const DenseNetModelOptions& o)
    : Model(detail::pretrained([&] {
        auto it = kDenseNetConfigs.find(config);
        if (it == kDenseNetConfigs.end()) {
          detail::bad_config("DenseNet", "config " + std::to_string(config), {"121", "161", "169", "201"});
        }
        Model m("DenseNet",
                densenet(it->second, {.growth_rate = o.growth_rate, .reduction = o.reduction,
                                      .inchannels = o.inchannels, .nclasses = o.nclasses}),
                o.inchannels);
        m->features = densenet_features(it->second, o.growth_rate, 2 * o.growth_rate, o.reduction);
        return m;
      }(), o.pretrain,
                    o.growth_rate == (config == 161 ? 48 : 32) && o.reduction == 0.5 ? "densenet" + std::to_string(config) : "",
                    "no registry DenseNet has growth rate " + std::to_string(o.growth_rate) + " and reduction " +
                        std::to_string(o.reduction) + " with config " + std::to_string(config))) {}

namespace detail {

std::vector<ModelInfo> densenet_entries() {
  std::vector<ModelInfo> out;
  for (const auto& [config, blocks] : kDenseNetConfigs) {
    // torchvision's densenet161 is wider: growth rate 48 from 96 stem planes.
    const int64_t growth = config == 161 ? 48 : 32;
    auto nblocks = blocks;
    out.push_back({"densenet" + std::to_string(config), {}, "DenseNet", "torchvision", {224, 224},
                   [nblocks, growth](const ModelOptions& o) {
                     Model m("DenseNet",
                             densenet(nblocks, {.growth_rate = growth, .inchannels = o.inchannels, .nclasses = o.nclasses}),
                             o.inchannels);
                     m->features = densenet_features(nblocks, growth, 2 * growth, 0.5);
                     return m;
                   }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
