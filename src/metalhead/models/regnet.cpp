// regnet.cpp — RegNet X and Y: torchvision's regnet_x_* and regnet_y_*.
#include <metalhead/models/regnet.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/connections.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/layers/squeeze_excite.h>

#include "config.h"
#include "entries.h"

#include <flux/parallel.h>

#include <cmath>
#include <stdexcept>

namespace metalhead {
namespace {

struct Config {
  const char* name;
  RegNetParams params;
  const char* timm;  // timm's row of the same architecture
};

const Config kRegNetConfigs[] = {
    {"x_400mf", {.depth = 22, .w_0 = 24, .w_a = 24.48, .w_m = 2.54, .group_width = 16}, "regnetx_004_tv"},
    {"x_800mf", {.depth = 16, .w_0 = 56, .w_a = 35.73, .w_m = 2.28, .group_width = 16}, "regnetx_008"},
    {"x_1_6gf", {.depth = 18, .w_0 = 80, .w_a = 34.01, .w_m = 2.25, .group_width = 24}, "regnetx_016"},
    {"x_3_2gf", {.depth = 25, .w_0 = 88, .w_a = 26.31, .w_m = 2.25, .group_width = 48}, "regnetx_032"},
    {"x_8gf", {.depth = 23, .w_0 = 80, .w_a = 49.56, .w_m = 2.88, .group_width = 120}, "regnetx_080"},
    {"x_16gf", {.depth = 22, .w_0 = 216, .w_a = 55.59, .w_m = 2.1, .group_width = 128}, "regnetx_160"},
    {"x_32gf", {.depth = 23, .w_0 = 320, .w_a = 69.86, .w_m = 2.0, .group_width = 168}, "regnetx_320"},
    {"y_400mf", {.depth = 16, .w_0 = 48, .w_a = 27.89, .w_m = 2.09, .group_width = 8, .se_ratio = 0.25}, "regnety_004"},
    {"y_800mf", {.depth = 14, .w_0 = 56, .w_a = 38.84, .w_m = 2.4, .group_width = 16, .se_ratio = 0.25}, "regnety_008_tv"},
    {"y_1_6gf", {.depth = 27, .w_0 = 48, .w_a = 20.71, .w_m = 2.65, .group_width = 24, .se_ratio = 0.25}, "regnety_016"},
    {"y_3_2gf", {.depth = 21, .w_0 = 80, .w_a = 42.63, .w_m = 2.66, .group_width = 24, .se_ratio = 0.25}, "regnety_032"},
    {"y_8gf", {.depth = 17, .w_0 = 192, .w_a = 76.82, .w_m = 2.19, .group_width = 56, .se_ratio = 0.25}, "regnety_080_tv"},
    {"y_16gf", {.depth = 18, .w_0 = 200, .w_a = 106.23, .w_m = 2.48, .group_width = 112, .se_ratio = 0.25}, "regnety_160"},
    {"y_32gf", {.depth = 20, .w_0 = 232, .w_a = 115.89, .w_m = 2.53, .group_width = 232, .se_ratio = 0.25}, "regnety_320"},
    {"y_128gf", {.depth = 27, .w_0 = 456, .w_a = 160.83, .w_m = 2.52, .group_width = 264, .se_ratio = 0.25}, "regnety_1280"},
};

// Python's round(): halves to even, as std::nearbyint in the default rounding mode.
int64_t round_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

}  // namespace

std::vector<RegNetStage> regnet_stages(const RegNetParams& p) {
  if (p.depth <= 0 || p.w_0 <= 0 || p.w_0 % 8 != 0 || !(p.w_a >= 0) || !(p.w_m > 1) || p.group_width <= 0 ||
      !(p.bottleneck_ratio > 0) || !(p.se_ratio >= 0)) {
    throw std::invalid_argument("regnet_stages: expected depth > 0, w_0 > 0 a multiple of 8, w_a >= 0, w_m > 1, "
                                "group_width > 0, bottleneck_ratio > 0 and se_ratio >= 0; got depth " +
                                std::to_string(p.depth) + ", w_0 " + std::to_string(p.w_0) + ", w_a " +
                                std::to_string(p.w_a) + ", w_m " + std::to_string(p.w_m));
  }
  // torchvision computes the widths in float32 tensors: the same arithmetic, so that a
  // width near a rounding boundary quantises as the weights' architecture.
  const float w0 = static_cast<float>(p.w_0), wa = static_cast<float>(p.w_a), wm = static_cast<float>(p.w_m);
  const float log_wm = static_cast<float>(std::log(p.w_m));
  std::vector<RegNetStage> stages;
  for (int64_t j = 0; j < p.depth; ++j) {
    const float continuous = static_cast<float>(j) * wa + w0;
    const float k = std::nearbyint(std::log(continuous / w0) / log_wm);
    const auto width = static_cast<int64_t>(std::nearbyint(w0 * std::pow(wm, k) / 8.0f) * 8.0f);
    if (stages.empty() || stages.back().width != width) stages.push_back({width, 0, p.group_width});
    ++stages.back().depth;
  }
  for (RegNetStage& s : stages) {
    const auto bottleneck = static_cast<int64_t>(static_cast<double>(s.width) * p.bottleneck_ratio);
    s.group_width = std::min(s.group_width, bottleneck);
    const int64_t divisible = layers::round_channels(static_cast<double>(bottleneck), s.group_width, s.group_width);
    s.width = static_cast<int64_t>(static_cast<double>(divisible) / p.bottleneck_ratio);
  }
  return stages;
}

flux::Layer regnet_block(int64_t inplanes, int64_t outplanes, int64_t stride, int64_t group_width,
                         double bottleneck_ratio, double se_ratio) {
  const std::string who = "regnet_block(" + std::to_string(inplanes) + ", " + std::to_string(outplanes) + ")";
  if (inplanes <= 0 || outplanes <= 0 || stride <= 0 || group_width <= 0 || !(bottleneck_ratio > 0) ||
      !(se_ratio >= 0)) {
    throw std::invalid_argument(who + ": expected positive planes, stride, group_width and bottleneck_ratio, and "
                                "se_ratio >= 0");
  }
  const int64_t wb = round_even(static_cast<double>(outplanes) * bottleneck_ratio);
  if (wb % group_width != 0) {
    throw std::invalid_argument(who + ": the bottleneck width " + std::to_string(wb) +
                                " is not a multiple of the group width " + std::to_string(group_width));
  }
  flux::Chain f(layers::conv_norm({1, 1}, inplanes, wb),
                layers::conv_norm({3, 3}, wb, wb, flux::relu, {.stride = stride, .pad = 1, .groups = wb / group_width}));
  if (se_ratio > 0) {
    const int64_t squeeze = round_even(se_ratio * static_cast<double>(inplanes));
    f->push_back(layers::squeeze_excite(wb, {.reduction = 1, .round_fn = [squeeze](double) { return squeeze; }}));
  }
  for (auto& layer : layers::conv_norm({1, 1}, wb, outplanes, flux::identity)) f->push_back(layer);
  flux::Layer shortcut = flux::identity;
  if (inplanes != outplanes || stride != 1) {
    shortcut = flux::Chain(layers::conv_norm({1, 1}, inplanes, outplanes, flux::identity, {.stride = stride}));
  }
  return flux::Parallel(layers::addact(flux::relu), shortcut, f);
}

flux::Chain build_regnet(const RegNetParams& params, const RegNetOptions& o) {
  if (o.stem_width <= 0 || o.inchannels <= 0 || o.nclasses <= 0) {
    throw std::invalid_argument("build_regnet: stem_width, inchannels and nclasses must be positive, got " +
                                std::to_string(o.stem_width) + ", " + std::to_string(o.inchannels) + " and " +
                                std::to_string(o.nclasses));
  }
  std::vector<flux::Layer> backbone;
  backbone.emplace_back(
      flux::Chain(layers::conv_norm({3, 3}, o.inchannels, o.stem_width, flux::relu, {.stride = 2, .pad = 1})));
  int64_t planes = o.stem_width;
  for (const RegNetStage& s : regnet_stages(params)) {
    std::vector<flux::Layer> blocks;
    for (int64_t i = 0; i < s.depth; ++i) {
      blocks.push_back(regnet_block(i == 0 ? planes : s.width, s.width, i == 0 ? 2 : 1, s.group_width,
                                    params.bottleneck_ratio, params.se_ratio));
    }
    planes = s.width;
    backbone.emplace_back(flux::Chain(std::move(blocks)));
  }
  return flux::Chain(flux::Chain(std::move(backbone)), layers::create_classifier(planes, o.nclasses));
}

const RegNetParams& regnet_params(const std::string& config) {
  return detail::find_config(kRegNetConfigs, config, "regnet").params;
}

flux::Chain regnet(const std::string& config, const RegNetOptions& options) {
  return build_regnet(regnet_params(config), options);
}

RegNet::RegNet(const std::string& config, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const RegNetParams& p = detail::find_config(kRegNetConfigs, config, "RegNet").params;
        Model m("RegNet", build_regnet(p, {.inchannels = o.inchannels, .nclasses = o.nclasses}), o.inchannels);
        // timm's feature_info: the stem, then each stage.
        m->features.stages.push_back({32, 2, "layers.0.0"});
        const auto stages = regnet_stages(p);
        for (size_t i = 0; i < stages.size(); ++i) {
          m->features.stages.push_back({stages[i].width, int64_t{4} << i, "layers.0." + std::to_string(i + 1)});
        }
        return m;
      }(), o.pretrain, "regnet_" + config)) {}

namespace detail {

std::vector<ModelInfo> regnet_entries() {
  std::vector<ModelInfo> out;
  for (const auto& c : kRegNetConfigs) {
    std::string config = c.name;
    out.push_back({"regnet_" + config, {c.timm}, "RegNet", "torchvision", {224, 224},
                   [config](const ModelOptions& o) { return RegNet(config, o); }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
