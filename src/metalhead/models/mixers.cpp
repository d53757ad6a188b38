// mixers.cpp — MLPMixer, ResMLP and gMLP: three blocks and one builder (Metalhead's
// src/mixers), each exactly timm's MlpMixer with its block_layer.
#include <metalhead/models/mixers.h>

#include <metalhead/layers/drop.h>
#include <metalhead/layers/embeddings.h>
#include <metalhead/layers/normalise.h>
#include <metalhead/layers/scale.h>
#include <metalhead/layers/shape.h>

#include "config.h"
#include "entries.h"

#include <flux/connection.h>
#include <flux/dense.h>
#include <flux/dropout.h>
#include <flux/scale.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace metalhead {
namespace {

// Configurations. MLPMixer's and Metalhead's ResMLP sizes are Metalhead's MIXER_CONFIGS;
// timm's ResMLP and gMLP rows are its registered models.
struct MixerSize {
  std::string_view name;
  int64_t depth, embedplanes;
};
constexpr MixerSize kMixerSizes[] = {{"small", 8, 512}, {"base", 12, 768}, {"large", 24, 1024}, {"huge", 32, 1280}};

struct ResMLPConfig {
  std::string_view name;
  int64_t depth, embedplanes, patch_size;
  double layerscale_init;
};
constexpr ResMLPConfig kResMLPConfigs[] = {
    {"12", 12, 384, 16, 1e-4},     {"24", 24, 384, 16, 1e-5},      {"36", 36, 384, 16, 1e-6},
    {"big_24", 24, 768, 8, 1e-6},  {"small", 8, 512, 16, 1e-4},    {"base", 12, 768, 16, 1e-4},
    {"large", 24, 1024, 16, 1e-4}, {"huge", 32, 1280, 16, 1e-4}};

struct GMLPConfig {
  std::string_view name;
  int64_t depth, embedplanes;
  double mlp_ratio;
};
constexpr GMLPConfig kGMLPConfigs[] = {{"tiny", 30, 128, 6.0}, {"small", 30, 256, 6.0}, {"base", 30, 512, 6.0}};


flux::Layer single(std::vector<flux::Layer> layers) {
  return layers.size() == 1 ? layers[0] : flux::Layer(flux::Chain(std::move(layers)));
}

std::string size_string(const std::vector<int64_t>& v) { return flux::shape_string(at::IntArrayRef(v)); }

void check_patches(const std::string& who, const std::vector<int64_t>& imsize, const std::vector<int64_t>& patch) {
  if (imsize.size() != 2 || patch.size() != 2) {
    throw std::invalid_argument(who + ": imsize and patch_size need two values (height, width), got imsize " +
                                size_string(imsize) + " and patch_size " + size_string(patch));
  }
  if (patch[0] <= 0 || patch[1] <= 0 || imsize[0] <= 0 || imsize[1] <= 0 || imsize[0] % patch[0] != 0 ||
      imsize[1] % patch[1] != 0) {
    throw std::invalid_argument(who + ": expected an image size divisible by the patch size " + size_string(patch) +
                                ", got " + size_string(imsize));
  }
}

int64_t scaled(int64_t planes, double ratio) { return static_cast<int64_t>(std::floor(static_cast<double>(planes) * ratio)); }

flux::Chain run_mlp(const MlpLayer& mlp_layer, int64_t inplanes, int64_t hidden, const layers::MlpOptions& o) {
  return mlp_layer ? mlp_layer(inplanes, hidden, o) : layers::mlp_block(inplanes, hidden, o);
}

// Token mixing transposes [N, T, D] to [N, D, T] and back.
flux::Layer tokens_last() { return layers::swapdims({0, 2, 1}); }

}  // namespace

layers::NormLayer torch_layer_norm(double eps) {
  return [eps](int64_t planes) { return layers::LayerNormV2(planes, flux::identity, {.eps = eps}); };
}

layers::NormLayer affine() {
  return [](int64_t planes) { return flux::Scale(std::vector<int64_t>{1, 1, planes}); };
}

flux::Chain mixerblock(int64_t planes, int64_t npatches, const MixerBlockOptions& o) {
  const layers::MlpOptions mlp{.dropout_prob = o.dropout_prob, .activation = o.activation};
  return flux::Chain(
      flux::SkipConnection(flux::Chain(o.norm_layer(planes), tokens_last(),
                                       run_mlp(o.mlp_layer, npatches, scaled(planes, o.mlp_ratio[0]), mlp),
                                       tokens_last(), layers::StochasticDepth(o.stochastic_depth_prob)),
                           flux::plus),
      flux::SkipConnection(flux::Chain(o.norm_layer(planes), run_mlp(o.mlp_layer, planes, scaled(planes, o.mlp_ratio[1]), mlp),
                                       layers::StochasticDepth(o.stochastic_depth_prob)),
                           flux::plus));
}

