// model.h — metalhead::Model, the one handle for any model of the zoo.
//
//   metalhead::Model m = metalhead::create_model("resnet50", {.nclasses = 10});
//   Tensor logits = m(images);                       // [N, 10]
//   flux::Chain features = metalhead::backbone(m);   // everything before the head
//
// Every model is Chain(backbone, classifier) under its Metalhead type name, as
// Metalhead's `ResNet`, `VGG`, ... structs are; the high-level types (`ResNet`, ...)
// are Models, so whatever accepts a Model accepts them.
#pragma once

#include <flux/chain.h>
#include <flux/layer.h>

#include <optional>
#include <string>
#include <vector>

namespace metalhead {

using flux::Tensor;

/// One stage of a model's feature pyramid (timm's feature_info): the stage's output
/// channels, its stride from the input, and the module whose output it is, by our
/// tensor-name path (`layers.0.3`: the backbone's fourth layer).
struct FeatureInfo {
  int64_t channels = 0;
  int64_t reduction = 1;
  std::string module;
  bool operator==(const FeatureInfo&) const = default;
};

/// What the builders record for metalhead/features.h.
struct FeatureSpec {
  std::vector<FeatureInfo> stages;
  /// The backbone's layers from this index on (pooling, a class-token pick) belong to
  /// the head: forward_features stops before them. -1: the whole backbone is features.
  int64_t head_start = -1;
  /// ≥ 0: the stages are [N, T, D] tokens whose first `prefix_tokens` are not patches
  /// (a class token); features() returns them as [N, D, H/r, W/r] maps.
  int64_t prefix_tokens = -1;
  /// The stages are channels-last [N, H, W, C] maps (Swin's); features() permutes them.
  bool channels_last = false;
};

/// The keywords every high-level model takes, and create_model's (timm's) others.
struct ModelOptions {
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;  // load `<registry name>.safetensors` (see the weights module)
  // create_model only (the high-level types that take ModelOptions read drop_path_rate):
  std::optional<double> drop_rate;       // dropout before the logits layer
  std::optional<double> drop_path_rate;  // stochastic depth: the deepest block's rate
  std::string global_pool = "avg";       // avg, max, avgmax, or none (with nclasses 0)
  std::vector<int64_t> imsize = {};      // {H, W} for the families built for one size (ViT, mixers, UNet)
};

class ModelImpl : public flux::LayerImpl {
 public:
  /// `type_name` is what printing shows (`ResNet`); `inchannels` is checked on input.
  ModelImpl(std::string type_name, flux::Chain backbone, flux::Chain classifier, int64_t inchannels);
  /// [N, inchannels, H, W] images to [N, nclasses] logits.
  Tensor forward(const Tensor& x) override;
  std::vector<flux::ShowItem> show_items() const override { return {{"", layers.ptr(), ""}}; }
  std::string show_name() const override { return type_name; }
  void pretty_print(std::ostream& os) const override;

  flux::Chain layers;  // Chain(backbone, classifier)
  std::string type_name;
  int64_t inchannels;
  /// The registry row whose architecture this is (its pretrained weights and config);
  /// empty for a model no row describes.
  std::string row;
  /// Set by the family's builder; empty stages for a model built from a bare Chain.
  FeatureSpec features;
};

class Model : public flux::Holder<ModelImpl> {
 public:
  using Holder::Holder;
  Model(std::string type_name, flux::Chain backbone, flux::Chain classifier, int64_t inchannels)
      : Holder(make(std::move(type_name), std::move(backbone), std::move(classifier), inchannels)) {}
  /// From what the mid-level functions return: Chain(backbone, classifier).
  Model(std::string type_name, const flux::Chain& layers, int64_t inchannels);
  /// Logits of a batch of images; callable on a const handle too.
  Tensor operator()(const Tensor& x) const { return ptr()->forward(x); }
};

/// backbone(model): the feature extractor, a Chain that shares the model's layers.
flux::Chain backbone(const Model& model);
/// classifier(model): the head, a Chain that shares the model's layers.
flux::Chain classifier(const Model& model);

namespace detail {
/// `model` bound to its registry row `row` (ModelImpl::row; cleared when no such row is
/// registered), and with `pretrain` that row's weights loaded (metalhead/weights.h's
/// load_pretrained). Without a row, pretrain throws, saying `why_none` when given (how
/// this configuration differs from the registry's).
Model pretrained(Model model, bool pretrain, std::string row, const std::string& why_none = "");
/// Throws a std::invalid_argument `what: value is not one of a, b, c`.
[[noreturn]] void bad_config(const std::string& what, const std::string& value, const std::vector<std::string>& allowed);
}  // namespace detail

}  // namespace metalhead
