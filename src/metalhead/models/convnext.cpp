// convnext.cpp — ConvNeXt: torchvision's convnext_tiny … large and timm's convnext_xlarge.
#include <metalhead/models/convnext.h>

#include <metalhead/layers/drop.h>
#include <metalhead/layers/mlp.h>
#include <metalhead/layers/normalise.h>
#include <metalhead/layers/scale.h>
#include <metalhead/layers/shape.h>

#include "config.h"
#include "entries.h"

#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/pooling.h>
#include <flux/printing.h>
#include <flux/scale.h>
#include <flux/skip_connection.h>

#include <torch/types.h>

#include <array>
#include <numeric>
#include <stdexcept>

namespace metalhead {
namespace {

struct Config {
  const char* name;
  std::array<int64_t, 4> depths;
  std::array<int64_t, 4> planes;
  double stochastic_depth_prob;  // the reference builder's default
  LayerScaleLayout layout;
  const char* source;
};

constexpr Config kConvNeXtConfigs[] = {
    {"tiny", {3, 3, 9, 3}, {96, 192, 384, 768}, 0.1, LayerScaleLayout::torchvision, "torchvision"},
    {"small", {3, 3, 27, 3}, {96, 192, 384, 768}, 0.4, LayerScaleLayout::torchvision, "torchvision"},
    {"base", {3, 3, 27, 3}, {128, 256, 512, 1024}, 0.5, LayerScaleLayout::torchvision, "torchvision"},
    {"large", {3, 3, 27, 3}, {192, 384, 768, 1536}, 0.5, LayerScaleLayout::torchvision, "torchvision"},
    {"xlarge", {3, 3, 27, 3}, {256, 512, 1024, 2048}, 0.0, LayerScaleLayout::timm, "timm"},
};


}  // namespace

LayerNorm2dImpl::LayerNorm2dImpl(int64_t c, LayerNorm2dOptions options) : channels(c), eps(options.eps) {
  if (channels <= 0) option_error("channels must be positive");
  if (!(eps > 0)) option_error("eps must be positive");
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

Tensor LayerNorm2dImpl::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != channels) input_error("[N, " + std::to_string(channels) + ", H, W]", x);
  // torchvision's order: normalise the channels-last view, then permute back.
  return at::layer_norm(x.permute({0, 2, 3, 1}), {channels}, weight, bias, eps).permute({0, 3, 1, 2});
}

void LayerNorm2dImpl::pretty_print(std::ostream& os) const {
  os << "LayerNorm2d(" << channels;
  if (eps != 1e-6) os << ", eps=" << flux::float_string(eps);
  os << ')';
}

flux::Layer convnextblock(int64_t planes, double stochastic_depth_prob, double layerscale_init,
                          LayerScaleLayout layout) {
  if (planes <= 0) throw std::invalid_argument("convnextblock: planes must be positive, got " + std::to_string(planes));
  const bool scaled = layerscale_init > 0;
  const bool channels_last_scale = layout == LayerScaleLayout::timm;
  flux::Chain f(flux::Conv({7, 7}, {planes, planes}, flux::identity, {.pad = 3, .groups = planes}),
                layers::swapdims({0, 2, 3, 1}), layers::LayerNormV2(planes, flux::identity, {.eps = 1e-6}),
                layers::mlp_block(planes, 4 * planes, {.activation = flux::gelu_erf}));
  if (scaled && channels_last_scale) f->push_back(layers::LayerScale(planes, layerscale_init));
  f->push_back(layers::swapdims({0, 3, 1, 2}));
  if (scaled && !channels_last_scale) f->push_back(flux::Scale(torch::full({planes, 1, 1}, layerscale_init), false));
  f->push_back(layers::StochasticDepth(stochastic_depth_prob, "row"));
  return flux::SkipConnection(f, flux::plus);
}