flux::Chain resmixerblock(int64_t planes, int64_t npatches, const ResMixerBlockOptions& o) {
  const layers::MlpOptions mlp{.dropout_prob = o.dropout_prob, .activation = o.activation};
  return flux::Chain(
      flux::SkipConnection(flux::Chain(o.norm_layer(planes), tokens_last(), flux::Dense({npatches, npatches}),
                                       tokens_last(), layers::LayerScale(planes, o.layerscale_init),
                                       layers::StochasticDepth(o.stochastic_depth_prob)),
                           flux::plus),
      flux::SkipConnection(flux::Chain(o.norm_layer(planes), run_mlp(o.mlp_layer, planes, scaled(planes, o.mlp_ratio), mlp),
                                       layers::LayerScale(planes, o.layerscale_init),
                                       layers::StochasticDepth(o.stochastic_depth_prob)),
                           flux::plus));
}

flux::SkipConnection spatialgatingblock(int64_t planes, int64_t npatches, const SpatialGatingBlockOptions& o) {
  const int64_t hidden = scaled(planes, o.mlp_ratio);
  if (hidden <= 0 || hidden % 2 != 0) {
    throw std::invalid_argument("spatialgatingblock: expected an even number of hidden planes (mlp_ratio · planes), got " +
                                std::to_string(hidden));
  }
  layers::GateLayer sgu = [npatches, norm = o.gate_norm_layer](int64_t inplanes) -> flux::Layer {
    return layers::SpatialGatingUnit(inplanes, npatches, {.norm_layer = norm});
  };
  const layers::MlpOptions mlp{.dropout_prob = o.dropout_prob, .activation = o.activation};
  flux::Chain gated = o.mlp_layer ? o.mlp_layer(sgu, planes, hidden, mlp) : layers::gated_mlp_block(sgu, planes, hidden, mlp);
  return flux::SkipConnection(
      flux::Chain(o.norm_layer(planes), gated, layers::StochasticDepth(o.stochastic_depth_prob)), flux::plus);
}

flux::Chain mlpmixer(const MixerBlockBuilder& block, std::vector<int64_t> imsize, const MixerOptions& o) {
  check_patches("mlpmixer", imsize, o.patch_size);
  if (!block) throw std::invalid_argument("mlpmixer: expected a block builder, got an empty one");
  if (o.depth < 1 || o.embedplanes < 1 || o.inchannels < 1 || o.nclasses < 1) {
    throw std::invalid_argument("mlpmixer: expected positive depth, embedplanes, inchannels and nclasses, got " +
                                std::to_string(o.depth) + ", " + std::to_string(o.embedplanes) + ", " +
                                std::to_string(o.inchannels) + ", " + std::to_string(o.nclasses));
  }
  if (!o.norm_layer) throw std::invalid_argument("mlpmixer: expected a norm_layer for the head, got none");
  const int64_t npatches = (imsize[0] / o.patch_size[0]) * (imsize[1] / o.patch_size[1]);
  std::vector<flux::Layer> blocks;
  for (int64_t i = 0; i < o.depth; ++i) blocks.push_back(block(o.embedplanes, npatches, o.stochastic_depth_prob));
  flux::Chain backbone(
      layers::PatchEmbedding(imsize, {.inchannels = o.inchannels, .patch_size = o.patch_size, .embedplanes = o.embedplanes}),
      flux::Chain(std::move(blocks)));
  std::vector<flux::Layer> head{single(o.norm_layer(o.embedplanes)), layers::seconddimmean()};
  head.emplace_back(flux::Dropout(o.head_dropout_prob.value_or(0.0)));  // a slot even at 0: stable names
  head.emplace_back(flux::Dense({o.embedplanes, o.nclasses}));
  return flux::Chain(backbone, flux::Chain(std::move(head)));
}

namespace {

// The shared tail of the high-level types: checks, then mlpmixer with the family's block.
Model build_mixer(const std::string& who, const MixerModelOptions& o, int64_t default_patch, int64_t depth,
                  int64_t embedplanes, layers::NormLayer norm_layer, MixerBlockBuilder block, const std::string& row) {
  std::vector<int64_t> patch = o.patch_size.empty() ? std::vector<int64_t>{default_patch, default_patch} : o.patch_size;
  check_patches(who, o.imsize, patch);
  Model m(who,
          mlpmixer(block, o.imsize,
                   {.norm_layer = std::move(norm_layer), .patch_size = patch, .embedplanes = embedplanes,
                    .depth = depth, .inchannels = o.inchannels, .nclasses = o.nclasses}),
          o.inchannels);
  // timm's feature_info: every block, at the patch size (tokens without a class token).
  m->features.prefix_tokens = 0;
  for (int64_t i = 0; i < depth; ++i) m->features.stages.push_back({embedplanes, patch[0], "layers.0.1." + std::to_string(i)});
  return detail::pretrained(std::move(m),
                            o.pretrain,
                            o.imsize == std::vector<int64_t>{224, 224} && patch[0] == patch[1] ? row + (row.empty() ? "" : "_224") : "");
}

}  // namespace

