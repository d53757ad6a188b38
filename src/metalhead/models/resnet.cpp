// resnet.cpp — ResNet, WideResNet, ResNeXt, SE-ResNe(X)t and Res2Ne(X)t (Metalhead's `resnet`).
#include <metalhead/models/resnet.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/drop.h>
#include <metalhead/layers/squeeze_excite.h>
#include <metalhead/registry.h>

#include "entries.h"

#include <flux/conv.h>
#include <flux/parallel.h>
#include <flux/printing.h>

#include <torch/types.h>

#include <map>
#include <numeric>
#include <stdexcept>

namespace metalhead {
namespace {

struct Config {
  BlockType block;
  std::vector<int64_t> repeats;
};
const std::map<int64_t, Config> kResNetConfigs = {
    {18, {BlockType::basicblock, {2, 2, 2, 2}}},
    {34, {BlockType::basicblock, {3, 4, 6, 3}}},
    {50, {BlockType::bottleneck, {3, 4, 6, 3}}},
    {101, {BlockType::bottleneck, {3, 4, 23, 3}}},
    {152, {BlockType::bottleneck, {3, 8, 36, 3}}},
};

const Config& config(const std::string& who, int64_t depth, const std::vector<int64_t>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), depth) == allowed.end()) {
    std::vector<std::string> names;
    for (int64_t d : allowed) names.push_back(std::to_string(d));
    detail::bad_config(who, "depth " + std::to_string(depth), names);
  }
  return kResNetConfigs.at(depth);
}

void append(std::vector<flux::Layer>& layers, const std::vector<flux::Layer>& more) {
  layers.insert(layers.end(), more.begin(), more.end());
}

// Keeps the layers that do something: Metalhead's `filter!(!=(identity), layers)`.
// Metalhead's Chain(filter(!=(identity), layers)...), except layer `slot` (the DropBlock
// position), kept as identity when unused: the tensors after it keep their names whether
// or not a DropBlock is asked for.
flux::Chain chain_of(const std::vector<flux::Layer>& layers, size_t slot) {
  std::vector<flux::Layer> kept;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (i == slot) kept.push_back(layers[i] ? layers[i] : flux::Layer(flux::identity));
    else if (!layers::is_identity(layers[i])) kept.push_back(layers[i]);
  }
  return flux::Chain(std::move(kept));
}

// Res2Net's hierarchical 3×3 convolutions over `scale` chunks of the channels (timm's
// wiring): y1 = K1(x1), yi = Ki(x_i + y_{i-1}), the last chunk passed through (pooled
// in a stage's first block, where the others restart: yi = Ki(x_i)).
class Res2SplitImpl : public flux::LayerImpl {
 public:
  Res2SplitImpl(int64_t width, int64_t scale, std::vector<flux::Layer> convs, flux::Layer pool, bool is_first)
      : width_(width), scale_(scale), convs_(std::move(convs)), pool_(std::move(pool)), is_first_(is_first) {
    for (size_t i = 0; i < convs_.size(); ++i) register_module("convs_" + std::to_string(i), convs_[i].ptr());
    if (pool_) register_module("pool", pool_.ptr());
  }

  flux::Tensor forward(const flux::Tensor& x) override {
    if (x.dim() != 4 || x.size(1) != width_ * scale_) {
      input_error("[N, " + std::to_string(width_ * scale_) + ", H, W]", x);
    }
    auto chunks = x.split(width_, 1);
    std::vector<flux::Tensor> out;
    flux::Tensor sp;
    for (size_t i = 0; i < convs_.size(); ++i) {
      sp = (i == 0 || is_first_) ? chunks[i] : sp + chunks[i];
      sp = convs_[i](sp);
      out.push_back(sp);
    }
    if (scale_ > 1) out.push_back(pool_ ? pool_(chunks.back()) : chunks.back());
    return torch::cat(out, 1);
  }

