// pth.h — torch.save checkpoints (.pth, .pt) as named tensors, without Python or torch::pickle_load.
//
// libtorch's torch::pickle_load does not read the state dicts that torchvision and timm publish,
// so this reads them itself: parse_pth (pth_format.h) checks the archive, read_pth copies each
// storage into a tensor and rebuilds the views with as_strided, as torch.load does.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace metalhead::weights {

/// Tensors by name, in the file's order.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// read_pth(path)
/// The state dict saved by torch.save(model.state_dict(), path), or the one a timm checkpoint
/// holds under "state_dict"/"model"/"state_dict_ema", as CPU tensors in the file's order; the
/// zip format of torch >= 1.6 and the legacy format of older files (torchvision's first weights).
/// Tensors that shared a storage in Python share one here, and keep their strides and offsets
/// (a transposed weight stays transposed). Throws std::runtime_error naming the file and the
/// key when the file is not such a checkpoint (see parse_pth).
/// Example: for (auto& [name, t] : read_pth("resnet18-f37072fd.pth")) ... // "conv1.weight" [64, 3, 7, 7]
NamedTensors read_pth(const std::string& path);

/// read_pth_bytes(bytes, name): read_pth of a checkpoint already in memory; `name` is used in
/// error messages. The tensors own copies of their storages.
NamedTensors read_pth_bytes(std::string_view bytes, const std::string& name);

}  // namespace metalhead::weights
