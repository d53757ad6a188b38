// convmixer.cpp — ConvMixer: timm's three models and Metalhead's "large".
#include <metalhead/models/convmixer.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/conv_norm.h>

#include "entries.h"

#include <flux/conv.h>
#include <flux/skip_connection.h>

#include <stdexcept>

namespace metalhead {
namespace {

struct Config {
  const char* config;  // Metalhead's name, or "" for a timm-only model
  const char* name;    // the registry name
  int64_t planes, depth, kernel, patch;
  const flux::Activation* activation;
  const char* source;
};

const Config kConvMixerConfigs[] = {
    {"base", "convmixer_1536_20", 1536, 20, 9, 7, &flux::gelu_erf, "timm"},
    {"small", "convmixer_768_32", 768, 32, 7, 7, &flux::relu, "timm"},
    {"large", "convmixer_1024_20_ks9_p7", 1024, 20, 9, 7, &flux::gelu_erf, "Metalhead"},
    {"", "convmixer_1024_20_ks9_p14", 1024, 20, 9, 14, &flux::gelu_erf, "timm"},
};

flux::Chain from_config(const Config& c, const ModelOptions& o) {
  return convmixer(c.planes, c.depth,
                   {.kernel_size = {c.kernel, c.kernel},
                    .patch_size = {c.patch, c.patch},
                    .activation = *c.activation,
                    .inchannels = o.inchannels,
                    .nclasses = o.nclasses});
}

// timm has no feature_info for ConvMixer: the stem, then every block, all at the patch size.
Model with_features(Model m, const Config& c) {
  m->features.stages.push_back({c.planes, c.patch, "layers.0.1"});
  for (int64_t i = 0; i < c.depth; ++i) m->features.stages.push_back({c.planes, c.patch, "layers.0." + std::to_string(i + 2)});
  return m;
}

void check_dims(const std::vector<int64_t>& dims, const char* what) {
  bool ok = dims.size() == 2;
  for (int64_t d : dims) ok = ok && d > 0;
  if (!ok) {
    throw std::invalid_argument(std::string("convmixer: expected ") + what + " of two positive integers, got " +
                                flux::tuple_string(dims));
  }
}

}  // namespace

flux::Chain convmixer(int64_t planes, int64_t depth, const ConvMixerOptions& o) {
  if (planes <= 0 || depth <= 0) {
    throw std::invalid_argument("convmixer: planes and depth must be positive, got " + std::to_string(planes) + " and " +
                                std::to_string(depth));
  }
  check_dims(o.kernel_size, "kernel_size");
  check_dims(o.patch_size, "patch_size");
  // torch's padding = "same" at stride 1: d(k - 1) split with the odd pixel at the end.
  std::vector<int64_t> same;
  for (int64_t k : o.kernel_size) same.insert(same.end(), {(k - 1) / 2, k / 2});
  std::vector<flux::Layer> layers = layers::conv_norm(o.patch_size, o.inchannels, planes, o.activation,
                                                      {.preact = true, .stride = o.patch_size, .bias = true});
  for (int64_t i = 0; i < depth; ++i) {
    flux::Chain mixer(layers::conv_norm(o.kernel_size, planes, planes, o.activation,
                                        {.preact = true, .pad = same, .groups = planes, .bias = true}));
    layers.emplace_back(flux::Chain(flux::SkipConnection(mixer, flux::plus),
                                    layers::conv_norm({1, 1}, planes, planes, o.activation, {.preact = true, .bias = true})));
  }
  return flux::Chain(flux::Chain(std::move(layers)),
                     // A Dropout slot even at rate 0: stable tensor names.
                     layers::create_classifier(planes, o.nclasses, flux::identity,
                                               {.dropout_prob = o.dropout_prob.value_or(0.0)}));
}

ConvMixer::ConvMixer(const std::string& config, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        std::vector<std::string> names;
        for (const auto& c : kConvMixerConfigs) {
          if (*c.config == '\0') continue;
          if (config == c.config) {
            return with_features(Model("ConvMixer", from_config(c, o), o.inchannels), c);
          }
          names.push_back('"' + std::string(c.config) + '"');
        }
        detail::bad_config("ConvMixer", "config \"" + config + "\"", names);
      }(), o.pretrain, [&]() -> std::string {
        for (const auto& c : kConvMixerConfigs) {
          if (config == c.config) return c.name;
        }
        return "";
      }())) {}

namespace detail {

std::vector<ModelInfo> convmixer_entries() {
  std::vector<ModelInfo> out;
  for (const auto& c : kConvMixerConfigs) {
    std::vector<std::string> aliases;
    if (*c.config != '\0') aliases.push_back("convmixer_" + std::string(c.config));
    out.push_back({c.name, aliases, "ConvMixer", c.source, {224, 224}, [&c](const ModelOptions& o) {
                     return with_features(Model("ConvMixer", from_config(c, o), o.inchannels), c);
                   }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
