// zip.h — a reader of zip archives held in memory, for torch.save's checkpoints.
//
// torch.save writes an uncompressed (STORED) zip with a zip64 end record; this reads the
// central directory and hands out views of STORED entries. Every offset and length is checked
// against the buffer before use, so a truncated or hostile archive gives a std::runtime_error
// naming the archive and the entry, never an out-of-bounds read. No libtorch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace metalhead::weights {

/// One entry of the central directory. `data_offset` is where the entry's bytes start in the
/// buffer (after the local header), already checked to lie inside it.
struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 STORED, 8 DEFLATE, ...
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t data_offset = 0;
};

struct ZipReaderOptions {
  bool verify_crc = true;  // check each entry's CRC-32 when it is read
};

/// ZipReader(data, name, {.verify_crc = true})
/// Parses the end-of-central-directory record (and the zip64 locator and record when present)
/// and every central directory entry of the archive in `data`, checking each local header.
/// `data` is not copied and must outlive the reader; `name` (usually the file name) starts
/// every error message. Throws std::runtime_error on a malformed or truncated archive.
/// Example: ZipReader z(bytes, "resnet18.pth"); z.read("resnet18/data.pkl") is the pickle.
class ZipReader {
 public:
  ZipReader(std::string_view data, std::string name, const ZipReaderOptions& options = {});

  /// entries(): the entries in central directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }

  /// find(name): the entry called `name`, or nullptr.
  const ZipEntry* find(std::string_view name) const;

  /// read(entry) / read(name): the bytes of a STORED entry, as a view into the buffer.
  /// Throws std::runtime_error for a missing entry, a compressed one or a CRC mismatch.
  std::string_view read(const ZipEntry& entry) const;
  std::string_view read(std::string_view name) const;

  /// name(): the archive's name, as given to the constructor.
  const std::string& name() const { return name_; }

 private:
  std::string_view data_;
  std::string name_;
  ZipReaderOptions options_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

/// crc32(bytes): the CRC-32 (ISO-HDLC, as zip and zlib compute it) of `bytes`.
uint32_t crc32(std::string_view bytes);

}  // namespace metalhead::weights