  std::vector<flux::ShowItem> show_items() const override {
    std::vector<flux::ShowItem> items;
    for (const auto& c : convs_) items.push_back({"", c.ptr(), ""});
    if (pool_) items.push_back({"", pool_.ptr(), ""});
    return items;
  }
  std::string show_name() const override { return "Res2Split"; }
  void pretty_print(std::ostream& os) const override {
    os << "Res2Split(scale=" << scale_ << ", width=" << width_ << (is_first_ ? ", first" : "") << ')';
  }

 private:
  int64_t width_, scale_;
  std::vector<flux::Layer> convs_;
  flux::Layer pool_;
  bool is_first_;
};

std::vector<std::optional<double>> schedule(const std::optional<double>& p, int64_t depth) {
  if (!p) return layers::linear_scheduler(std::nullopt, depth);
  auto values = layers::linear_scheduler(*p, depth);
  return {values.begin(), values.end()};
}

int64_t sum_before(const std::vector<int64_t>& repeats, int64_t stage_idx) {
  return std::accumulate(repeats.begin(), repeats.begin() + (stage_idx - 1), int64_t{0});
}

enum class Builder { basic, bottleneck, bottle2neck };

BlockBuilder block_builder(Builder kind, const std::vector<int64_t>& block_repeats, const ResNetOptions& o) {
  const int64_t expansion = kind == Builder::basic ? 1 : 4;
  const int64_t depth = std::accumulate(block_repeats.begin(), block_repeats.end(), int64_t{0});
  auto planes_vec = o.planes_fn(block_repeats);
  if (static_cast<int64_t>(planes_vec.size()) != depth) {
    throw std::invalid_argument("resnet: planes_fn gave " + std::to_string(planes_vec.size()) + " widths for " +
                                std::to_string(depth) + " blocks");
  }
  auto sd = schedule(o.stochastic_depth_prob, depth);
  auto db = schedule(o.dropblock_prob, depth);
  return [=](int64_t stage_idx, int64_t block_idx) -> std::vector<flux::Layer> {
    const int64_t idx = sum_before(block_repeats, stage_idx) + block_idx;  // from 1
    const int64_t planes = planes_vec[idx - 1];
    const int64_t inplanes = idx == 1 ? o.inplanes : planes_vec[idx - 2] * expansion;
    const int64_t stride = o.stride_fn(stage_idx, block_idx);
    const bool reshape = stride != 1 || inplanes != planes * expansion;
    const DownsampleFn& downsample_fn = reshape ? o.downsample_opt.first : o.downsample_opt.second;
    BlockOptions b{.stride = stride,
                   .cardinality = o.cardinality,
                   .base_width = o.base_width,
                   .scale = o.scale,
                   .reduction_factor = o.reduction_factor,
                   .is_first = reshape,
                   .activation = o.activation,
                   .norm_layer = o.norm_layer,
                   .revnorm = o.revnorm,
                   .attn_fn = o.attn_fn};
    flux::Chain block{nullptr};
    if (kind == Builder::bottle2neck) {
      block = bottle2neck(inplanes, planes, b);
    } else {
      b.drop_path = layers::StochasticDepth(sd[idx - 1]);
      b.drop_block = layers::DropBlock(db[idx - 1]);
      block = kind == Builder::basic ? basicblock(inplanes, planes, b) : bottleneck(inplanes, planes, b);
    }
    flux::Layer shortcut = downsample_fn(inplanes, planes * expansion,
                                         {.stride = stride, .norm_layer = o.norm_layer, .revnorm = o.revnorm});
    return {shortcut, block};
  };
}


}  // namespace

flux::Layer downsample_conv(int64_t inplanes, int64_t outplanes, const DownsampleOptions& o) {
  return flux::Chain(layers::conv_norm({1, 1}, inplanes, outplanes, flux::identity,
                                       {.norm_layer = o.norm_layer, .revnorm = o.revnorm, .stride = o.stride,
                                        .pad = flux::SamePad{}}));
}

