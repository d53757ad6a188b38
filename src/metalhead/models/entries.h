// entries.h — each family's registry entries (internal): the registry lists them
// explicitly, so no entry depends on static initialisation in a static library.
#pragma once

#include <metalhead/registry.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace metalhead::detail {

std::vector<ModelInfo> resnet_entries();
std::vector<ModelInfo> vgg_entries();
std::vector<ModelInfo> alexnet_entries();
std::vector<ModelInfo> squeezenet_entries();
std::vector<ModelInfo> densenet_entries();
std::vector<ModelInfo> inception_entries();
std::vector<ModelInfo> mobilenet_entries();
std::vector<ModelInfo> efficientnet_entries();
std::vector<ModelInfo> mixer_entries();
std::vector<ModelInfo> vit_entries();
std::vector<ModelInfo> unet_entries();
std::vector<ModelInfo> convnext_entries();
std::vector<ModelInfo> convmixer_entries();
std::vector<ModelInfo> regnet_entries();
std::vector<ModelInfo> shufflenet_entries();
std::vector<ModelInfo> swin_entries();
std::vector<ModelInfo> maxvit_entries();

// Each registered name's pretrained config (pretrained_cfgs.cpp).
const std::map<std::string, PretrainedCfg, std::less<>>& pretrained_cfgs();

}  // namespace metalhead::detail
