// efficientnets.cpp — EfficientNet and EfficientNetv2 as configuration tables.
#include <metalhead/models/efficientnets.h>
#include <metalhead/models/invresmodel.h>

#include "config.h"
#include "entries.h"

#include <map>

namespace metalhead {
namespace {

using flux::swish;
constexpr auto mb = IRBlock::mbconv;
constexpr auto fused = IRBlock::fused_mbconv;
constexpr std::nullopt_t no_se = std::nullopt;

// {block, kernel, outplanes, expansion, stride, repeats, SE reduction, activation}
const std::vector<IRStage>& efficientnet_stages() {
  // Built on first use: the activations it copies are other files' globals.
  static const std::vector<IRStage> table = {
      {mb, 3, 16, 1, 1, 1, 4, swish},  {mb, 3, 24, 6, 2, 2, 4, swish},  {mb, 5, 40, 6, 2, 2, 4, swish},
      {mb, 3, 80, 6, 2, 3, 4, swish},  {mb, 5, 112, 6, 1, 3, 4, swish}, {mb, 5, 192, 6, 2, 4, 4, swish},
      {mb, 3, 320, 6, 1, 1, 4, swish},
  };
  return table;
}

struct V1Size {
  int64_t imsize;
  double width_mult, depth_mult, dropout;
  double bn_eps;  // b5–b7 carry TensorFlow's epsilon in torchvision
};

const std::map<std::string, V1Size> efficientnet_sizes = {
    {"b0", {224, 1.0, 1.0, 0.2, 1e-5}}, {"b1", {240, 1.0, 1.1, 0.2, 1e-5}}, {"b2", {288, 1.1, 1.2, 0.3, 1e-5}},
    {"b3", {300, 1.2, 1.4, 0.3, 1e-5}}, {"b4", {380, 1.4, 1.8, 0.4, 1e-5}}, {"b5", {456, 1.6, 2.2, 0.4, 1e-3}},
    {"b6", {528, 1.8, 2.6, 0.5, 1e-3}}, {"b7", {600, 2.0, 3.1, 0.5, 1e-3}}, {"b8", {672, 2.2, 3.6, 0.5, 1e-5}},
};

struct V2Config {
  int64_t imsize;
  double dropout;
  std::vector<IRStage> stages;
};

const std::map<std::string, V2Config>& efficientnetv2_configs() {
  // Built on first use: the activations it copies are other files' globals.
  static const std::map<std::string, V2Config> table = {
      {"small",
       {384, 0.2,
        {{fused, 3, 24, 1, 1, 2, no_se, swish},
         {fused, 3, 48, 4, 2, 4, no_se, swish},
         {fused, 3, 64, 4, 2, 4, no_se, swish},
         {mb, 3, 128, 4, 2, 6, 4, swish},
         {mb, 3, 160, 6, 1, 9, 4, swish},
         {mb, 3, 256, 6, 2, 15, 4, swish}}}},
      {"medium",
       {480, 0.3,
        {{fused, 3, 24, 1, 1, 3, no_se, swish},
         {fused, 3, 48, 4, 2, 5, no_se, swish},
         {fused, 3, 80, 4, 2, 5, no_se, swish},
         {mb, 3, 160, 4, 2, 7, 4, swish},
         {mb, 3, 176, 6, 1, 14, 4, swish},
         {mb, 3, 304, 6, 2, 18, 4, swish},
         {mb, 3, 512, 6, 1, 5, 4, swish}}}},
      {"large",
       {480, 0.4,
        {{fused, 3, 32, 1, 1, 4, no_se, swish},
         {fused, 3, 64, 4, 2, 7, no_se, swish},
         {fused, 3, 96, 4, 2, 7, no_se, swish},
         {mb, 3, 192, 4, 2, 10, 4, swish},
         {mb, 3, 224, 6, 1, 19, 4, swish},
         {mb, 3, 384, 6, 2, 25, 4, swish},
         {mb, 3, 640, 6, 1, 7, 4, swish}}}},
      {"xlarge",
       {512, 0.4,
        {{fused, 3, 32, 1, 1, 4, no_se, swish},
         {fused, 3, 64, 4, 2, 8, no_se, swish},
         {fused, 3, 96, 4, 2, 8, no_se, swish},
         {mb, 3, 192, 4, 2, 16, 4, swish},
         {mb, 3, 256, 6, 1, 24, 4, swish},
         {mb, 3, 512, 6, 2, 32, 4, swish},
         {mb, 3, 640, 6, 1, 8, 4, swish}}}},
  };
  return table;
}

// The builder's options: what efficientnet(...) and efficientnetv2(...) build, and what
// their feature stages are read from.
InvResModelOptions efficientnet_options(const V1Size& s, const EfficientNetOptions& o) {
  const int64_t last = scaled_planes(static_cast<double>(efficientnet_stages().back().outplanes), s.width_mult);
  const double momentum = s.bn_eps == 1e-3 ? 0.01 : 0.1;
  return {.width_mult = s.width_mult,
          .depth_mult = s.depth_mult,
          .inplanes = 32,
          .stem_activation = swish,
          .norm_layer = o.norm_layer.value_or(layers::batch_norm({.eps = s.bn_eps, .momentum = momentum})),
          .stochastic_depth_prob = o.stochastic_depth_prob,
          .headplanes = 4 * last,
          .dropout_prob = o.dropout_prob.value_or(s.dropout),
          .inchannels = o.inchannels,
          .nclasses = o.nclasses};
}

InvResModelOptions efficientnetv2_options(const V2Config& c, const EfficientNetOptions& o) {
  return {.inplanes = c.stages.front().outplanes,
          .stem_activation = swish,
          .norm_layer = o.norm_layer.value_or(layers::batch_norm({.eps = 1e-3})),
          .stochastic_depth_prob = o.stochastic_depth_prob,
          .headplanes = 1280,
          .dropout_prob = o.dropout_prob.value_or(c.dropout),
          .inchannels = o.inchannels,
          .nclasses = o.nclasses};
}

// EfficientNetv2 configurations and their names' suffixes (efficientnet_v2_s, ...).
constexpr std::pair<const char*, const char*> kV2Suffixes[] = {
    {"small", "s"}, {"medium", "m"}, {"large", "l"}, {"xlarge", "xl"}};

}  // namespace

flux::Chain efficientnet(const std::string& config, const EfficientNetOptions& o) {
  const auto& s = detail::lookup_config(efficientnet_sizes, "efficientnet", config);
  return build_invresmodel(efficientnet_stages(), efficientnet_options(s, o));
}

flux::Chain efficientnetv2(const std::string& config, const EfficientNetOptions& o) {
  const auto& c = detail::lookup_config(efficientnetv2_configs(), "efficientnetv2", config);
  return build_invresmodel(c.stages, efficientnetv2_options(c, o));
}

int64_t efficientnet_imsize(const std::string& config) {
  if (efficientnet_sizes.count(config)) return efficientnet_sizes.at(config).imsize;
  return detail::lookup_config(efficientnetv2_configs(), "efficientnet_imsize", config).imsize;
}

// The head's 1×1 conv (1280 planes at b0) is in timm's forward_features but not a
// feature stage: the stages end at the last block stage.
EfficientNet::EfficientNet(const std::string& config, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const EfficientNetOptions options{.inchannels = o.inchannels, .nclasses = o.nclasses};
        Model m("EfficientNet", efficientnet(config, options), o.inchannels);
        const auto& s = efficientnet_sizes.at(config);
        m->features = invresmodel_features(efficientnet_stages(), efficientnet_options(s, options));
        return m;
      }(), o.pretrain, "efficientnet_" + config)) {}

