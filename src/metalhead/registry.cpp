#include <metalhead/registry.h>

#include <metalhead/features.h>
#include <metalhead/flops.h>
#include <metalhead/weights.h>

#include "models/entries.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace metalhead {

const std::vector<ModelInfo>& registered_models() {
  static const std::vector<ModelInfo> all = [] {
    std::vector<ModelInfo> out;
    for (auto entries : {detail::resnet_entries, detail::vgg_entries, detail::alexnet_entries,
                         detail::squeezenet_entries, detail::densenet_entries, detail::inception_entries,
                         detail::mobilenet_entries, detail::efficientnet_entries, detail::mixer_entries,
                         detail::vit_entries, detail::unet_entries,
                         detail::convnext_entries, detail::convmixer_entries, detail::regnet_entries,
                         detail::shufflenet_entries, detail::swin_entries,
                         detail::maxvit_entries}) {
      auto more = entries();
      out.insert(out.end(), more.begin(), more.end());
    }
    for (ModelInfo& info : out) {
      info.parameters = tabulated_parameters(info.name);
      info.gflops = static_cast<double>(tabulated_multiply_adds(info.name)) / 1e9;
      if (auto it = detail::pretrained_cfgs().find(info.name); it != detail::pretrained_cfgs().end()) {
        info.pretrained = it->second;
      } else {
        // Metalhead's own (UNet): no published weights; ImageNet statistics, its own size.
        info.pretrained = {.weights = "", .naming = "Metalhead", .input_size = {3, info.input_size[0], info.input_size[1]},
                           .crop_pct = 1.0, .resize = info.input_size[0], .squash = true, .interpolation = "bilinear",
                           .mean = imagenet_mean, .std = imagenet_std, .label_set = ""};
      }
    }
    return out;
  }();
  return all;
}

bool is_registered(std::string_view name) {
  for (const auto& info : registered_models()) {
    if (info.name == name || std::find(info.aliases.begin(), info.aliases.end(), name) != info.aliases.end()) return true;
  }
  return false;
}

const ModelInfo& model_info(std::string_view name) {
  for (const auto& info : registered_models()) {
    if (info.name == name) return info;
    if (std::find(info.aliases.begin(), info.aliases.end(), name) != info.aliases.end()) return info;
  }
  // Suggest names sharing the longest prefix.
  std::ostringstream os;
  os << "create_model: unknown model '" << name << "'";
  std::vector<std::string> close;
  for (size_t n = std::min<size_t>(name.size(), 5); n >= 3 && close.empty(); --n) {
    for (const auto& info : registered_models()) {
      if (info.name.compare(0, n, name.substr(0, n)) == 0) close.push_back(info.name);
    }
  }
  if (!close.empty()) {
    os << "; did you mean ";
    for (size_t i = 0; i < close.size() && i < 8; ++i) os << (i ? ", " : "") << close[i];
    os << '?';
  } else {
    os << "; see list_models()";
  }
  throw std::invalid_argument(os.str());
}

const PretrainedCfg& pretrained_cfg(std::string_view name) { return model_info(name).pretrained; }

bool ModelInfo::takes_imsize() const {
  static const std::vector<std::string> sized = {"ViT", "MLPMixer", "ResMLP", "gMLP", "UNet"};
  return std::find(sized.begin(), sized.end(), family) != sized.end();
}

Model create_model(std::string_view name, const ModelOptions& options) {
  const ModelInfo& info = model_info(name);
  const std::string who = "create_model(" + info.name + ")";
  if (!options.imsize.empty()) {
    if (!info.takes_imsize()) {
      throw std::invalid_argument(who + ": a " + info.family +
                                  " takes any image size; imsize is for the families built for one (ViT, MLPMixer, "
                                  "ResMLP, gMLP, UNet)");
    }
    if (options.imsize.size() != 2 || options.imsize[0] <= 0 || options.imsize[1] <= 0) {
      throw std::invalid_argument(who + ": imsize must be {H, W}, got " + flux::shape_string(options.imsize));
    }
  }
  if (options.nclasses < 0) throw std::invalid_argument(who + ": nclasses must be >= 0, got " + std::to_string(options.nclasses));
  ModelOptions random = options;
  random.pretrain = false;
  // nclasses 0 (timm's): no classifier, the head gives the pooled features.
  if (options.nclasses == 0) random.nclasses = info.pretrained.num_classes;
  Model model = info.build(random);
  model->row = info.name;
  if (options.pretrain) model = load_pretrained(std::move(model), info.name);
  // timm's keywords on the built model: each refuses a model without the place for it.
  if (options.nclasses == 0) {
    reset_classifier(model, 0, options.global_pool);
  } else if (options.global_pool != "avg") {
    detail::set_global_pool(model, options.global_pool);
  }
  if (options.drop_rate) detail::set_head_dropout(model, *options.drop_rate);
  if (options.drop_path_rate) detail::set_drop_path(model, *options.drop_path_rate);
  return model;
}

std::vector<std::string> list_models(std::string_view filter) {
  std::vector<std::string> names;
  for (const auto& info : registered_models()) {
    if (info.name.find(filter) != std::string::npos) names.push_back(info.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace metalhead
