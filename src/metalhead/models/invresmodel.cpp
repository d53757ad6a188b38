// invresmodel.cpp — build_invresmodel, the builder of every MobileNet and EfficientNet.
#include <metalhead/models/invresmodel.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/mbconv.h>
#include <metalhead/layers/squeeze_excite.h>

#include <flux/connection.h>
#include <flux/skip_connection.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

namespace metalhead {
namespace {

void append(std::vector<flux::Layer>& layers, const std::vector<flux::Layer>& more) {
  layers.insert(layers.end(), more.begin(), more.end());
}

flux::Layer block(const IRStage& s, int64_t in, int64_t out, int64_t stride, std::optional<double> sd_prob,
                  const InvResModelOptions& o) {
  const std::vector<int64_t> k = {s.kernel, s.kernel};
  if (s.block == IRBlock::dwsep) {
    std::vector<flux::Layer> l = layers::conv_norm(
        k, in, in, s.activation, {.norm_layer = o.norm_layer, .stride = stride, .pad = flux::SamePad{}, .groups = in});
    append(l, layers::conv_norm({1, 1}, in, out, o.dwsep_pw_activation ? s.activation : flux::identity,
                                {.norm_layer = o.norm_layer}));
    if (o.dwsep_skip && stride == 1 && in == out) return flux::SkipConnection(flux::Chain(std::move(l)), flux::plus);
    return flux::Chain(std::move(l));
  }
  const int64_t explanes = scaled_planes(static_cast<double>(in) * s.expansion, 1, o.divisor);
  std::optional<double> reduction;
  if (s.reduction) reduction = o.se_from_explanes ? *s.reduction : *s.reduction * s.expansion;
  std::function<int64_t(double)> se_round = [](double c) { return std::llround(c); };
  if (o.se_round) se_round = [d = o.divisor](double c) { return layers::round_channels(c, d, d); };
  return layers::invertedresidual(k, in, explanes, out, s.activation,
                                  {.block = {.stride = stride,
                                             .reduction = reduction,
                                             .se_round_fn = se_round,
                                             .norm_layer = o.norm_layer,
                                             .se_activation = o.se_activation,
                                             .se_gate_activation = o.se_gate_activation},
                                   .fused = s.block == IRBlock::fused_mbconv,
                                   .stochastic_depth_prob = sd_prob});
}

// How many layers conv_norm splices in: the conv, then what the norm layer makes (one
// BatchNorm with the activation fused, or a norm and a separate activation).
size_t conv_norm_length(const layers::NormLayer& norm, int64_t planes, const flux::Activation& activation) {
  return norm ? 1 + norm(planes, activation).size() : 1;
}

}  // namespace

int64_t scaled_planes(double planes, double width_mult, int64_t divisor) {
  return layers::round_channels(planes * width_mult, divisor, divisor);
}

flux::Chain build_invresmodel(const std::vector<IRStage>& stages, const InvResModelOptions& o) {
  if (stages.empty()) throw std::invalid_argument("build_invresmodel: the configuration table has no stages");
  std::vector<int64_t> repeats;
  int64_t nblocks = 0;
  for (const auto& s : stages) {
    repeats.push_back(static_cast<int64_t>(std::ceil(static_cast<double>(s.repeats) * o.depth_mult)));
    nblocks += repeats.back();
  }
  int64_t inplanes = scaled_planes(static_cast<double>(o.inplanes), o.width_mult, o.divisor);
  std::vector<flux::Layer> backbone = layers::conv_norm(
      {3, 3}, o.inchannels, inplanes, o.stem_activation, {.norm_layer = o.norm_layer, .stride = 2, .pad = 1});
  int64_t index = 0;  // over all blocks: torchvision's stochastic depth schedule counts every block
  for (size_t i = 0; i < stages.size(); ++i) {
    const int64_t outplanes = scaled_planes(static_cast<double>(stages[i].outplanes), o.width_mult, o.divisor);
    std::vector<flux::Layer> stage;
    for (int64_t j = 0; j < repeats[i]; ++j, ++index) {
      std::optional<double> sd;
      if (o.stochastic_depth_prob) sd = *o.stochastic_depth_prob * static_cast<double>(index) / nblocks;
      stage.push_back(block(stages[i], j == 0 ? inplanes : outplanes, outplanes, j == 0 ? stages[i].stride : 1, sd, o));
    }
    backbone.push_back(flux::Chain(std::move(stage)));
    inplanes = outplanes;
  }
  if (o.headplanes > 0) {
    append(backbone, layers::conv_norm({1, 1}, inplanes, o.headplanes, stages.back().activation,
                                       {.norm_layer = o.norm_layer}));
    inplanes = o.headplanes;
  }
  flux::Chain classifier =
      o.hidden_planes ? layers::create_classifier(inplanes, *o.hidden_planes, o.nclasses,
                                                  {flux::hardswish, flux::identity},
                                                  {.dropout_prob = o.dropout_prob.value_or(0.0)})
                      // A Dropout slot even at rate 0: stable tensor names.
                      : layers::create_classifier(inplanes, o.nclasses, flux::identity,
                                                  {.dropout_prob = o.dropout_prob.value_or(0.0)});
  return flux::Chain(flux::Chain(std::move(backbone)), classifier);
}

FeatureSpec invresmodel_features(const std::vector<IRStage>& stages, const InvResModelOptions& o, bool head_is_stage) {
  if (stages.empty()) throw std::invalid_argument("invresmodel_features: the configuration table has no stages");
  auto at = [](size_t index) { return "layers.0." + std::to_string(index); };
  // The end of every part of the backbone, in order, as build_invresmodel lays it out.
  const int64_t stem = scaled_planes(static_cast<double>(o.inplanes), o.width_mult, o.divisor);
  size_t index = conv_norm_length(o.norm_layer, stem, o.stem_activation);
  int64_t reduction = 2;
  std::vector<FeatureInfo> ends = {{stem, reduction, at(index - 1)}};
  for (const auto& s : stages) {
    reduction *= s.stride;
    ends.push_back({scaled_planes(static_cast<double>(s.outplanes), o.width_mult, o.divisor), reduction, at(index++)});
  }
  if (head_is_stage && o.headplanes > 0) {
    index += conv_norm_length(o.norm_layer, o.headplanes, stages.back().activation);
    ends.push_back({o.headplanes, reduction, at(index - 1)});
  }
  FeatureSpec spec;
  for (size_t i = 0; i < ends.size(); ++i) {
    if (i + 1 == ends.size() || ends[i + 1].reduction != ends[i].reduction) spec.stages.push_back(ends[i]);
  }
  return spec;
}

}  // namespace metalhead
