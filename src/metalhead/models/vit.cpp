// vit.cpp — the Vision Transformer (Metalhead's `vit`), torchvision's and timm's ViTs.
#include <metalhead/models/vit.h>

#include <metalhead/layers/attention.h>
#include <metalhead/layers/embeddings.h>
#include <metalhead/layers/mlp.h>
#include <metalhead/layers/normalise.h>

#include "config.h"
#include "entries.h"

#include <flux/activations.h>
#include <flux/connection.h>
#include <flux/dense.h>
#include <flux/dropout.h>
#include <flux/skip_connection.h>

#include <torch/types.h>

#include <cmath>
#include <stdexcept>

namespace metalhead {
namespace {

struct Config {
  const char* name;
  int64_t embedplanes, depth, nheads;
  double mlp_ratio;
};
// Metalhead's VIT_CONFIGS; timm's vit_*_patch*_224 have the same numbers (giant's
// ⌊1408 · 48/11⌋ = 6144 and gigantic's ⌊1664 · 64/13⌋ = 8192 hidden planes).
constexpr Config kViTConfigs[] = {
    {"tiny", 192, 12, 3, 4.0},          {"small", 384, 12, 6, 4.0},   {"base", 768, 12, 12, 4.0},
    {"large", 1024, 24, 16, 4.0},       {"huge", 1280, 32, 16, 4.0},  {"giant", 1408, 40, 16, 48.0 / 11},
    {"gigantic", 1664, 48, 16, 64.0 / 13},
};

struct Entry {
  const char* name;
  const char* alias;  // timm's name for the same model, or null
  const char* config;
  int64_t patch;
  const char* source;
};
constexpr Entry kViTEntries[] = {
    {"vit_b_16", "vit_base_patch16_224", "base", 16, "torchvision"},
    {"vit_b_32", "vit_base_patch32_224", "base", 32, "torchvision"},
    {"vit_l_16", "vit_large_patch16_224", "large", 16, "torchvision"},
    {"vit_l_32", "vit_large_patch32_224", "large", 32, "torchvision"},
    {"vit_h_14", "vit_huge_patch14_224", "huge", 14, "torchvision"},
    {"vit_tiny_patch16_224", nullptr, "tiny", 16, "timm"},
    {"vit_small_patch16_224", nullptr, "small", 16, "timm"},
    {"vit_giant_patch14_224", nullptr, "giant", 14, "timm"},
    {"vit_gigantic_patch14_224", nullptr, "gigantic", 14, "timm"},
};


// (height, width) from one value (square) or two.
std::vector<int64_t> two_dims(const std::string& who, const char* what, const std::vector<int64_t>& given) {
  std::vector<int64_t> v = given;
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2 || v[0] <= 0 || v[1] <= 0) {
    throw std::invalid_argument(who + ": " + what + " must be one or two positive sizes (height, width), got " +
                                flux::shape_string(given));
  }
  return v;
}

void check_divisible(const std::string& who, const std::vector<int64_t>& imsize, const std::vector<int64_t>& patch) {
  if (imsize[0] % patch[0] != 0 || imsize[1] % patch[1] != 0) {
    throw std::invalid_argument(who + ": image size " + flux::shape_string(imsize) +
                                " is not divisible by the patch size " + flux::shape_string(patch));
  }
}

// torchvision's and timm's LayerNorm(eps = 1e-6): eps inside the root, as torch.
flux::Layer vit_norm(int64_t planes) { return layers::LayerNormV2(planes, flux::identity, {.eps = 1e-6}); }

}  // namespace

flux::Chain transformer_encoder(int64_t planes, int64_t depth, int64_t nheads, const TransformerEncoderOptions& o) {
  const auto hidden = static_cast<int64_t>(std::floor(o.mlp_ratio * static_cast<double>(planes)));
  if (planes <= 0 || depth < 0 || nheads <= 0 || hidden <= 0) {
    throw std::invalid_argument("transformer_encoder: expected positive planes, nheads and mlp_ratio and depth >= 0, got "
                                "planes " + std::to_string(planes) + ", depth " + std::to_string(depth) + ", nheads " +
                                std::to_string(nheads) + ", mlp_ratio " + std::to_string(o.mlp_ratio));
  }
  const layers::NormLayer norm = vit_norm;
  const double attn_drop = o.attn_dropout_prob.value_or(o.dropout_prob);
  std::vector<flux::Layer> blocks;
  for (int64_t i = 0; i < depth; ++i) {
    layers::MultiHeadSelfAttention attention(
        planes, nheads, {.qkv_bias = o.qkv_bias, .attn_dropout_prob = attn_drop, .proj_dropout_prob = o.dropout_prob});
    flux::Chain mlp = layers::mlp_block(planes, hidden, {.dropout_prob = o.dropout_prob, .activation = flux::gelu_erf});
    blocks.emplace_back(flux::Chain(flux::SkipConnection(layers::prenorm(planes, attention, norm), flux::plus),
                                    flux::SkipConnection(layers::prenorm(planes, mlp, norm), flux::plus)));
  }
  return flux::Chain(std::move(blocks));
}