EfficientNetv2::EfficientNetv2(const std::string& config, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const EfficientNetOptions options{.inchannels = o.inchannels, .nclasses = o.nclasses};
        Model m("EfficientNetv2", efficientnetv2(config, options), o.inchannels);
        const auto& c = efficientnetv2_configs().at(config);
        m->features = invresmodel_features(c.stages, efficientnetv2_options(c, options));
        return m;
      }(), o.pretrain, [&]() -> std::string {
        // timm's name, a row or an alias of one for every size (pretrained takes the row's).
        for (auto [c, suffix] : kV2Suffixes) {
          if (config == c) return std::string("tf_efficientnetv2_") + suffix;
        }
        return "";
      }())) {}

namespace detail {

std::vector<ModelInfo> efficientnet_entries() {
  std::vector<ModelInfo> out;
  for (const auto& [c, s] : efficientnet_sizes) {
    out.push_back({"efficientnet_" + c, {}, "EfficientNet", c == "b8" ? "timm" : "torchvision", {s.imsize, s.imsize},
                   [c = c](const ModelOptions& o) { return EfficientNet(c, o); }});
  }
  for (auto [c, suffix] : kV2Suffixes) {
    const int64_t size = efficientnetv2_configs().at(c).imsize;
    std::string tv = std::string("efficientnet_v2_") + suffix, tf = std::string("tf_efficientnetv2_") + suffix;
    const bool xl = std::string(c) == "xlarge";
    out.push_back({xl ? tf : tv, {xl ? tv : tf}, "EfficientNetv2", xl ? "timm" : "torchvision", {size, size},
                   [c = std::string(c)](const ModelOptions& o) { return EfficientNetv2(c, o); }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
