// shufflenet.cpp — ShuffleNet V2: torchvision's shufflenet_v2_x0_5 … x2_0.
#include <metalhead/models/shufflenet.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/connections.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/layers/shape.h>

#include "entries.h"

#include <flux/parallel.h>
#include <flux/pooling.h>
#include <flux/printing.h>

#include <array>
#include <stdexcept>

namespace metalhead {
namespace {

struct Width {
  const char* name;  // the registry suffix
  double width_mult;
  std::array<int64_t, 5> planes;
};

constexpr std::array<int64_t, 3> kRepeats = {4, 8, 4};
constexpr Width kWidths[] = {
    {"x0_5", 0.5, {24, 48, 96, 192, 1024}},
    {"x1_0", 1.0, {24, 116, 232, 464, 1024}},
    {"x1_5", 1.5, {24, 176, 352, 704, 1024}},
    {"x2_0", 2.0, {24, 244, 488, 976, 2048}},
};

const Width& width(double width_mult, const std::string& who) {
  for (const auto& w : kWidths) {
    if (w.width_mult == width_mult) return w;
  }
  detail::bad_config(who, "width_mult " + flux::float_string(width_mult), {"0.5", "1.0", "1.5", "2.0"});
}

std::vector<flux::Layer> depthwise_bn(int64_t planes, int64_t stride) {
  return layers::conv_norm({3, 3}, planes, planes, flux::identity, {.stride = stride, .pad = 1, .groups = planes});
}

std::vector<flux::Layer> pointwise(int64_t inplanes, int64_t outplanes) {
  return layers::conv_norm({1, 1}, inplanes, outplanes);
}

}  // namespace

flux::Layer shufflenetv2_unit(int64_t inplanes, int64_t outplanes, int64_t stride) {
  const std::string who = "shufflenetv2_unit(" + std::to_string(inplanes) + ", " + std::to_string(outplanes) + ", " +
                          std::to_string(stride) + ")";
  if (inplanes <= 0 || outplanes <= 0 || outplanes % 2 != 0) {
    throw std::invalid_argument(who + ": expected positive planes with outplanes even");
  }
  if (stride < 1 || stride > 3) throw std::invalid_argument(who + ": stride must be 1, 2 or 3");
  if (stride == 1 && inplanes != outplanes) {
    throw std::invalid_argument(who + ": a stride-1 unit keeps its width (inplanes == outplanes)");
  }
  const int64_t half = outplanes / 2;
  const int64_t in2 = stride == 1 ? half : inplanes;
  flux::Chain branch2(pointwise(in2, half), depthwise_bn(half, stride), pointwise(half, half));
  flux::Parallel split = stride == 1
                             ? flux::Parallel(layers::cat_channels, layers::channel_chunk(2, 0),
                                              flux::Chain(layers::channel_chunk(2, 1), branch2))
                             : flux::Parallel(layers::cat_channels,
                                              flux::Chain(depthwise_bn(inplanes, stride), pointwise(inplanes, half)),
                                              branch2);
  return flux::Chain(split, layers::channel_shuffle(2));
}

flux::Chain build_shufflenetv2(const std::vector<int64_t>& stage_repeats, const std::vector<int64_t>& stage_planes,
                               const ShuffleNetv2Options& o) {
  if (stage_repeats.empty() || stage_planes.size() != stage_repeats.size() + 2) {
    throw std::invalid_argument("build_shufflenetv2: expected the stem's, each stage's and the last conv's planes (" +
                                std::to_string(stage_repeats.size() + 2) + " for " +
                                std::to_string(stage_repeats.size()) + " stages), got " +
                                std::to_string(stage_planes.size()));
  }
  for (int64_t r : stage_repeats) {
    if (r <= 0) throw std::invalid_argument("build_shufflenetv2: stage repeats must be positive, got " + std::to_string(r));
  }
  if (o.inchannels <= 0 || o.nclasses <= 0) {
    throw std::invalid_argument("build_shufflenetv2: inchannels and nclasses must be positive, got " +
                                std::to_string(o.inchannels) + " and " + std::to_string(o.nclasses));
  }
  std::vector<flux::Layer> backbone;
  backbone.emplace_back(flux::Chain(layers::conv_norm({3, 3}, o.inchannels, stage_planes[0], flux::relu,
                                                      {.stride = 2, .pad = 1})));
  backbone.emplace_back(flux::MaxPool({3, 3}, {.pad = 1, .stride = 2}));
  int64_t planes = stage_planes[0];
  for (size_t s = 0; s < stage_repeats.size(); ++s) {
    std::vector<flux::Layer> units;
    for (int64_t i = 0; i < stage_repeats[s]; ++i) {
      units.push_back(shufflenetv2_unit(i == 0 ? planes : stage_planes[s + 1], stage_planes[s + 1], i == 0 ? 2 : 1));
    }
    planes = stage_planes[s + 1];
    backbone.emplace_back(flux::Chain(std::move(units)));
  }
  backbone.emplace_back(flux::Chain(pointwise(planes, stage_planes.back())));
  return flux::Chain(flux::Chain(std::move(backbone)), layers::create_classifier(stage_planes.back(), o.nclasses));
}

flux::Chain shufflenetv2(double width_mult, const ShuffleNetv2Options& options) {
  const Width& w = width(width_mult, "shufflenetv2");
  return build_shufflenetv2({kRepeats.begin(), kRepeats.end()}, {w.planes.begin(), w.planes.end()}, options);
}

ShuffleNetv2::ShuffleNetv2(double width_mult, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const Width& w = width(width_mult, "ShuffleNetv2");
        Model m("ShuffleNetv2", shufflenetv2(width_mult, {.inchannels = o.inchannels, .nclasses = o.nclasses}),
                o.inchannels);
        // The map before each downsampling (the stem, the max pool, stages 2 and 3) and the
        // last conv's: timm has no ShuffleNet.
        m->features.stages = {{w.planes[0], 2, "layers.0.0"}, {w.planes[0], 4, "layers.0.1"},
                              {w.planes[1], 8, "layers.0.2"}, {w.planes[2], 16, "layers.0.3"},
                              {w.planes[4], 32, "layers.0.5"}};
        return m;
      }(), o.pretrain, std::string("shufflenet_v2_") + width(width_mult, "ShuffleNetv2").name)) {}

namespace detail {

std::vector<ModelInfo> shufflenet_entries() {
  std::vector<ModelInfo> out;
  for (const auto& w : kWidths) {
    const double mult = w.width_mult;
    out.push_back({std::string("shufflenet_v2_") + w.name, {}, "ShuffleNetv2", "torchvision", {224, 224},
                   [mult](const ModelOptions& o) { return ShuffleNetv2(mult, o); }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
