// atomic_file.h — files replaced whole or not at all: written to a temporary file next to
// the target, flushed to disk, then renamed over it. A failure (a full disk, say) throws
// and leaves any previous file untouched, with no temporary file behind.
//
//   metalhead::AtomicFile f("run/metrics.csv", "metrics");
//   f.write(text.data(), text.size());
//   f.commit();
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace metalhead {

class AtomicFile {
 public:
  /// `who` starts every error message ("write_safetensors(w.safetensors)").
  AtomicFile(std::filesystem::path target, std::string who);
  ~AtomicFile();  // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t n);
  /// fsync, close, rename over the target.
  void commit();

 private:
  std::filesystem::path target_, path_;
  std::string who_;
  int fd_ = -1;
  int slot_ = -1;  // in the table the signal handler cleans
  bool committed_ = false;
};

/// write_file_atomically(path, text): the whole of `text`, or nothing changes.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

/// Makes SIGINT and SIGTERM remove the temporary files of AtomicFiles being written, then
/// end the process as the signal would. For programs (the CLI); a library leaves signals alone.
void remove_temporaries_on_signal();

/// Removes the temporary files that AtomicFile left in `dir` when its process was killed
/// (SIGKILL, a crash): `.NAME.tmp-PID-N` whose process PID is gone. Returns how many.
int remove_stale_temporaries(const std::filesystem::path& dir);

}  // namespace metalhead
