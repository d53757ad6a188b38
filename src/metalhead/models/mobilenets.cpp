// mobilenets.cpp — MobileNetv1/v2/v3 and MNASNet as configuration tables.
#include <metalhead/models/invresmodel.h>
#include <metalhead/models/mobilenets.h>

#include "config.h"
#include "entries.h"

#include <map>

namespace metalhead {
namespace {

using flux::hardswish;
using flux::relu;
using flux::relu6;
constexpr auto dwsep = IRBlock::dwsep;
constexpr auto mb = IRBlock::mbconv;
constexpr std::nullopt_t no_se = std::nullopt;

// {block, kernel, outplanes, expansion, stride, repeats, SE reduction, activation}
const std::vector<IRStage>& mobilenetv1_stages() {
  // Built on first use: the activations it copies are other files' globals.
  static const std::vector<IRStage> table = {
      {dwsep, 3, 64, 1, 1, 1, no_se, relu6},   {dwsep, 3, 128, 1, 2, 2, no_se, relu6},
      {dwsep, 3, 256, 1, 2, 2, no_se, relu6},  {dwsep, 3, 512, 1, 2, 6, no_se, relu6},
      {dwsep, 3, 1024, 1, 2, 2, no_se, relu6},
  };
  return table;
}

const std::vector<IRStage>& mobilenetv2_stages() {
  // Built on first use: the activations it copies are other files' globals.
  static const std::vector<IRStage> table = {
      {mb, 3, 16, 1, 1, 1, no_se, relu6},  {mb, 3, 24, 6, 2, 2, no_se, relu6},  {mb, 3, 32, 6, 2, 3, no_se, relu6},
      {mb, 3, 64, 6, 2, 4, no_se, relu6},  {mb, 3, 96, 6, 1, 3, no_se, relu6},  {mb, 3, 160, 6, 2, 3, no_se, relu6},
      {mb, 3, 320, 6, 1, 1, no_se, relu6},
  };
  return table;
}

struct V3Config {
  int64_t hidden;  // the classifier's hidden Dense
  std::vector<IRStage> stages;
};

// Expansions are ratios of the block's inplanes (3.67 · 24 rounds to torchvision's 88).
const std::map<std::string, V3Config>& mobilenetv3_configs() {
  // Built on first use: the activations it copies are other files' globals.
  static const std::map<std::string, V3Config> table = {
      {"small",
       {1024,
        {{mb, 3, 16, 1, 2, 1, 4, relu},
         {mb, 3, 24, 4.5, 2, 1, no_se, relu},
         {mb, 3, 24, 3.67, 1, 1, no_se, relu},
         {mb, 5, 40, 4, 2, 1, 4, hardswish},
         {mb, 5, 40, 6, 1, 2, 4, hardswish},
         {mb, 5, 48, 3, 1, 2, 4, hardswish},
         {mb, 5, 96, 6, 2, 3, 4, hardswish}}}},
      {"large",
       {1280,
        {{mb, 3, 16, 1, 1, 1, no_se, relu},
         {mb, 3, 24, 4, 2, 1, no_se, relu},
         {mb, 3, 24, 3, 1, 1, no_se, relu},
         {mb, 5, 40, 3, 2, 3, 4, relu},
         {mb, 3, 80, 6, 2, 1, no_se, hardswish},
         {mb, 3, 80, 2.5, 1, 1, no_se, hardswish},
         {mb, 3, 80, 2.3, 1, 2, no_se, hardswish},
         {mb, 3, 112, 6, 1, 2, 4, hardswish},
         {mb, 5, 160, 6, 2, 3, 4, hardswish}}}},
  };
  return table;
}

struct MNASNetConfig {
  int64_t inplanes;
  std::vector<IRStage> stages;
};

const std::map<std::string, MNASNetConfig>& mnasnet_configs() {
  // Built on first use: the activations it copies are other files' globals.
  static const std::map<std::string, MNASNetConfig> table = {
      {"B1",
       {32,
        {{dwsep, 3, 16, 1, 1, 1, no_se, relu},
         {mb, 3, 24, 3, 2, 3, no_se, relu},
         {mb, 5, 40, 3, 2, 3, no_se, relu},
         {mb, 5, 80, 6, 2, 3, no_se, relu},
         {mb, 3, 96, 6, 1, 2, no_se, relu},
         {mb, 5, 192, 6, 2, 4, no_se, relu},
         {mb, 3, 320, 6, 1, 1, no_se, relu}}}},
      {"A1",
       {32,
        {{dwsep, 3, 16, 1, 1, 1, no_se, relu},
         {mb, 3, 24, 6, 2, 2, no_se, relu},
         {mb, 5, 40, 3, 2, 3, 4, relu},
         {mb, 3, 80, 6, 2, 4, no_se, relu},
         {mb, 3, 112, 6, 1, 2, 4, relu},
         {mb, 5, 160, 6, 2, 3, 4, relu},
         {mb, 3, 320, 6, 1, 1, no_se, relu}}}},
      {"small",
       {8,
        {{dwsep, 3, 8, 1, 1, 1, no_se, relu},
         {mb, 3, 16, 3, 2, 1, no_se, relu},
         {mb, 3, 16, 6, 2, 2, no_se, relu},
         {mb, 5, 32, 6, 2, 4, 4, relu},
         {mb, 3, 32, 6, 1, 3, 4, relu},
         {mb, 5, 88, 6, 2, 3, 4, relu},
         {mb, 3, 144, 6, 1, 1, no_se, relu}}}},
  };
  return table;
}

// The builder's options for each model: what mobilenetv1(...) and friends build, and
// what their feature stages are read from.
InvResModelOptions mobilenetv1_options(const MobileNetv1Options& o) {
  return {.width_mult = o.width_mult,
          .inplanes = o.inplanes,
          .stem_activation = relu6,
          .dropout_prob = o.dropout_prob,
          .inchannels = o.inchannels,
          .nclasses = o.nclasses};
}

InvResModelOptions mobilenetv2_options(const MobileNetv2Options& o) {
  return {.width_mult = o.width_mult,
          .inplanes = o.inplanes,
          .stem_activation = relu6,
          .headplanes = scaled_planes(static_cast<double>(o.max_width), std::max(1.0, o.width_mult)),
          .dropout_prob = o.dropout_prob,
          .inchannels = o.inchannels,
          .nclasses = o.nclasses};
}

InvResModelOptions mobilenetv3_options(const V3Config& c, const MobileNetv3Options& o) {
  const int64_t last = scaled_planes(static_cast<double>(c.stages.back().outplanes), o.width_mult);
  return {.width_mult = o.width_mult,
          .inplanes = 16,
          .stem_activation = hardswish,
          .norm_layer = layers::batch_norm({.eps = 1e-3, .momentum = 0.01}),
          .se_from_explanes = true,
          .se_round = true,
          .se_activation = relu,
          .se_gate_activation = flux::hardsigmoid,
          .headplanes = 6 * last,
          .hidden_planes = scaled_planes(static_cast<double>(c.hidden), o.width_mult),
          .dropout_prob = o.dropout_prob,
          .inchannels = o.inchannels,
          .nclasses = o.nclasses};
}

InvResModelOptions mnasnet_options(const std::string& config, const MNASNetConfig& c, const MNASNetOptions& o) {
  return {.width_mult = o.width_mult,
          .inplanes = c.inplanes,
          .norm_layer = layers::batch_norm({.momentum = 3e-4}),
          .dwsep_pw_activation = false,
          .dwsep_skip = config == "small",
          .headplanes = o.max_width,
          .dropout_prob = o.dropout_prob,
          .inchannels = o.inchannels,
          .nclasses = o.nclasses};
}

// torchvision's MNASNet B1 rows by width multiplier.
constexpr std::pair<const char*, double> kMNASNetWidths[] = {
    {"mnasnet0_5", 0.5}, {"mnasnet0_75", 0.75}, {"mnasnet1_0", 1.0}, {"mnasnet1_3", 1.3}};

}  // namespace

flux::Chain mobilenetv1(const MobileNetv1Options& o) {
  return build_invresmodel(mobilenetv1_stages(), mobilenetv1_options(o));
}

flux::Chain mobilenetv2(const MobileNetv2Options& o) {
  return build_invresmodel(mobilenetv2_stages(), mobilenetv2_options(o));
}

flux::Chain mobilenetv3(const std::string& config, const MobileNetv3Options& o) {
  const auto& c = detail::lookup_config(mobilenetv3_configs(), "mobilenetv3", config);
  return build_invresmodel(c.stages, mobilenetv3_options(c, o));
}

flux::Chain mnasnet(const std::string& config, const MNASNetOptions& o) {
  const auto& c = detail::lookup_config(mnasnet_configs(), "mnasnet", config);
  return build_invresmodel(c.stages, mnasnet_options(config, c, o));
}

MobileNetv1::MobileNetv1(double width_mult, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const MobileNetv1Options options{.width_mult = width_mult, .inchannels = o.inchannels, .nclasses = o.nclasses};
        Model m("MobileNetv1", mobilenetv1(options), o.inchannels);
        m->features = invresmodel_features(mobilenetv1_stages(), mobilenetv1_options(options));
        return m;
      }(), o.pretrain, width_mult == 1.0 ? "mobilenetv1_100" : "")) {}

