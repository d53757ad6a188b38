// safetensors_format.h — the safetensors file layout, parsed and validated without torch.
//
//   [8 bytes: N, little-endian u64][N bytes: UTF-8 JSON header, maybe space-padded][data buffer]
//
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// into the data buffer) plus an optional "__metadata__" object of strings. This file knows
// nothing of torch, so the fuzzer (fuzz/safetensors_fuzz.cpp) runs it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace metalhead::weights {

/// The element types of the safetensors format that we read and write.
enum class Dtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

/// dtype_name(dtype): the format's spelling, "F32", "BF16", "BOOL", ...
std::string_view dtype_name(Dtype dtype);

/// dtype_size(dtype): bytes per element (BOOL is one byte).
std::size_t dtype_size(Dtype dtype);

/// dtype_from_name(name): the Dtype spelt `name` ("F16"), or nullopt for anything else.
std::optional<Dtype> dtype_from_name(std::string_view name);

/// One tensor of a header. `begin` and `end` are byte offsets into the data buffer (which
/// starts at SafetensorsHeader::data_offset in the file); end - begin == numel() * dtype_size.
struct TensorInfo {
  std::string name;
  Dtype dtype;
  std::vector<int64_t> shape;  // [] is a scalar
  std::size_t begin;
  std::size_t end;

  /// Number of elements: the product of `shape` (1 for a scalar).
  int64_t numel() const;
  std::size_t nbytes() const { return end - begin; }
};

/// A validated header: metadata, the tensors sorted by their data offsets (file order), and
/// where the data buffer starts in the file (8 + header length).
struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;
  std::size_t data_offset = 0;
};

/// parse_safetensors_header(data, size, source_name)
/// Parses and validates the whole file held in memory at `data` (`size` bytes): the header
/// length, the JSON (valid UTF-8, an object, no duplicate keys), every tensor's dtype, shape
/// (non-negative, no 64-bit overflow) and offsets (inside the buffer, contiguous, no overlap,
/// no gap, exactly covering the buffer, length = numel × itemsize), and that BOOL bytes are
/// 0 or 1. Anything else throws std::runtime_error naming `source_name` and the tensor:
///   safetensors(model.safetensors): tensor 'fc.weight': data_offsets [0, 12] hold 12 bytes, shape [2, 3] of F32 needs 24
/// Example: parse_safetensors_header(bytes.data(), bytes.size(), "x.safetensors").tensors[0].shape.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, std::size_t size, std::string_view source_name);

}  // namespace metalhead::weights