flux::Chain build_convnext(const std::vector<int64_t>& depths, const std::vector<int64_t>& planes,
                           const ConvNeXtOptions& o) {
  if (depths.empty() || depths.size() != planes.size()) {
    throw std::invalid_argument("build_convnext: expected one planes value per stage, got " +
                                std::to_string(depths.size()) + " depths and " + std::to_string(planes.size()) +
                                " planes");
  }
  for (size_t i = 0; i < depths.size(); ++i) {
    if (depths[i] <= 0 || planes[i] <= 0) {
      throw std::invalid_argument("build_convnext: depths and planes must be positive, got depth " +
                                  std::to_string(depths[i]) + " and planes " + std::to_string(planes[i]) +
                                  " for stage " + std::to_string(i + 1));
    }
  }
  if (o.inchannels <= 0 || o.nclasses <= 0) {
    throw std::invalid_argument("build_convnext: inchannels and nclasses must be positive, got " +
                                std::to_string(o.inchannels) + " and " + std::to_string(o.nclasses));
  }
  const double p = o.stochastic_depth_prob.value_or(0.0);
  if (p < 0 || p > 1) {
    throw std::invalid_argument("build_convnext: stochastic_depth_prob must be in [0, 1], got " + std::to_string(p));
  }
  const int64_t total = std::accumulate(depths.begin(), depths.end(), int64_t{0});
  std::vector<flux::Layer> features;
  features.emplace_back(flux::Chain(flux::Conv({4, 4}, {o.inchannels, planes[0]}, flux::identity, {.stride = 4}),
                                    LayerNorm2d(planes[0])));
  int64_t block = 0;
  for (size_t i = 0; i < depths.size(); ++i) {
    if (i > 0) {
      features.emplace_back(flux::Chain(LayerNorm2d(planes[i - 1]),
                                        flux::Conv({2, 2}, {planes[i - 1], planes[i]}, flux::identity, {.stride = 2})));
    }
    std::vector<flux::Layer> stage;
    for (int64_t j = 0; j < depths[i]; ++j, ++block) {
      // torchvision's (and timm's linspace) schedule: 0 at the first block, p at the last.
      const double sd = total > 1 ? p * static_cast<double>(block) / (static_cast<double>(total) - 1.0) : 0.0;
      stage.push_back(convnextblock(planes[i], sd, o.layerscale_init, o.layout));
    }
    features.emplace_back(flux::Chain(std::move(stage)));
  }
  flux::Chain classifier(flux::AdaptiveMeanPool({1, 1}), LayerNorm2d(planes.back()), flux::flatten,
                         flux::Dense({planes.back(), o.nclasses}));
  return flux::Chain(flux::Chain(std::move(features)), classifier);
}

flux::Chain convnext(const std::string& config, ConvNeXtOptions o) {
  const Config& c = detail::find_config(kConvNeXtConfigs, config, "convnext");
  if (!o.stochastic_depth_prob) o.stochastic_depth_prob = c.stochastic_depth_prob;
  o.layout = c.layout;
  return build_convnext({c.depths.begin(), c.depths.end()}, {c.planes.begin(), c.planes.end()}, o);
}

ConvNeXt::ConvNeXt(const std::string& config, const ModelOptions& o)
    : Model(detail::pretrained([&] {
        const Config& c = detail::find_config(kConvNeXtConfigs, config, "ConvNeXt");
        Model m("ConvNeXt", convnext(config, {.inchannels = o.inchannels, .nclasses = o.nclasses}), o.inchannels);
        // timm's feature_info: each stage, after the stem (stride 4) and each 2×2 downsampling.
        for (size_t i = 0; i < c.depths.size(); ++i) {
          m->features.stages.push_back({c.planes[i], int64_t{4} << i, "layers.0." + std::to_string(2 * i + 1)});
        }
        return m;
      }(), o.pretrain, "convnext_" + config)) {}

namespace detail {

std::vector<ModelInfo> convnext_entries() {
  std::vector<ModelInfo> out;
  for (const auto& c : kConvNeXtConfigs) {
    std::string config = c.name;
    out.push_back({"convnext_" + config, {}, "ConvNeXt", c.source, {224, 224},
                   [config](const ModelOptions& o) { return ConvNeXt(config, o); }});
  }
  return out;
}

}  // namespace detail
}  // namespace metalhead
