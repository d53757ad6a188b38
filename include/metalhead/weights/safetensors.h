// safetensors.h — read and write .safetensors files as torch tensors.
//
//   auto file = metalhead::weights::read_safetensors("resnet50.safetensors");
//   for (const auto& [name, tensor] : file.tensors) ...       // file order, zero-copy
//   metalhead::weights::write_safetensors("out.safetensors", file.tensors, {{"format", "pt"}});
//
// The layout itself (and its validation) is safetensors_format.h, which needs no torch.
#pragma once

#include <metalhead/weights/safetensors_format.h>

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace metalhead::weights {

/// What a safetensors file holds: its "__metadata__" strings and its tensors in file order.
struct Safetensors {
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
};

/// The `__metadata__` key under which write_safetensors records the SHA-256 digest of the
/// file's tensors and metadata; read_safetensors checks it where present.
inline constexpr const char* kDigestKey = "metalhead_sha256";

/// read_safetensors(path)
/// Memory-maps the file and returns its metadata and tensors, in the order of their data in
/// the file. No data is copied: every tensor views the mapping, which stays alive (even if the
/// file is deleted) until the last tensor is freed. The mapping is private, so writing to a
/// tensor changes memory, never the file. A tensor whose bytes are not aligned to its element
/// size (only files from other writers) is copied into aligned memory instead. The header is
/// validated as parse_safetensors_header describes; a bad or unreadable file throws
/// std::runtime_error naming `path` (and the tensor). A file that carries a digest (every
/// file write_safetensors writes) is checked against it: "corrupt file" when they differ.
/// Files from other writers carry none and load unchecked. The digest is not part of the
/// returned metadata.
/// Example: read_safetensors("w.safetensors").tensors[0].second.sizes() is [64, 3, 7, 7].
Safetensors read_safetensors(const std::filesystem::path& path);

/// write_safetensors(path, tensors, metadata = {})
/// Writes `tensors` (names unique, not "__metadata__") and `metadata` as a safetensors file
/// that Python's `safetensors.torch.load_file` reads. Dtypes are kept exactly: float64, float32,
/// float16, bfloat16, int64, int32, int16, int8, uint8 and bool; any other dtype, an undefined
/// or sparse tensor throws std::invalid_argument and nothing is written. Tensors may be
/// non-contiguous or on any device (their values are copied to the CPU, unchanged). Data is
/// ordered by element size, largest first and otherwise as given, so every tensor is aligned;
/// the header is padded with spaces to 8 bytes. The metadata gains kDigestKey, the SHA-256
/// of the tensors and metadata (`metadata` must not hold that key). The file is written to a temporary file in the
/// same directory and renamed over `path`: a failure leaves any existing `path` untouched.
/// Example: write_safetensors("w.safetensors", {{"weight", torch::ones({2, 3})}}).
struct SafetensorsWriteOptions {
  bool digest = true;  // record kDigestKey (off: exactly the reference writer's bytes)
};
void write_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {},
                       const SafetensorsWriteOptions& options = {});

}  // namespace metalhead::weights