flux::Layer downsample_pool(int64_t inplanes, int64_t outplanes, const DownsampleOptions& o) {
  flux::Layer pool = o.stride == 1 ? flux::Layer(flux::identity)
                                   : flux::Layer(flux::MeanPool({2, 2}, {.pad = flux::SamePad{}, .stride = o.stride}));
  return flux::Chain(pool, layers::conv_norm({1, 1}, inplanes, outplanes, flux::identity,
                                             {.norm_layer = o.norm_layer, .revnorm = o.revnorm}));
}

flux::Layer downsample_identity(int64_t inplanes, int64_t outplanes, const DownsampleOptions&) {
  if (outplanes < inplanes) {
    throw std::invalid_argument("downsample_identity: cannot map " + std::to_string(inplanes) + " channels to fewer (" +
                                std::to_string(outplanes) + ")");
  }
  if (outplanes == inplanes) return flux::identity;
  const int64_t extra = outplanes - inplanes;
  return flux::Chain(flux::MaxPool({1, 1}, {.stride = 2}),
                     flux::fn("zero_channels(" + std::to_string(extra) + ")", [extra](const flux::Tensor& y) {
                       return torch::cat({y, torch::zeros({y.size(0), extra, y.size(2), y.size(3)}, y.options())}, 1);
                     }));
}

Downsample resnet_shortcut(char option) {
  switch (option) {
    case 'A': return {downsample_identity, downsample_identity};
    case 'B': return {downsample_conv, downsample_identity};
    case 'C': return {downsample_conv, downsample_conv};
    case 'D': return {downsample_pool, downsample_identity};
    default: detail::bad_config("resnet_shortcut", std::string("'") + option + "'", {"'A'", "'B'", "'C'", "'D'"});
  }
}

int64_t resnet_stride(int64_t stage_idx, int64_t block_idx) { return stage_idx == 1 || block_idx != 1 ? 1 : 2; }

std::vector<int64_t> resnet_planes(const std::vector<int64_t>& block_repeats) {
  std::vector<int64_t> planes;
  for (size_t stage = 0; stage < block_repeats.size(); ++stage) {
    for (int64_t b = 0; b < block_repeats[stage]; ++b) planes.push_back(int64_t{64} << stage);
  }
  return planes;
}

flux::Chain basicblock(int64_t inplanes, int64_t planes, const BlockOptions& o) {
  const int64_t first_planes = planes / o.reduction_factor;
  std::vector<flux::Layer> layers = layers::conv_norm(
      {3, 3}, inplanes, first_planes, flux::identity,
      {.norm_layer = o.norm_layer, .revnorm = o.revnorm, .stride = o.stride, .pad = 1});
  const size_t slot = layers.size();
  layers.push_back(o.drop_block);
  layers.emplace_back(o.activation);
  append(layers, layers::conv_norm({3, 3}, first_planes, planes, flux::identity,
                                   {.norm_layer = o.norm_layer, .revnorm = o.revnorm, .pad = 1}));
  if (o.attn_fn) layers.push_back(o.attn_fn(planes));
  layers.push_back(o.drop_path);
  return chain_of(layers, slot);
}

flux::Chain bottleneck(int64_t inplanes, int64_t planes, const BlockOptions& o) {
  const int64_t width = planes * o.base_width / 64 * o.cardinality;
  const int64_t first_planes = width / o.reduction_factor;
  const int64_t outplanes = planes * 4;
  std::vector<flux::Layer> layers = layers::conv_norm({1, 1}, inplanes, first_planes, o.activation,
                                                      {.norm_layer = o.norm_layer, .revnorm = o.revnorm});
  append(layers, layers::conv_norm({3, 3}, first_planes, width, flux::identity,
                                   {.norm_layer = o.norm_layer, .revnorm = o.revnorm, .stride = o.stride, .pad = 1,
                                    .groups = o.cardinality}));
  const size_t slot = layers.size();
  layers.push_back(o.drop_block);
  layers.emplace_back(o.activation);
  append(layers, layers::conv_norm({1, 1}, width, outplanes, flux::identity,
                                   {.norm_layer = o.norm_layer, .revnorm = o.revnorm}));
  if (o.attn_fn) layers.push_back(o.attn_fn(outplanes));
  layers.push_back(o.drop_path);
  return chain_of(layers, slot);
}

