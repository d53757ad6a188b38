// image_header.h — an image's declared size, read from its header before decoding.
//
// A 1 KB file can declare 32000 × 32000 pixels, which a decoder then allocates; checking the
// declaration first is what Pillow's decompression-bomb guard does. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace metalhead::data {

struct ImageDims {
  uint64_t width = 0, height = 0;
};

/// The width and height that a PNG, JPEG, BMP, WebP, PNM (PBM/PGM/PPM) or TIFF header
/// declares; nullopt for other formats or a header too short to tell (read_image decodes
/// only what this can tell).
std::optional<ImageDims> declared_image_size(const uint8_t* data, std::size_t size);

/// Whether `data` is a JPEG without its end-of-image marker (cut short: a decoder fills
/// the missing rows with grey and says nothing).
bool truncated_jpeg(const uint8_t* data, std::size_t size);

/// Images above this many pixels are refused before decoding (Pillow's default limit).
inline constexpr uint64_t kMaxImagePixels = 89'478'485;

}  // namespace metalhead::data
