#include <metalhead/data/image_header.h>

#include <cctype>
#include <cstring>

namespace metalhead::data {
namespace {

uint64_t be16(const uint8_t* p) { return (uint64_t(p[0]) << 8) | p[1]; }
uint64_t be32(const uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }
uint64_t le16(const uint8_t* p) { return (uint64_t(p[1]) << 8) | p[0]; }
uint64_t le24(const uint8_t* p) { return le16(p) | (uint64_t(p[2]) << 16); }
uint64_t le32(const uint8_t* p) { return le16(p) | (le16(p + 2) << 16); }

std::optional<ImageDims> png(const uint8_t* d, std::size_t n) {
  if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return std::nullopt;
  return ImageDims{be32(d + 16), be32(d + 20)};
}

// The first start-of-frame segment holds the size; other segments are skipped by length.
std::optional<ImageDims> jpeg(const uint8_t* d, std::size_t n) {
  std::size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return std::nullopt;
    const uint8_t marker = d[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      i += 2;
      continue;
    }
    const uint64_t length = be16(d + i + 2);
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (i + 9 > n) return std::nullopt;
      return ImageDims{be16(d + i + 7), be16(d + i + 5)};
    }
    if (length < 2) return std::nullopt;
    i += 2 + length;
  }
  return std::nullopt;
}

std::optional<ImageDims> bmp(const uint8_t* d, std::size_t n) {
  if (n < 26) return std::nullopt;
  const auto w = static_cast<int32_t>(le32(d + 18)), h = static_cast<int32_t>(le32(d + 22));
  return ImageDims{static_cast<uint64_t>(w < 0 ? -int64_t(w) : w), static_cast<uint64_t>(h < 0 ? -int64_t(h) : h)};
}

std::optional<ImageDims> webp(const uint8_t* d, std::size_t n) {
  if (n < 30) return std::nullopt;
  if (std::memcmp(d + 12, "VP8X", 4) == 0) return ImageDims{le24(d + 24) + 1, le24(d + 27) + 1};
  if (std::memcmp(d + 12, "VP8L", 4) == 0) {
    const uint64_t bits = le32(d + 21);
    return ImageDims{(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
  }
  if (std::memcmp(d + 12, "VP8 ", 4) == 0) return ImageDims{le16(d + 26) & 0x3FFF, le16(d + 28) & 0x3FFF};
  return std::nullopt;
}

// "P6 640 480 255" with comments (#...) and any whitespace between the fields.
std::optional<ImageDims> pnm(const uint8_t* d, std::size_t n) {
  std::size_t i = 2;
  uint64_t values[2];
  for (auto& v : values) {
    while (i < n && (std::isspace(d[i]) || d[i] == '#')) {
      if (d[i] == '#') {
        while (i < n && d[i] != '\n') ++i;
      } else {
        ++i;
      }
    }
    if (i >= n || !std::isdigit(d[i])) return std::nullopt;
    v = 0;
    while (i < n && std::isdigit(d[i]) && v < (uint64_t(1) << 40)) v = v * 10 + (d[i++] - '0');
  }
  return ImageDims{values[0], values[1]};
}

// The first directory's ImageWidth (256) and ImageLength (257) entries, SHORT or LONG.
std::optional<ImageDims> tiff(const uint8_t* d, std::size_t n) {
  const bool little = d[0] == 'I';
  auto u16 = [&](std::size_t at) { return little ? le16(d + at) : be16(d + at); };
  auto u32 = [&](std::size_t at) { return little ? le32(d + at) : be32(d + at); };
  const uint64_t ifd = u32(4);
  if (ifd + 2 > n) return std::nullopt;
  const uint64_t entries = u16(ifd);
  uint64_t width = 0, height = 0;
  for (uint64_t e = 0; e < entries && ifd + 2 + 12 * (e + 1) <= n; ++e) {
    const std::size_t at = ifd + 2 + 12 * e;
    const uint64_t tag = u16(at), type = u16(at + 2);
    if ((tag != 256 && tag != 257) || (type != 3 && type != 4)) continue;
    (tag == 256 ? width : height) = type == 3 ? u16(at + 8) : u32(at + 8);
  }
  if (width == 0 && height == 0) return std::nullopt;
  return ImageDims{width, height};
}

}  // namespace

std::optional<ImageDims> declared_image_size(const uint8_t* d, std::size_t n) {
  static const uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && std::memcmp(d, kPng, 8) == 0) return png(d, n);
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return jpeg(d, n);
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return bmp(d, n);
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) return webp(d, n);
  if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' && std::isspace(d[2])) return pnm(d, n);
  if (n >= 8 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0)) return tiff(d, n);
  return std::nullopt;
}

bool truncated_jpeg(const uint8_t* d, std::size_t n) {
  if (n < 3 || d[0] != 0xFF || d[1] != 0xD8 || d[2] != 0xFF) return false;
  // The end-of-image marker, at the end or followed by the few bytes some writers add.
  const std::size_t from = n > 64 ? n - 64 : 2;
  for (std::size_t i = n; i >= from + 2; --i) {
    if (d[i - 2] == 0xFF && d[i - 1] == 0xD9) return false;
  }
  return true;
}

}  // namespace metalhead::data