flux::Chain bottle2neck(int64_t inplanes, int64_t planes, const BlockOptions& o) {
  if (o.scale < 1) throw std::invalid_argument("bottle2neck: scale must be at least 1, got " + std::to_string(o.scale));
  const int64_t width = planes * o.base_width / 64 * o.cardinality;
  const int64_t outplanes = planes * 4;
  std::vector<flux::Layer> convs;
  for (int64_t i = 0; i < std::max<int64_t>(1, o.scale - 1); ++i) {
    convs.emplace_back(flux::Chain(layers::conv_norm({3, 3}, width, width, o.activation,
                                                     {.norm_layer = o.norm_layer, .stride = o.stride, .pad = 1,
                                                      .groups = o.cardinality})));
  }
  flux::Layer pool;
  if (o.is_first && o.scale > 1) pool = flux::MeanPool({3, 3}, {.pad = 1, .stride = o.stride});
  std::vector<flux::Layer> layers = layers::conv_norm({1, 1}, inplanes, width * o.scale, o.activation,
                                                      {.norm_layer = o.norm_layer, .revnorm = o.revnorm});
  layers.emplace_back(std::make_shared<Res2SplitImpl>(width, o.scale, std::move(convs), pool, o.is_first));
  // No activation before the join, as timm (Metalhead activates here and again after).
  append(layers, layers::conv_norm({1, 1}, width * o.scale, outplanes, flux::identity,
                                   {.norm_layer = o.norm_layer, .revnorm = o.revnorm}));
  if (o.attn_fn) layers.push_back(o.attn_fn(outplanes));
  return flux::Chain(std::move(layers));  // no DropBlock or StochasticDepth here (resnet refuses them)
}

BlockBuilder basicblock_builder(const std::vector<int64_t>& block_repeats, const ResNetOptions& options) {
  return block_builder(Builder::basic, block_repeats, options);
}
BlockBuilder bottleneck_builder(const std::vector<int64_t>& block_repeats, const ResNetOptions& options) {
  return block_builder(Builder::bottleneck, block_repeats, options);
}
BlockBuilder bottle2neck_builder(const std::vector<int64_t>& block_repeats, const ResNetOptions& options) {
  return block_builder(Builder::bottle2neck, block_repeats, options);
}

flux::Chain resnet_stem(StemType stem_type, const ResNetOptions& o) {
  const bool deep = stem_type != StemType::default_stem;
  const int64_t inplanes = deep ? 2 * o.stem_width : o.inplanes;
  flux::Layer conv1;
  if (deep) {
    const int64_t c1 = stem_type == StemType::deep ? o.stem_width : 3 * (o.stem_width / 4);
    const int64_t c2 = o.stem_width;
    conv1 = flux::Chain(
        layers::conv_norm({3, 3}, o.inchannels, c1, o.activation,
                          {.norm_layer = o.norm_layer, .revnorm = o.revnorm, .stride = 2, .pad = 1}),
        layers::conv_norm({3, 3}, c1, c2, o.activation, {.norm_layer = o.norm_layer, .pad = 1}),
        flux::Conv({3, 3}, {c2, inplanes}, flux::identity, {.pad = 1, .bias = false}));
  } else {
    conv1 = flux::Conv({7, 7}, {o.inchannels, inplanes}, flux::identity, {.stride = 2, .pad = 3, .bias = false});
  }
  flux::Layer pool = o.replace_stem_pool
                         ? flux::Layer(flux::Chain(layers::conv_norm(
                               {3, 3}, inplanes, inplanes, o.activation,
                               {.norm_layer = o.norm_layer, .revnorm = o.revnorm, .stride = 2, .pad = 1})))
                         : flux::Layer(flux::MaxPool({3, 3}, {.pad = 1, .stride = 2}));
  return flux::Chain(conv1, o.norm_layer(inplanes, o.activation), pool);
}