flux::Layer token_pool(TokenPool pool) {
  if (pool == TokenPool::class_token) {
    return flux::fn("select_class_token", [](const Tensor& x) {
      if (x.dim() != 3 || x.size(1) < 1) {
        throw std::invalid_argument("select_class_token: expected [N, T, D] tokens, got a tensor of shape " +
                                    flux::shape_string(x));
      }
      return x.select(1, 0);
    });
  }
  return flux::fn("mean_patch_tokens", [](const Tensor& x) {
    if (x.dim() != 3 || x.size(1) < 2) {
      throw std::invalid_argument("mean_patch_tokens: expected [N, T, D] tokens with T >= 2, got a tensor of shape " +
                                  flux::shape_string(x));
    }
    return x.slice(1, 1).mean(1);
  });
}

flux::Chain vit(std::vector<int64_t> imsize, const ViTOptions& o) {
  imsize = two_dims("vit", "imsize", imsize);
  const auto patch = two_dims("vit", "patch_size", o.patch_size);
  check_divisible("vit", imsize, patch);
  const int64_t planes = o.embedplanes;
  const int64_t npatches = (imsize[0] / patch[0]) * (imsize[1] / patch[1]);
  flux::Chain backbone(
      layers::PatchEmbedding(imsize, {.inchannels = o.inchannels, .patch_size = patch, .embedplanes = planes}),
      layers::ClassTokens(planes), layers::ViPosEmbedding(planes, npatches + 1, {.grid = {imsize[0] / patch[0], imsize[1] / patch[1]}, .prefix = 1}), flux::Dropout(o.emb_dropout_prob),
      transformer_encoder(planes, o.depth, o.nheads,
                          {.mlp_ratio = o.mlp_ratio, .dropout_prob = o.dropout_prob,
                           .attn_dropout_prob = o.attn_dropout_prob, .qkv_bias = o.qkv_bias}),
      token_pool(o.pool));
  flux::Chain classifier(vit_norm(planes), flux::Dense({planes, o.nclasses}));
  return flux::Chain(backbone, classifier);
}

ViT::ViT(const std::string& config, const ViTModelOptions& o)
    : Model(detail::pretrained([&] {
        const Config& c = detail::find_config(kViTConfigs, config, "ViT");
        const auto imsize = two_dims("ViT", "imsize", o.imsize);
        const auto patch = two_dims("ViT", "patch_size", o.patch_size);
        check_divisible("ViT", imsize, patch);
        Model m("ViT",
                vit(imsize, {.inchannels = o.inchannels, .patch_size = patch, .embedplanes = c.embedplanes,
                             .depth = c.depth, .nheads = c.nheads, .mlp_ratio = c.mlp_ratio, .dropout_prob = 0.0,
                             .emb_dropout_prob = 0.0, .pool = o.pool, .nclasses = o.nclasses}),
                o.inchannels);
        // timm's feature_info: every block, at the patch size; the token pool is the head's.
        m->features = {.head_start = 5, .prefix_tokens = 1};
        for (int64_t i = 0; i < c.depth; ++i) {
          m->features.stages.push_back({c.embedplanes, patch[0], "layers.0.4." + std::to_string(i)});
        }
        return m;
      }(), o.pretrain, [&]() -> std::string {
        // Another image size takes the same file, its position embedding resampled.
        if (o.pool != TokenPool::class_token) return "";
        for (const auto& e : kViTEntries) {
          if (e.config == config && std::vector<int64_t>{e.patch, e.patch} == two_dims("ViT", "patch_size", o.patch_size)) return e.name;
        }
        return "";
      }())) {}

namespace detail {

std::vector<ModelInfo> vit_entries() {
  std::vector<ModelInfo> out;
  for (const auto& e : kViTEntries) {
    std::vector<std::string> aliases;
    if (e.alias) aliases.emplace_back(e.alias);
    out.push_back({e.name, std::move(aliases), "ViT", e.source, {224, 224},
                   [config = std::string(e.config), p = e.patch](const ModelOptions& o) -> Model {
                     return ViT(config, {.imsize = o.imsize.empty() ? std::vector<int64_t>{224, 224} : o.imsize,
                                         .patch_size = {p, p}, .inchannels = o.inchannels, .nclasses = o.nclasses,
                                         .pretrain = o.pretrain});
                   }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