MobileNetv2::MobileNetv2(double width_mult, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const MobileNetv2Options options{.width_mult = width_mult, .inchannels = o.inchannels, .nclasses = o.nclasses};
        Model m("MobileNetv2", mobilenetv2(options), o.inchannels);
        // The 1280-wide last conv is not a stage: timm's feature_info ends at the 320 planes.
        m->features = invresmodel_features(mobilenetv2_stages(), mobilenetv2_options(options));
        return m;
      }(), o.pretrain, width_mult == 1.0 ? "mobilenet_v2" : "")) {}

MobileNetv3::MobileNetv3(const std::string& config, const ModelOptions& o, double width_mult)
    : Model(detail::pretrained([&] {
        const MobileNetv3Options options{.width_mult = width_mult, .inchannels = o.inchannels, .nclasses = o.nclasses};
        Model m("MobileNetv3", mobilenetv3(config, options), o.inchannels);
        // timm's MobileNetv3 counts the last 1×1 conv (960 or 576 planes) as its last stage.
        const auto& c = mobilenetv3_configs().at(config);
        m->features = invresmodel_features(c.stages, mobilenetv3_options(c, options), true);
        return m;
      }(), o.pretrain, width_mult == 1.0 ? "mobilenet_v3_" + config : "")) {}

MNASNet::MNASNet(const std::string& config, const ModelOptions& o, double width_mult)
    : Model(detail::pretrained([&] {
        const MNASNetOptions options{.width_mult = width_mult, .inchannels = o.inchannels, .nclasses = o.nclasses};
        Model m("MNASNet", mnasnet(config, options), o.inchannels);
        const auto& c = mnasnet_configs().at(config);
        m->features = invresmodel_features(c.stages, mnasnet_options(config, c, options));
        return m;
      }(), o.pretrain, [&]() -> std::string {
        if (config == "B1") {
          for (auto [name, w] : kMNASNetWidths) {
            if (w == width_mult) return name;
          }
          return "";
        }
        if (width_mult != 1.0) return "";
        return config == "A1" ? "semnasnet_100" : config == "small" ? "mnasnet_small" : "";
      }())) {}

