// convmixer.h — ConvMixer (Metalhead's `convmixer`), "Patches Are All You Need?".
//
//   metalhead::ConvMixer("base", {.nclasses = 10})                                // high level
//   metalhead::convmixer(768, 32, {.kernel_size = {7, 7}, .activation = flux::relu})  // mid level
//
// Architectures equal timm's convmixer_1536_20 ("base"), convmixer_768_32 ("small") and
// convmixer_1024_20_ks9_p14; Metalhead's "large" (1024, depth 20, kernel 9, patch 7, which
// timm does not ship) follows Metalhead's numbers. Where Metalhead differs, we follow timm:
// - every convolution has a bias (Metalhead's conv_norm drops it before a BatchNorm);
// - GELU is the exact (erf) one, not NNlib's tanh form, and "small" (convmixer_768_32) uses
//   relu, as timm's does;
// - a depthwise convolution with an even kernel pads as torch's padding = "same" (the extra
//   pixel last); Metalhead's SamePad puts it first. Every configuration has an odd kernel.
#pragma once

#include <flux/activations.h>
#include <flux/chain.h>
#include <metalhead/model.h>

#include <optional>
#include <string>
#include <vector>

namespace metalhead {

struct ConvMixerOptions {
  std::vector<int64_t> kernel_size = {9, 9};  // of the depthwise convolutions
  std::vector<int64_t> patch_size = {7, 7};   // the stem's kernel and stride
  flux::Activation activation = flux::gelu_erf;
  std::optional<double> dropout_prob;          // before the classifier's Dense; nullopt: no Dropout
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// convmixer(planes, depth, {.kernel_size = {9, 9}, .patch_size = {7, 7}, .activation = gelu_erf,
///           .dropout_prob = nullopt, .inchannels = 3, .nclasses = 1000})
/// Chain(backbone, classifier). The backbone: the patch embedding Conv(patch_size, stride
/// patch_size, inchannels => planes, activation) and BatchNorm, then `depth` blocks
/// Chain(SkipConnection(Chain(depthwise Conv(kernel_size, "same" padding, activation),
/// BatchNorm), +), Conv(1×1, activation), BatchNorm). The classifier is create_classifier:
/// global mean pool, flatten, Dropout when given, Dense(planes => nclasses).
/// Example: convmixer(256, 8) maps [N, 3, 224, 224] to [N, 1000] through [N, 256, 32, 32].
flux::Chain convmixer(int64_t planes, int64_t depth, const ConvMixerOptions& options = {});

/// ConvMixer(config, {inchannels, nclasses, pretrain}): "base" (1536 planes, depth 20,
/// kernel 9, patch 7), "small" (768, 32, kernel 7, patch 7, relu) or "large" (1024, 20,
/// kernel 9, patch 7).
class ConvMixer : public Model {
 public:
  explicit ConvMixer(const std::string& config, const ModelOptions& options = {});
};

}  // namespace metalhead
