// vgg.cpp — VGG (Metalhead's `vgg`).
#include <metalhead/models/vgg.h>

#include <metalhead/layers/conv_norm.h>
#include <metalhead/layers/pool.h>

#include "entries.h"

#include <flux/dense.h>
#include <flux/dropout.h>
#include <flux/pooling.h>

#include <map>

namespace metalhead {
namespace {

const std::map<int64_t, std::vector<VGGStage>> kVGGConfigs = {
    {11, {{64, 1}, {128, 1}, {256, 2}, {512, 2}, {512, 2}}},
    {13, {{64, 2}, {128, 2}, {256, 2}, {512, 2}, {512, 2}}},
    {16, {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}}},
    {19, {{64, 2}, {128, 2}, {256, 4}, {512, 4}, {512, 4}}},
};

const std::vector<VGGStage>& config(int64_t depth) {
  auto it = kVGGConfigs.find(depth);
  if (it == kVGGConfigs.end()) detail::bad_config("VGG", "depth " + std::to_string(depth), {"11", "13", "16", "19"});
  return it->second;
}

// timm's feature_info: each stage's last activation (before its pool), then the last pool.
FeatureSpec vgg_features(const std::vector<VGGStage>& config, bool batchnorm) {
  FeatureSpec spec;
  int64_t index = -1, reduction = 1;
  for (const auto& [planes, depth] : config) {
    index += depth * (batchnorm ? 2 : 1);  // conv_norm: Conv(relu), or Conv then BatchNorm(relu)
    spec.stages.push_back({planes, reduction, "layers.0." + std::to_string(index)});
    ++index;  // the max pool
    reduction *= 2;
  }
  spec.stages.push_back({config.back().first, reduction, "layers.0." + std::to_string(index)});
  return spec;
}

}  // namespace

flux::Chain vgg(std::vector<int64_t> imsize, const VGGOptions& o) {
  if (o.config.empty()) throw std::invalid_argument("vgg: empty config");
  if (imsize.size() != 2) throw std::invalid_argument("vgg: imsize must be {H, W}");
  std::vector<flux::Layer> conv;
  int64_t in = o.inchannels;
  for (const auto& [planes, depth] : o.config) {
    for (int64_t i = 0; i < depth; ++i) {
      auto block = layers::conv_norm({3, 3}, in, planes, flux::relu,
                                     {.norm_layer = o.batchnorm ? layers::batch_norm() : layers::NormLayer{},
                                      .pad = 1,
                                      .bias = o.conv_bias});
      conv.insert(conv.end(), block.begin(), block.end());
      in = planes;
    }
    conv.emplace_back(flux::MaxPool({2, 2}, {.stride = 2}));
    imsize = {imsize[0] / 2, imsize[1] / 2};
  }
  if (o.pool_layer) {
    conv.push_back(o.pool_layer);
    imsize = {7, 7};  // only torch's adaptive (7, 7) pool is used here
  }
  if (imsize[0] < 1 || imsize[1] < 1) throw std::invalid_argument("vgg: the image is too small for five 2×2 pools");
  const int64_t features = in * imsize[0] * imsize[1];
  flux::Chain classifier(flux::flatten, flux::Dense({features, o.fcsize}, flux::relu), flux::Dropout(o.dropout_prob),
                         flux::Dense({o.fcsize, o.fcsize}, flux::relu), flux::Dropout(o.dropout_prob),
                         flux::Dense({o.fcsize, o.nclasses}));
  return flux::Chain(flux::Chain(std::move(conv)), classifier);
}

VGG::VGG(int64_t depth, const VGGModelOptions& o)
    : Model(detail::pretrained([&] {
        const auto& c = config(depth);
        auto layers = vgg(o.imsize, {.config = c, .batchnorm = o.batchnorm, .dropout_prob = 0.5,
                                     .inchannels = o.inchannels, .nclasses = o.nclasses});
        Model m("VGG", layers, o.inchannels);
        m->features = vgg_features(c, o.batchnorm);
        return m;
      }(), o.pretrain,
                    o.imsize == std::vector<int64_t>{224, 224} && !o.batchnorm ? "vgg" + std::to_string(depth) : "",
                    o.batchnorm ? "Metalhead's VGG has no conv bias next to a BatchNorm, torchvision's vgg" +
                                      std::to_string(depth) + "_bn has one (create_model(\"vgg" + std::to_string(depth) +
                                      "_bn\") is torchvision's architecture)"
                                : "the weights are for 224×224 images (VGG's classifier takes a fixed-size map)")) {}

namespace detail {

std::vector<ModelInfo> vgg_entries() {
  std::vector<ModelInfo> out;
  for (const auto& [depth, c] : kVGGConfigs) {
    for (bool bn : {false, true}) {
      auto cfg = c;
      out.push_back({"vgg" + std::to_string(depth) + (bn ? "_bn" : ""), {}, "VGG", "torchvision", {224, 224},
                     [cfg, bn](const ModelOptions& o) {
                       auto layers = vgg({224, 224}, {.config = cfg, .batchnorm = bn, .conv_bias = true,
                                                      .pool_layer = layers::adaptive_avg_pool({7, 7}),
                                                      .dropout_prob = 0.5, .inchannels = o.inchannels,
                                                      .nclasses = o.nclasses});
                       Model m("VGG", layers, o.inchannels);
                       m->features = vgg_features(cfg, bn);
                       return m;
                     }});
    }
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
