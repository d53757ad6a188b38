// zip.cpp — the central directory, zip64 records and local headers of an in-memory zip.
#include <metalhead/weights/zip.h>

#include <array>
#include <stdexcept>

namespace metalhead::weights {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22, kZip64LocatorSize = 20, kZip64EndSize = 56;
constexpr size_t kCentralSize = 46, kLocalHeaderSize = 30;

// Little-endian reads; callers have checked the bounds.
uint64_t le(const std::string_view d, uint64_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(d[at + i]);
  return v;
}

// [offset, offset + length) lies within [0, limit), without overflow.
bool fits(uint64_t offset, uint64_t length, uint64_t limit) { return offset <= limit && length <= limit - offset; }

std::array<uint32_t, 256> crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

}  // namespace

uint32_t crc32(std::string_view bytes) {
  static const auto table = crc_table();
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : bytes) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

ZipReader::ZipReader(std::string_view data, std::string name, const ZipReaderOptions& options)
    : data_(data), name_(std::move(name)), options_(options) {
  const uint64_t n = data_.size();
  auto fail = [&](const std::string& what) { throw std::runtime_error("zip archive " + name_ + ": " + what); };
  if (n < kEndSize) fail("too short to be a zip archive (" + std::to_string(n) + " bytes)");

  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  uint64_t end = n - kEndSize;
  const uint64_t lowest = n - kEndSize > 65535 ? n - kEndSize - 65535 : 0;
  for (;; --end) {
    if (le(data_, end, 4) == kEndSig && end + kEndSize + le(data_, end + 20, 2) <= n) break;
    if (end == lowest) fail("no end-of-central-directory record (truncated or not a zip archive)");
  }
  if (le(data_, end + 4, 2) != 0 || le(data_, end + 6, 2) != 0) fail("multi-disk archives are not supported");
  uint64_t count = le(data_, end + 10, 2), cd_size = le(data_, end + 12, 4), cd_offset = le(data_, end + 16, 4);
  uint64_t cd_limit = end;  // the central directory ends before this

  if (end >= kZip64LocatorSize && le(data_, end - kZip64LocatorSize, 4) == kZip64LocatorSig) {
    const uint64_t locator = end - kZip64LocatorSize;
    const uint64_t record = le(data_, locator + 8, 8);
    if (!fits(record, kZip64EndSize, locator) || le(data_, record, 4) != kZip64EndSig) {
      fail("zip64 locator points at offset " + std::to_string(record) + ", where there is no zip64 end record");
    }
    if (le(data_, record + 16, 4) != 0 || le(data_, record + 20, 4) != 0) fail("multi-disk archives are not supported");
    count = le(data_, record + 32, 8);
    cd_size = le(data_, record + 40, 8);
    cd_offset = le(data_, record + 48, 8);
    cd_limit = record;
  }
  if (!fits(cd_offset, cd_size, cd_limit)) {
    fail("central directory (offset " + std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
         " bytes) lies outside the archive's " + std::to_string(cd_limit) + " bytes before its end record");
  }
  if (count > cd_size / kCentralSize) {
    fail("central directory of " + std::to_string(cd_size) + " bytes cannot hold " + std::to_string(count) + " entries");
  }

  entries_.reserve(count);
  uint64_t at = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string where = "central directory entry " + std::to_string(i);
    if (!fits(at, kCentralSize, cd_end) || le(data_, at, 4) != kCentralSig) {
      fail(where + " at offset " + std::to_string(at) + " is missing or truncated");
    }
    const uint64_t name_len = le(data_, at + 28, 2), extra_len = le(data_, at + 30, 2), comment_len = le(data_, at + 32, 2);
    if (!fits(at + kCentralSize, name_len + extra_len + comment_len, cd_end)) fail(where + " runs past the central directory");
    ZipEntry e;
    e.name = std::string(data_.substr(at + kCentralSize, name_len));
    const std::string entry = "entry '" + e.name + "'";
    const uint64_t flags = le(data_, at + 8, 2);
    e.method = static_cast<uint16_t>(le(data_, at + 10, 2));
    e.crc32 = static_cast<uint32_t>(le(data_, at + 16, 4));
    e.compressed_size = le(data_, at + 20, 4);
    e.size = le(data_, at + 24, 4);
    uint64_t disk = le(data_, at + 34, 2), local = le(data_, at + 42, 4);
    if (flags & 1) fail(entry + " is encrypted");

    // The zip64 extra field holds, in this order, whichever of these were saturated.
    uint64_t x = at + kCentralSize + name_len;
    const uint64_t x_end = x + extra_len;
    while (x + 4 <= x_end) {
      const uint64_t id = le(data_, x, 2), len = le(data_, x + 2, 2);
      if (x + 4 + len > x_end) fail(entry + ": extra field runs past its end");
      if (id == 0x0001) {
        uint64_t p = x + 4;
        auto take = [&](uint64_t& field, uint64_t saturated, int bytes) {
          if (field != saturated) return;
          if (p + bytes > x + 4 + len) fail(entry + ": zip64 extra field is too short");
          field = le(data_, p, bytes);
          p += bytes;
        };
        take(e.size, 0xFFFFFFFF, 8);
        take(e.compressed_size, 0xFFFFFFFF, 8);
        take(local, 0xFFFFFFFF, 8);
        take(disk, 0xFFFF, 4);
      }
      x += 4 + len;
    }
    if (disk != 0) fail(entry + " is on disk " + std::to_string(disk) + "; multi-disk archives are not supported");

    // The local header repeats the name and may carry a different extra field (torch pads
    // there to align the data to 64 bytes).
    if (!fits(local, kLocalHeaderSize, cd_offset) || le(data_, local, 4) != kLocalHeaderSig) {
      fail(entry + ": no local header at offset " + std::to_string(local));
    }
    const uint64_t local_name = le(data_, local + 26, 2), local_extra = le(data_, local + 28, 2);
    if (!fits(local + kLocalHeaderSize, local_name + local_extra, cd_offset)) fail(entry + ": local header runs past the data");
    if (data_.substr(local + kLocalHeaderSize, local_name) != e.name) fail(entry + ": local header names a different entry");
    e.data_offset = local + kLocalHeaderSize + local_name + local_extra;
    if (!fits(e.data_offset, e.compressed_size, cd_offset)) {
      fail(entry + ": its " + std::to_string(e.compressed_size) + " bytes at offset " + std::to_string(e.data_offset) +
           " run past the end of the data (" + std::to_string(cd_offset) + " bytes)");
    }
    if (e.method == 0 && e.compressed_size != e.size) {
      fail(entry + " is stored but its sizes differ (" + std::to_string(e.compressed_size) + " vs " + std::to_string(e.size) + ")");
    }
    entries_.push_back(std::move(e));
    at += kCentralSize + name_len + extra_len + comment_len;
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!index_.emplace(entries_[i].name, i).second) fail("entry '" + entries_[i].name + "' appears twice");
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::string_view ZipReader::read(const ZipEntry& e) const {
  if (e.method != 0) {
    throw std::runtime_error("zip archive " + name_ + ": entry '" + e.name + "' is compressed (method " +
                             std::to_string(e.method) + "); only stored (method 0) entries can be read");
  }
  const std::string_view bytes = data_.substr(e.data_offset, e.size);
  if (options_.verify_crc && crc32(bytes) != e.crc32) {
    throw std::runtime_error("zip archive " + name_ + ": entry '" + e.name + "' fails its CRC-32 check (corrupt file)");
  }
  return bytes;
}

std::string_view ZipReader::read(std::string_view name) const {
  const ZipEntry* e = find(name);
  if (!e) throw std::runtime_error("zip archive " + name_ + ": no entry '" + std::string(name) + "'");
  return read(*e);
}

}  // namespace metalhead::weights
