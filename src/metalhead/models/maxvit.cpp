// maxvit.cpp — MaxViT: torchvision's maxvit_t.
#include <metalhead/models/maxvit.h>

#include <metalhead/layers/conv_norm.h>
#include <metalhead/layers/drop.h>
#include <metalhead/layers/normalise.h>
#include <metalhead/layers/partition_attention.h>
#include <metalhead/layers/squeeze_excite.h>

#include "config.h"
#include "entries.h"

#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/parallel.h>
#include <flux/pooling.h>

#include <array>
#include <numeric>
#include <stdexcept>

namespace metalhead {
namespace {

struct Config {
  const char* name;
  int64_t stem_planes;
  std::array<int64_t, 4> planes, depths;
  double stochastic_depth_prob;
};

constexpr Config kMaxViTConfigs[] = {{"tiny", 64, {64, 128, 256, 512}, {2, 2, 5, 2}, 0.2}};

// torchvision's MaxViT BatchNorm: eps 1e-3, momentum 0.99 (torch's convention, as Flux's).
layers::NormLayer maxvit_bn() { return layers::batch_norm({.eps = 1e-3, .momentum = 0.99}); }

}  // namespace

flux::Layer maxvit_mbconv(int64_t inplanes, int64_t outplanes, const MaxViTBlockOptions& o) {
  if (inplanes <= 0 || outplanes <= 0 || (o.stride != 1 && o.stride != 2) || !(o.expansion > 0) || !(o.squeeze > 0)) {
    throw std::invalid_argument("maxvit_mbconv(" + std::to_string(inplanes) + ", " + std::to_string(outplanes) +
                                "): expected positive planes, expansion and squeeze, and stride 1 or 2");
  }
  const auto mid = static_cast<int64_t>(static_cast<double>(outplanes) * o.expansion);
  const auto squeezed = static_cast<int64_t>(static_cast<double>(outplanes) * o.squeeze);
  flux::Chain f(maxvit_bn()(inplanes),
                layers::conv_norm({1, 1}, inplanes, mid, flux::gelu_erf, {.norm_layer = maxvit_bn()}),
                layers::conv_norm({3, 3}, mid, mid, flux::gelu_erf,
                                  {.norm_layer = maxvit_bn(), .stride = o.stride, .pad = 1, .groups = mid}),
                layers::squeeze_excite(mid, {.reduction = 1,
                                             .round_fn = [squeezed](double) { return squeezed; },
                                             .activation = flux::swish}),
                flux::Conv({1, 1}, {mid, outplanes}), layers::StochasticDepth(o.stochastic_depth_prob, "row"));
  flux::Layer shortcut = flux::identity;
  if (o.stride != 1 || inplanes != outplanes) {
    flux::Conv conv({1, 1}, {inplanes, outplanes});
    shortcut = o.stride == 2 ? flux::Chain(flux::MeanPool({3, 3}, {.pad = 1, .stride = 2}), conv) : flux::Chain(conv);
  }
  return flux::Parallel(flux::plus, shortcut, f);
}

flux::Layer maxvit_block(int64_t inplanes, int64_t outplanes, const MaxViTBlockOptions& o) {
  const layers::PartitionAttentionOptions a{.mlp_ratio = o.mlp_ratio, .attn_dropout_prob = o.attn_dropout_prob,
                                            .mlp_dropout_prob = o.dropout_prob,
                                            .stochastic_depth_prob = o.stochastic_depth_prob};
  return flux::Chain(maxvit_mbconv(inplanes, outplanes, o),
                     layers::PartitionAttention(outplanes, o.head_dim, o.partition, "window", a),
                     layers::PartitionAttention(outplanes, o.head_dim, o.partition, "grid", a));
}

flux::Chain build_maxvit(int64_t stem_planes, const std::vector<int64_t>& planes, const std::vector<int64_t>& depths,
                         const MaxViTOptions& o) {
  if (planes.empty() || planes.size() != depths.size() || stem_planes <= 0) {
    throw std::invalid_argument("build_maxvit: expected positive stem_planes and one depth per stage, got " +
                                std::to_string(planes.size()) + " planes and " + std::to_string(depths.size()) +
                                " depths");
  }
  for (size_t i = 0; i < planes.size(); ++i) {
    if (planes[i] <= 0 || depths[i] <= 0 || planes[i] % o.block.head_dim != 0) {
      throw std::invalid_argument("build_maxvit: stage " + std::to_string(i + 1) +
                                  " needs a positive depth and planes a multiple of head_dim " +
                                  std::to_string(o.block.head_dim) + ", got " + std::to_string(planes[i]) + " planes, depth " +
                                  std::to_string(depths[i]));
    }
  }
  if (o.inchannels <= 0 || o.nclasses <= 0) {
    throw std::invalid_argument("build_maxvit: inchannels and nclasses must be positive, got " +
                                std::to_string(o.inchannels) + " and " + std::to_string(o.nclasses));
  }
  const double p = o.stochastic_depth_prob.value_or(0.0);
  if (p < 0 || p > 1) throw std::invalid_argument("build_maxvit: stochastic_depth_prob must be in [0, 1]");
  const int64_t total = std::accumulate(depths.begin(), depths.end(), int64_t{0});
  std::vector<flux::Layer> backbone;
  backbone.emplace_back(flux::Chain(
      layers::conv_norm({3, 3}, o.inchannels, stem_planes, flux::gelu_erf,
                        {.norm_layer = maxvit_bn(), .stride = 2, .pad = 1}),
      flux::Conv({3, 3}, {stem_planes, stem_planes}, flux::identity, {.pad = 1})));
  int64_t in = stem_planes, block = 0;
  for (size_t i = 0; i < planes.size(); ++i) {
    std::vector<flux::Layer> stage;
    for (int64_t j = 0; j < depths[i]; ++j, ++block) {
      // NumPy's linspace(0, p, total), torchvision's schedule.
      const double sd = total > 1 ? p * static_cast<double>(block) / static_cast<double>(total - 1) : 0.0;
      MaxViTBlockOptions b = o.block;
      b.stride = j == 0 ? 2 : 1;
      b.stochastic_depth_prob = sd;
      stage.push_back(maxvit_block(j == 0 ? in : planes[i], planes[i], b));
    }
    in = planes[i];
    backbone.emplace_back(flux::Chain(std::move(stage)));
  }
  flux::Chain classifier(flux::AdaptiveMeanPool({1, 1}), flux::flatten,
                         layers::LayerNormV2(in, flux::identity, {.eps = 1e-5}),
                         flux::Dense({in, in}, flux::tanh), flux::Dense({in, o.nclasses}, flux::identity, {.bias = false}));
  return flux::Chain(flux::Chain(std::move(backbone)), classifier);
}

flux::Chain maxvit(const std::string& config, MaxViTOptions o) {
  const Config& c = detail::find_config(kMaxViTConfigs, config, "maxvit");
  if (!o.stochastic_depth_prob) o.stochastic_depth_prob = c.stochastic_depth_prob;
  return build_maxvit(c.stem_planes, {c.planes.begin(), c.planes.end()}, {c.depths.begin(), c.depths.end()}, o);
}

MaxViT::MaxViT(const std::string& config, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const Config& c = detail::find_config(kMaxViTConfigs, config, "MaxViT");
        Model m("MaxViT",
                maxvit(config,
                       {.stochastic_depth_prob = o.drop_path_rate, .inchannels = o.inchannels, .nclasses = o.nclasses}),
                o.inchannels);
        // timm's feature_info: the stem, then each stage.
        m->features.stages.push_back({c.stem_planes, 2, "layers.0.0"});
        for (size_t i = 0; i < c.planes.size(); ++i) {
          m->features.stages.push_back({c.planes[i], int64_t{4} << i, "layers.0." + std::to_string(i + 1)});
        }
        return m;
      }(), o.pretrain, "maxvit_t")) {}

namespace detail {

std::vector<ModelInfo> maxvit_entries() {
  return {{"maxvit_t", {}, "MaxViT", "torchvision", {224, 224}, [](const ModelOptions& o) { return MaxViT("tiny", o); }}};
}

}  // namespace detail
}  // namespace metalhead
