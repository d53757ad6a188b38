// swin.cpp — the Swin Transformer: torchvision's swin_t/s/b and swin_v2_t/s/b.
#include <metalhead/models/swin.h>

#include <metalhead/layers/drop.h>
#include <metalhead/layers/mlp.h>
#include <metalhead/layers/normalise.h>
#include <metalhead/layers/shape.h>
#include <metalhead/layers/window_attention.h>

#include "config.h"
#include "entries.h"

#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/pooling.h>
#include <flux/skip_connection.h>

#include <numeric>
#include <stdexcept>

namespace metalhead {
namespace {

struct Config {
  const char* name;
  const char* row;
  int64_t embed_planes;
  std::array<int64_t, 4> depths, nheads;
  double stochastic_depth_prob;
  bool v2;
  const char* timm;  // timm's row of the same architecture, or ""
};

constexpr Config kSwinConfigs[] = {
    {"tiny", "swin_t", 96, {2, 2, 6, 2}, {3, 6, 12, 24}, 0.2, false, "swin_tiny_patch4_window7_224"},
    {"small", "swin_s", 96, {2, 2, 18, 2}, {3, 6, 12, 24}, 0.3, false, "swin_small_patch4_window7_224"},
    {"base", "swin_b", 128, {2, 2, 18, 2}, {4, 8, 16, 32}, 0.5, false, "swin_base_patch4_window7_224"},
    {"v2_tiny", "swin_v2_t", 96, {2, 2, 6, 2}, {3, 6, 12, 24}, 0.2, true, ""},
    {"v2_small", "swin_v2_s", 96, {2, 2, 18, 2}, {3, 6, 12, 24}, 0.3, true, ""},
    {"v2_base", "swin_v2_b", 128, {2, 2, 18, 2}, {4, 8, 16, 32}, 0.5, true, ""},
};

flux::Layer swin_norm(int64_t planes) { return layers::LayerNormV2(planes, flux::identity, {.eps = 1e-5}); }

}  // namespace

flux::Layer swin_block(int64_t planes, int64_t nheads, std::array<int64_t, 2> window, SwinBlockOptions o) {
  if (!(o.mlp_ratio > 0)) throw std::invalid_argument("swin_block: mlp_ratio must be positive");
  layers::WindowAttention attention(planes, nheads, window,
                                    {.shift = o.shift, .cosine = o.v2, .attn_dropout_prob = o.attn_dropout_prob,
                                     .proj_dropout_prob = o.dropout_prob});
  const auto hidden = static_cast<int64_t>(static_cast<double>(planes) * o.mlp_ratio);
  flux::Chain mlp = layers::mlp_block(planes, hidden, {.dropout_prob = o.dropout_prob, .activation = flux::gelu_erf});
  auto branch = [&](flux::Layer f) {
    flux::Layer normed = o.v2 ? layers::postnorm(planes, std::move(f), swin_norm) : layers::prenorm(planes, std::move(f), swin_norm);
    return flux::SkipConnection(flux::Chain(normed, layers::StochasticDepth(o.stochastic_depth_prob, "row")), flux::plus);
  };
  return flux::Chain(branch(attention), branch(mlp));
}

flux::Chain build_swin_transformer(int64_t embed_planes, const std::vector<int64_t>& depths,
                                   const std::vector<int64_t>& nheads, const SwinTransformerOptions& o) {
  if (depths.empty() || depths.size() != nheads.size() || embed_planes <= 0) {
    throw std::invalid_argument("build_swin_transformer: expected positive embed_planes and one nheads per stage, got " +
                                std::to_string(depths.size()) + " depths and " + std::to_string(nheads.size()) +
                                " nheads");
  }
  for (size_t i = 0; i < depths.size(); ++i) {
    if (depths[i] <= 0 || nheads[i] <= 0 || ((embed_planes << i) % nheads[i]) != 0) {
      throw std::invalid_argument("build_swin_transformer: stage " + std::to_string(i + 1) + " needs a positive depth and " +
                                  std::to_string(embed_planes << i) + " planes divisible by its nheads, got depth " +
                                  std::to_string(depths[i]) + " and nheads " + std::to_string(nheads[i]));
    }
  }
  if (o.inchannels <= 0 || o.nclasses <= 0) {
    throw std::invalid_argument("build_swin_transformer: inchannels and nclasses must be positive, got " +
                                std::to_string(o.inchannels) + " and " + std::to_string(o.nclasses));
  }
  const double p = o.stochastic_depth_prob.value_or(0.0);
  if (p < 0 || p > 1) throw std::invalid_argument("build_swin_transformer: stochastic_depth_prob must be in [0, 1]");
  const int64_t total = std::accumulate(depths.begin(), depths.end(), int64_t{0});
  std::vector<flux::Layer> features;
  features.emplace_back(flux::Chain(
      flux::Conv({o.patch_size[0], o.patch_size[1]}, {o.inchannels, embed_planes}, flux::identity,
                 {.stride = std::vector<int64_t>{o.patch_size[0], o.patch_size[1]}}),
      layers::swapdims({0, 2, 3, 1}), swin_norm(embed_planes)));
  int64_t block = 0, planes = embed_planes;
  for (size_t i = 0; i < depths.size(); ++i, planes *= 2) {
    if (i > 0) features.emplace_back(layers::PatchMerging(planes / 2, {.postnorm = o.v2}));
    std::vector<flux::Layer> stage;
    for (int64_t j = 0; j < depths[i]; ++j, ++block) {
      // torchvision's schedule: 0 at the first block, p at the last.
      const double sd = total > 1 ? p * static_cast<double>(block) / static_cast<double>(total - 1) : 0.0;
      const std::array<int64_t, 2> shift = j % 2 ? std::array<int64_t, 2>{o.window[0] / 2, o.window[1] / 2}
                                                 : std::array<int64_t, 2>{0, 0};
      stage.push_back(swin_block(planes, nheads[i], o.window,
                                 {.shift = shift, .mlp_ratio = o.mlp_ratio, .dropout_prob = o.dropout_prob,
                                  .attn_dropout_prob = o.attn_dropout_prob, .stochastic_depth_prob = sd, .v2 = o.v2}));
    }
    features.emplace_back(flux::Chain(std::move(stage)));
  }
  planes /= 2;
  flux::Chain classifier(swin_norm(planes), layers::swapdims({0, 3, 1, 2}), flux::AdaptiveMeanPool({1, 1}),
                         flux::flatten, flux::Dense({planes, o.nclasses}));
  return flux::Chain(flux::Chain(std::move(features)), classifier);
}

flux::Chain swin_transformer(const std::string& config, SwinTransformerOptions o) {
  const Config& c = detail::find_config(kSwinConfigs, config, "swin_transformer");
  if (!o.stochastic_depth_prob) o.stochastic_depth_prob = c.stochastic_depth_prob;
  o.v2 = c.v2;
  o.window = c.v2 ? std::array<int64_t, 2>{8, 8} : std::array<int64_t, 2>{7, 7};
  return build_swin_transformer(c.embed_planes, {c.depths.begin(), c.depths.end()}, {c.nheads.begin(), c.nheads.end()},
                                o);
}

SwinTransformer::SwinTransformer(const std::string& config, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const Config& c = detail::find_config(kSwinConfigs, config, "SwinTransformer");
        Model m("SwinTransformer",
                swin_transformer(config, {.stochastic_depth_prob = o.drop_path_rate, .inchannels = o.inchannels,
                                          .nclasses = o.nclasses}),
                o.inchannels);
        // timm's feature_info: each stage's output (before the head's norm), channels-last.
        for (size_t i = 0; i < c.depths.size(); ++i) {
          m->features.stages.push_back({c.embed_planes << i, int64_t{4} << i, "layers.0." + std::to_string(2 * i + 1)});
        }
        m->features.channels_last = true;
        return m;
      }(), o.pretrain, detail::find_config(kSwinConfigs, config, "SwinTransformer").row)) {}

namespace detail {

std::vector<ModelInfo> swin_entries() {
  std::vector<ModelInfo> out;
  for (const auto& c : kSwinConfigs) {
    std::string config = c.name;
    std::vector<std::string> aliases;
    if (*c.timm) aliases.emplace_back(c.timm);
    const std::vector<int64_t> size = c.v2 ? std::vector<int64_t>{256, 256} : std::vector<int64_t>{224, 224};
    out.push_back({c.row, aliases, "SwinTransformer", "torchvision", size,
                   [config](const ModelOptions& o) { return SwinTransformer(config, o); }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
