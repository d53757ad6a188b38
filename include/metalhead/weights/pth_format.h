// pth_format.h — the layout of a torch.save checkpoint, read without libtorch.
//
// torch.save(state_dict) writes a STORED zip: `<archive>/data.pkl` (a pickle of an
// OrderedDict whose values are torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, ...) calls, `storage` being the persistent id ('storage', torch.FloatStorage, key,
// location, numel)), one `<archive>/data/<key>` entry per storage, `<archive>/version` and,
// since torch 1.12, `<archive>/byteorder`. Before torch 1.6 (and with
// _use_new_zipfile_serialization=False, as torchvision's oldest weights are) the file is instead
// five pickles in a row (magic number, protocol version 1001, sys_info, the object, the list of
// storage keys) followed by each storage as an int64 element count and its elements; the
// persistent ids then carry a sixth item, view metadata. parse_pth reads both, checks all of
// it (each view's extent against its storage) and hands back views of the bytes; pth.h turns
// them into tensors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <metalhead/weights/zip.h>

namespace metalhead::weights {

enum class PthDtype { float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, boolean, complex64, complex128 };

/// pth_dtype_name(dtype): torch's name, "float32", "bfloat16", "bool", ...
std::string_view pth_dtype_name(PthDtype dtype);
/// pth_dtype_size(dtype): bytes per element.
size_t pth_dtype_size(PthDtype dtype);

/// One storage: `numel` elements of `dtype` in `bytes`, a view into the archive's buffer.
struct PthStorage {
  std::string key;  // the entry is `<archive>/data/<key>`
  PthDtype dtype = PthDtype::float32;
  uint64_t numel = 0;
  std::string_view bytes;
};

/// One tensor of the state dict: a strided view of storages[storage], checked to lie inside it.
struct PthTensor {
  std::string name;
  size_t storage = 0;
  int64_t offset = 0;  // in elements
  std::vector<int64_t> size, stride;
};

struct PthCheckpoint {
  std::vector<PthStorage> storages;
  std::vector<PthTensor> tensors;  // in the state dict's order
};

/// parse_pth(bytes, name, zip_options = {.verify_crc = true})
/// Reads the zip, its data.pkl and the storages of a torch.save'd state dict held in `bytes`
/// (which must outlive the result). Accepts an OrderedDict or dict of tensors, or a dict that
/// holds one under "state_dict", "model" or "state_dict_ema" (timm's checkpoints), in that
/// order of preference; `_metadata` is ignored. Throws std::runtime_error naming `name` and
/// the key for anything else: a TorchScript or pre-0.4 tar file, a pickled module, a big-endian
/// file, a storage view (torch < 1.0), a storage shorter than a tensor's extent, a hostile zip
/// or pickle. Both the zip format (torch >= 1.6) and the legacy pickle stream are read.
/// `zip_options.verify_crc = false` skips the CRC-32 checks (the fuzz target does, to reach
/// the pickle). Example: parse_pth(bytes, "resnet18.pth").tensors[0].name == "conv1.weight".
PthCheckpoint parse_pth(std::string_view bytes, const std::string& name, const ZipReaderOptions& zip_options = {});

}  // namespace metalhead::weights
