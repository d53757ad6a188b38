// weights.h — saving and loading a model's weights; pretrained weights; ImageNet's classes.
//
//   metalhead::save_weights(model, "resnet18.safetensors");
//   metalhead::load_weights(model, "resnet18-f37072fd.pth");      // torchvision's file, as published
//   auto m = metalhead::create_model("resnet50", {.pretrain = true});   // $METALHEAD_WEIGHTS/resnet50.safetensors
//
// load_weights reads safetensors and torch.save (.pth) files, recognises whose names
// the file uses (ours, torchvision's or timm's) and checks every tensor's shape before it
// changes anything: on any problem the model is left as it was. Our Conv stores
// torch's kernel orientation, so torchvision's kernels load unflipped; BatchNorm's
// running statistics load with the weights (`num_batches_tracked` has no counterpart).
#pragma once

#include <metalhead/model.h>
#include <metalhead/pretrained_cfg.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace metalhead {

/// Whose tensor names a weights file uses.
enum class Naming {
  automatic,    // loading: whichever matches the file
  metalhead,    // ours: the model's named_parameters/named_buffers ("layers.0.0.weight")
  torchvision,  // torchvision's state_dict keys ("conv1.weight", "layer1.0.bn1.running_mean")
  timm,         // timm's state_dict keys ("stem.0.weight", "stages.0.blocks.0.conv_dw.weight")
};

struct LoadOptions {
  Naming naming = Naming::automatic;
  /// Refuse files with tensors the model has no place for (torchvision's auxiliary
  /// heads, say). Missing and mis-shaped tensors are always refused.
  bool strict = true;
  /// Our tensor names to leave as they are (a new head): their file tensors count as
  /// used, and may be missing or of another shape.
  std::vector<std::string> keep = {};
  /// The first convolution's weight for another number of input channels, from the
  /// file's 3-channel one as timm adapts it: summed over the channels for 1, else the
  /// channels repeated and scaled by 3 / inchannels.
  bool adapt_inchannels = false;
  /// A ViT position embedding of another grid (weights for another image size),
  /// resampled to the model's as timm resamples it (layers::resample_pos_embed).
  bool resample_pos_embed = false;
};

/// What load_weights did.
struct LoadReport {
  std::string file;
  Naming naming = Naming::automatic;         // the naming it recognised
  size_t loaded = 0;                         // tensors copied into the model
  std::vector<std::string> unused;           // file tensors with no place in the model
  std::vector<std::string> missing;          // model tensors the file lacks (our names)
  std::vector<std::string> misshaped;        // "name: file [..] vs model [..]"
  std::string summary() const;
};

/// load_weights(model, path, {.naming, .strict}): the file's tensors into the model.
/// Throws std::runtime_error naming the file and the tensors when the file cannot be
/// read, its names are not recognised, a tensor is missing or mis-shaped (or unused,
/// when strict); the model is then unchanged. Works on models built under
/// flux::SkipInit (their parameters are placeholders until loaded).
/// Tensors named "training/..." (the optimiser and RNG state of a `metalhead train`
/// checkpoint) are not the model's and are skipped.
LoadReport load_weights(Model& model, const std::filesystem::path& path, const LoadOptions& options = {});

/// load_weights over tensors already in memory (a checkpoint read once, say); `source`
/// names them in messages.
LoadReport load_weights(Model& model, std::vector<std::pair<std::string, Tensor>> tensors, const std::string& source,
                        const LoadOptions& options = {});

struct SaveOptions {
  Naming naming = Naming::metalhead;          // or torchvision / timm, for their loaders
  std::map<std::string, std::string> metadata;  // stored in the safetensors header
};

/// save_weights(model, path, {.naming}): every parameter and buffer to a safetensors
/// file, written atomically (a temporary file, then rename).
void save_weights(const Model& model, const std::filesystem::path& path, const SaveOptions& options = {});

/// The model's tensors under a naming: (name, tensor) in the model's order.
std::vector<std::pair<std::string, Tensor>> named_tensors(const Model& model, Naming naming = Naming::metalhead);

/// Where pretrained weights for a registry name are: `$METALHEAD_WEIGHTS/<name>.safetensors`,
/// then `~/.cache/metalhead/weights/<name>.safetensors`. Throws std::runtime_error saying
/// where it looked and the command that makes the file (scripts/export-weights).
std::filesystem::path pretrained_weights_path(const std::string& name);

/// The model with the pretrained weights of registry name `name` loaded: all of them,
/// or, when the model's head has another number of classes than the weights', all but
/// the logits layer (left as initialised: transfer learning). A model of other input
/// channels gets its first convolution adapted (LoadOptions::adapt_inchannels). The
/// architecture must be the row's: every other tensor is checked, by name and shape.
Model load_pretrained(Model model, const std::string& name);

namespace weights {
/// timm's adapt_input_conv: a 3-channel first-convolution weight [O, 3, kh, kw] for
/// `inchannels` inputs (summed for 1; repeated, cut and scaled by 3 / inchannels else).
Tensor adapt_input_conv(const Tensor& weight, int64_t inchannels);
}  // namespace weights

/// ImageNet-1k's class names, in the order of the models' 1000 logits.
const std::vector<std::string>& imagenet_classes();

/// The names of a pretrained config's classes, in the order of its logits (its
/// label_set's: "imagenet-1k"); throws for a config without class names (UNet's).
const std::vector<std::string>& class_names(const PretrainedCfg& cfg);

}  // namespace metalhead