namespace detail {

std::vector<ModelInfo> mobilenet_entries() {
  std::vector<ModelInfo> out;
  auto add = [&](std::string name, std::vector<std::string> aliases, std::string family, std::string source,
                 std::function<Model(const ModelOptions&)> build) {
    out.push_back({std::move(name), std::move(aliases), std::move(family), std::move(source), {224, 224}, std::move(build)});
  };
  add("mobilenetv1_100", {"mobilenet_v1"}, "MobileNetv1", "timm", [](const ModelOptions& o) { return MobileNetv1(1, o); });
  add("mobilenet_v2", {}, "MobileNetv2", "torchvision", [](const ModelOptions& o) { return MobileNetv2(1, o); });
  for (std::string c : {"small", "large"}) {
    add("mobilenet_v3_" + c, {}, "MobileNetv3", "torchvision", [c](const ModelOptions& o) { return MobileNetv3(c, o); });
  }
  for (auto [name, width] : kMNASNetWidths) {
    std::vector<std::string> aliases;
    if (width == 1.0) aliases = {"mnasnet_100", "mnasnet_b1"};
    add(name, aliases, "MNASNet", "torchvision", [w = width](const ModelOptions& o) { return MNASNet("B1", o, w); });
  }
  add("semnasnet_100", {"mnasnet_a1"}, "MNASNet", "timm", [](const ModelOptions& o) { return MNASNet("A1", o); });
  add("mnasnet_small", {}, "MNASNet", "timm", [](const ModelOptions& o) { return MNASNet("small", o); });
  return out;
}

}  // namespace detail
}  // namespace metalhead
