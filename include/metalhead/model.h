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

#include <string>
#include <vector>

namespace metalhead {

using flux::Tensor;

/// The keywords every high-level model takes.
struct ModelOptions {
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;  // load `<registry name>.safetensors` (see the weights module)
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
/// `model` itself, or with `pretrain` the weights of the registry model whose architecture
/// it has (see metalhead/weights.h); throws when no registry model has it, or its file
/// is missing. A classifier of another size than the weights' stays as initialised.
Model pretrained(Model model, bool pretrain);
/// Throws a std::invalid_argument `what: value is not one of a, b, c`.
[[noreturn]] void bad_config(const std::string& what, const std::string& value, const std::vector<std::string>& allowed);
}  // namespace detail

}  // namespace metalhead
