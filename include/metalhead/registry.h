// registry.h — models by name: create_model and list_models.
//
// Names are torchvision's builder names (`resnet50`, `vgg16_bn`, `googlenet`), each
// giving exactly torchvision's architecture, and timm's names for the rest and as
// aliases (`seresnet50`, `inception_v4`, `legacy_xception`).
#pragma once

#include <metalhead/model.h>
#include <metalhead/pretrained_cfg.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace metalhead {

/// One registry entry: how to build it and what it is.
struct ModelInfo {
  std::string name;                      // the canonical name
  std::vector<std::string> aliases;      // other names for exactly this model
  std::string family;                    // the Metalhead type: ResNet, VGG, ...
  std::string source;                    // whose architecture: torchvision, timm or Metalhead
  std::vector<int64_t> input_size;       // default [H, W]
  std::function<Model(const ModelOptions&)> build;
  PretrainedCfg pretrained;              // how its pretrained weights take images
  int64_t parameters = 0;                // of the 1000-class model (tests check the originals')
  double gflops = 0;                     // multiply-adds at input_size, as torchvision and timm count

  /// Whether the family is built for one image size (ViT, the mixers, UNet): ModelOptions::imsize.
  bool takes_imsize() const;
};

/// create_model(name, {.inchannels = 3, .nclasses = 1000, .pretrain = false}): the model
/// registered under `name` or one of its aliases. Unknown names throw with suggestions.
Model create_model(std::string_view name, const ModelOptions& options = {});

/// list_models(filter = ""): canonical names containing `filter`, sorted.
std::vector<std::string> list_models(std::string_view filter = "");

/// Whether `name` is a registered name or alias.
bool is_registered(std::string_view name);

/// model_info(name): the entry for a name or alias; throws for unknown names.
const ModelInfo& model_info(std::string_view name);

/// pretrained_cfg(name): the pretrained config of a name or alias; throws for unknown names.
const PretrainedCfg& pretrained_cfg(std::string_view name);

/// Every entry, in registration order.
const std::vector<ModelInfo>& registered_models();

}  // namespace metalhead