MLPMixer::MLPMixer(std::string_view config, const MixerModelOptions& o)
    : Model([&] {
        const auto& c = detail::find_config(kMixerSizes, config, "MLPMixer");
        return build_mixer("MLPMixer", o, 16, c.depth, c.embedplanes, torch_layer_norm(1e-6),
                           [](int64_t planes, int64_t npatches, double p) -> flux::Layer {
                             return mixerblock(planes, npatches, {.stochastic_depth_prob = p});
                           },
                           "mixer_" + std::string(c.name.substr(0, 1)) +
                               std::to_string(o.patch_size.empty() ? 16 : o.patch_size[0]));
      }()) {}

ResMLP::ResMLP(std::string_view config, const MixerModelOptions& o)
    : Model([&] {
        const auto& c = detail::find_config(kResMLPConfigs, config, "ResMLP");
        return build_mixer("ResMLP", o, c.patch_size, c.depth, c.embedplanes, affine(),
                           [ls = c.layerscale_init](int64_t planes, int64_t npatches, double p) -> flux::Layer {
                             return resmixerblock(planes, npatches, {.layerscale_init = ls, .stochastic_depth_prob = p});
                           },
                           o.patch_size.empty() || o.patch_size[0] == c.patch_size ? "resmlp_" + std::string(c.name) : "");
      }()) {}

gMLP::gMLP(std::string_view config, const MixerModelOptions& o)
    : Model([&] {
        const auto& c = detail::find_config(kGMLPConfigs, config, "gMLP");
        return build_mixer("gMLP", o, 16, c.depth, c.embedplanes, torch_layer_norm(1e-6),
                           [r = c.mlp_ratio](int64_t planes, int64_t npatches, double p) -> flux::Layer {
                             return spatialgatingblock(planes, npatches, {.mlp_ratio = r, .stochastic_depth_prob = p});
                           },
                           o.patch_size.empty() || o.patch_size[0] == 16
                               ? "gmlp_" + std::string(c.name == "tiny" ? "ti" : c.name.substr(0, 1)) + "16"
                               : "");
      }()) {}

namespace detail {

std::vector<ModelInfo> mixer_entries() {
  std::vector<ModelInfo> out;
  auto patch_options = [](const ModelOptions& o, int64_t patch) {
    return MixerModelOptions{.imsize = o.imsize.empty() ? std::vector<int64_t>{224, 224} : o.imsize,
                             .patch_size = {patch, patch}, .pretrain = o.pretrain, .inchannels = o.inchannels,
                             .nclasses = o.nclasses};
  };
  for (auto [letter, size] : {std::pair{"s", "small"}, {"b", "base"}, {"l", "large"}}) {
    for (int64_t patch : {16, 32}) {
      out.push_back({"mixer_" + std::string(letter) + std::to_string(patch) + "_224", {}, "MLPMixer", "timm", {224, 224},
                     [=, size = std::string(size)](const ModelOptions& o) { return MLPMixer(size, patch_options(o, patch)); }});
    }
  }
  out.push_back({"mixer_h16_224", {}, "MLPMixer", "Metalhead", {224, 224},
                 [=](const ModelOptions& o) { return MLPMixer("huge", patch_options(o, 16)); }});
  for (std::string config : {"12", "24", "36", "big_24"}) {
    out.push_back({"resmlp_" + config + "_224", {}, "ResMLP", "timm", {224, 224}, [config](const ModelOptions& o) {
                     return ResMLP(config, {.imsize = o.imsize.empty() ? std::vector<int64_t>{224, 224} : o.imsize,
                                            .pretrain = o.pretrain, .inchannels = o.inchannels, .nclasses = o.nclasses});
                   }});
  }
  for (auto [letters, size] : {std::pair{"ti", "tiny"}, {"s", "small"}, {"b", "base"}}) {
    out.push_back({"gmlp_" + std::string(letters) + "16_224", {}, "gMLP", "timm", {224, 224},
                   [=, size = std::string(size)](const ModelOptions& o) { return gMLP(size, patch_options(o, 16)); }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