std::vector<flux::Layer> cnn_stages(const BlockBuilder& get_layers, const std::vector<int64_t>& block_repeats,
                                    const std::optional<flux::Connection>& connection) {
  std::vector<flux::Layer> stages;
  for (size_t s = 0; s < block_repeats.size(); ++s) {
    std::vector<flux::Layer> blocks;
    for (int64_t b = 1; b <= block_repeats[s]; ++b) {
      auto branches = get_layers(static_cast<int64_t>(s) + 1, b);
      if (branches.size() == 1) {
        blocks.push_back(branches[0]);
      } else if (!connection) {
        throw std::invalid_argument("cnn_stages: a builder gave " + std::to_string(branches.size()) +
                                    " branches but no connection was given");
      } else {
        blocks.emplace_back(flux::Parallel(*connection, branches));
      }
    }
    stages.emplace_back(flux::Chain(std::move(blocks)));
  }
  return stages;
}

flux::Chain build_resnet(flux::Layer stem, const BlockBuilder& get_layers, const std::vector<int64_t>& block_repeats,
                         const flux::Connection& connection,
                         const std::function<flux::Chain(int64_t)>& classifier_fn, int64_t nfeatures) {
  std::vector<flux::Layer> backbone{std::move(stem)};
  append(backbone, cnn_stages(get_layers, block_repeats, connection));
  return flux::Chain(flux::Chain(std::move(backbone)), classifier_fn(nfeatures));
}

flux::Chain resnet(BlockType block_type, const std::vector<int64_t>& block_repeats, const ResNetOptions& options) {
  if (block_repeats.empty()) throw std::invalid_argument("resnet: block_repeats is empty");
  ResNetOptions o = options;
  o.inplanes = o.stem_type == StemType::default_stem ? options.inplanes : 2 * options.stem_width;
  BlockBuilder get_layers;
  int64_t expansion = 4;
  switch (block_type) {
    case BlockType::basicblock:
      if (o.cardinality != 1 || o.base_width != 64) {
        throw std::invalid_argument("resnet: basicblock needs cardinality 1 and base_width 64");
      }
      get_layers = basicblock_builder(block_repeats, o);
      expansion = 1;
      break;
    case BlockType::bottleneck: get_layers = bottleneck_builder(block_repeats, o); break;
    case BlockType::bottle2neck:
      if (o.dropblock_prob || o.stochastic_depth_prob || o.reduction_factor != 1) {
        throw std::invalid_argument("resnet: bottle2neck supports no DropBlock, StochasticDepth or reduction_factor");
      }
      get_layers = bottle2neck_builder(block_repeats, o);
      break;
  }
  const int64_t nfeatures = o.planes_fn(block_repeats).back() * expansion;
  auto classifier_fn = [&](int64_t nf) {
    // Always a Dropout slot (rate 0 when none is asked for): the logits layer's tensor
    // names do not depend on the option.
    return layers::create_classifier(nf, o.nclasses, flux::identity,
                                     {.use_conv = o.use_conv, .pool_layer = o.pool_layer,
                                      .dropout_prob = o.dropout_prob.value_or(0.0)});
  };
  return build_resnet(resnet_stem(o.stem_type, o), get_layers, block_repeats, o.connection(o.activation),
                      classifier_fn, nfeatures);
}

