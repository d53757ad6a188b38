// regular_file.h — files opened for reading only when they are regular files.
//
// A FIFO, a device or a directory given as weights, a checkpoint or an image would block
// (or never end) when read; this opens without blocking, checks what the path is, and
// refuses anything but a regular file before reading a byte.
//
//   metalhead::RegularFile f("w.safetensors", "load_weights(w.safetensors)");
//   std::string bytes = f.read_all();
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace metalhead {

class RegularFile {
 public:
  /// Throws std::runtime_error "<who>: cannot open the file: no such file" or "<who>: cannot
  /// read the file: not a regular file (a FIFO)", before anything is read.
  RegularFile(const std::filesystem::path& path, std::string who);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }
  /// The size when opened.
  std::size_t size() const { return size_; }
  /// Up to `n` bytes from the current position; fewer only at the end of the file.
  std::size_t read(void* to, std::size_t n);
  /// The whole file from the start.
  std::string read_all();
  /// Hands the descriptor over (to zlib, say): the caller closes it.
  int release();

 private:
  std::string who_;
  int fd_ = -1;
  std::size_t size_ = 0;
};

/// Throws as RegularFile does unless `path` names a regular file (following links).
void require_regular_file(const std::filesystem::path& path, const std::string& who);

}  // namespace metalhead