namespace {

const std::vector<int64_t> kAllDepths = {18, 34, 50, 101, 152};
const std::vector<int64_t> kLargeDepths = {50, 101, 152};

// A high-level type: its depth looked up in the table, the pretrain check, `resnet`.
// timm's feature_info: the stem's activation (before its pool), then each stage.
FeatureSpec resnet_features(BlockType block, const std::vector<int64_t>& repeats, const ResNetOptions& o) {
  const int64_t stem = o.stem_type == StemType::default_stem ? o.inplanes : 2 * o.stem_width;
  FeatureSpec spec{.stages = {{stem, 2, "layers.0.0.1"}}};
  const auto planes = o.planes_fn(repeats);
  const int64_t expansion = block == BlockType::basicblock ? 1 : 4;
  int64_t reduction = 4, last = -1;
  for (size_t s = 0; s < repeats.size(); ++s) {
    for (int64_t b = 1; b <= repeats[s]; ++b) reduction *= o.stride_fn(static_cast<int64_t>(s) + 1, b);
    last += repeats[s];
    spec.stages.push_back({planes.at(last) * expansion, reduction, "layers.0." + std::to_string(s + 1)});
  }
  return spec;
}

Model resnet_model(const std::string& name, int64_t depth, const std::vector<int64_t>& allowed, bool pretrain,
                   const ResNetOptions& options, const std::string& row, std::optional<BlockType> block = std::nullopt) {
  const auto& c = config(name, depth, allowed);
  Model m(name, resnet(block.value_or(c.block), c.repeats, options), options.inchannels);
  m->features = resnet_features(block.value_or(c.block), c.repeats, options);
  return detail::pretrained(std::move(m), pretrain, row);
}

std::string resnext_row(const std::string& prefix, int64_t depth, int64_t cardinality, int64_t base_width) {
  return prefix + std::to_string(depth) + "_" + std::to_string(cardinality) + "x" + std::to_string(base_width) + "d";
}

flux::Layer se(int64_t planes) { return layers::squeeze_excite(planes); }

}  // namespace

ResNet::ResNet(int64_t depth, const ModelOptions& o)
    : Model(resnet_model("ResNet", depth, kAllDepths, o.pretrain,
                         {.stochastic_depth_prob = o.drop_path_rate, .inchannels = o.inchannels, .nclasses = o.nclasses},
                         "resnet" + std::to_string(depth))) {}

WideResNet::WideResNet(int64_t depth, const ModelOptions& o)
    : Model(resnet_model("WideResNet", depth, {50, 101}, o.pretrain,
                         {.base_width = 128, .stochastic_depth_prob = o.drop_path_rate, .inchannels = o.inchannels,
                          .nclasses = o.nclasses},
                         "wide_resnet" + std::to_string(depth) + "_2")) {}

ResNeXt::ResNeXt(int64_t depth, const ResNeXtOptions& o)
    : Model(resnet_model("ResNeXt", depth, kLargeDepths, o.pretrain,
                         {.cardinality = o.cardinality, .base_width = o.base_width,
                          .stochastic_depth_prob = o.drop_path_rate, .inchannels = o.inchannels, .nclasses = o.nclasses},
                         resnext_row("resnext", depth, o.cardinality, o.base_width))) {}

SEResNet::SEResNet(int64_t depth, const ModelOptions& o)
    : Model(resnet_model("SEResNet", depth, kAllDepths, o.pretrain,
                         {.attn_fn = se, .stochastic_depth_prob = o.drop_path_rate, .inchannels = o.inchannels,
                          .nclasses = o.nclasses},
                         "seresnet" + std::to_string(depth))) {}

SEResNeXt::SEResNeXt(int64_t depth, const ResNeXtOptions& o)
    : Model(resnet_model("SEResNeXt", depth, kLargeDepths, o.pretrain,
                         {.cardinality = o.cardinality, .base_width = o.base_width, .attn_fn = se,
                          .stochastic_depth_prob = o.drop_path_rate, .inchannels = o.inchannels, .nclasses = o.nclasses},
                         resnext_row("seresnext", depth, o.cardinality, o.base_width))) {}

namespace {
Model res2net_model(const std::string& name, int64_t depth, const Res2NetOptions& o) {
  return resnet_model(name, depth, kLargeDepths, o.pretrain,
                      {.cardinality = o.cardinality, .base_width = o.base_width, .scale = o.scale,
                       .inchannels = o.inchannels, .nclasses = o.nclasses},
                      name == "Res2NeXt" ? (depth == 50 && o.scale == 4 && o.base_width == 4 && o.cardinality == 8 ? "res2next50" : "")
                      : o.cardinality == 1 ? "res2net" + std::to_string(depth) + "_" + std::to_string(o.base_width) + "w_" +
                                                 std::to_string(o.scale) + "s"
                                           : "",
                      BlockType::bottle2neck);
}
}  // namespace

Res2Net::Res2Net(int64_t depth, const Res2NetOptions& options) : Model(res2net_model("Res2Net", depth, options)) {}
Res2NeXt::Res2NeXt(int64_t depth, Res2NetOptions options) : Model(res2net_model("Res2NeXt", depth, options)) {}

namespace detail {

std::vector<ModelInfo> resnet_entries() {
  std::vector<ModelInfo> out;
  auto add = [&](std::string name, std::vector<std::string> aliases, std::string family, std::string source,
                 std::function<Model(const ModelOptions&)> build) {
    out.push_back({std::move(name), std::move(aliases), std::move(family), std::move(source), {224, 224}, std::move(build)});
  };
  for (int64_t d : {18, 34, 50, 101, 152}) {
    add("resnet" + std::to_string(d), {}, "ResNet", "torchvision", [d](const ModelOptions& o) { return ResNet(d, o); });
    add("seresnet" + std::to_string(d), {}, "SEResNet", "timm", [d](const ModelOptions& o) { return SEResNet(d, o); });
  }
  for (int64_t d : {50, 101}) {
    add("wide_resnet" + std::to_string(d) + "_2", {}, "WideResNet", "torchvision",
        [d](const ModelOptions& o) { return WideResNet(d, o); });
  }
  struct X {
    int64_t depth, cardinality, base_width;
    const char* source;
  };
  auto resnext_options = [](X x, const ModelOptions& o) {
    return ResNeXtOptions{.cardinality = x.cardinality, .base_width = x.base_width, .inchannels = o.inchannels,
                          .nclasses = o.nclasses, .pretrain = o.pretrain, .drop_path_rate = o.drop_path_rate};
  };
  auto suffix = [](X x) {
    return std::to_string(x.depth) + "_" + std::to_string(x.cardinality) + "x" + std::to_string(x.base_width) + "d";
  };
  for (X x : {X{50, 32, 4, "torchvision"}, X{101, 32, 8, "torchvision"}, X{101, 64, 4, "torchvision"},
              X{152, 32, 4, "Metalhead"}}) {
    add("resnext" + suffix(x), {}, "ResNeXt", x.source,
        [=](const ModelOptions& o) { return ResNeXt(x.depth, resnext_options(x, o)); });
  }
  for (X x : {X{50, 32, 4, "timm"}, X{101, 32, 4, "timm"}, X{101, 32, 8, "timm"}, X{101, 64, 4, "timm"},
              X{152, 32, 4, "Metalhead"}}) {
    add("seresnext" + suffix(x), {}, "SEResNeXt", x.source,
        [=](const ModelOptions& o) { return SEResNeXt(x.depth, resnext_options(x, o)); });
  }
  struct R {
    int64_t depth, base_width, scale;
    const char* source;
  };
  for (R r : {R{50, 26, 4, "timm"}, R{50, 26, 6, "timm"}, R{50, 26, 8, "timm"}, R{50, 48, 2, "timm"},
              R{50, 14, 8, "timm"}, R{101, 26, 4, "timm"}, R{152, 26, 4, "Metalhead"}}) {
    add("res2net" + std::to_string(r.depth) + "_" + std::to_string(r.base_width) + "w_" + std::to_string(r.scale) + "s",
        {}, "Res2Net", r.source, [r](const ModelOptions& o) {
          return Res2Net(r.depth, {.scale = r.scale, .base_width = r.base_width, .inchannels = o.inchannels,
                                   .nclasses = o.nclasses, .pretrain = o.pretrain});
        });
  }
  add("res2next50", {"res2next50_4w_4s_8x"}, "Res2NeXt", "timm", [](const ModelOptions& o) {
    return Res2NeXt(50, {.scale = 4, .base_width = 4, .cardinality = 8, .inchannels = o.inchannels,
                         .nclasses = o.nclasses, .pretrain = o.pretrain});
  });
  return out;
}

}  // namespace detail
}  // namespace metalhead
