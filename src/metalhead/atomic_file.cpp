// atomic_file.cpp — temporary file, fsync, rename.
#include <metalhead/atomic_file.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace metalhead {
namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target, std::string who) : target_(std::move(target)), who_(std::move(who)) {
  static std::atomic<unsigned> counter{0};
  const auto dir = target_.parent_path();
  for (int attempt = 0;; ++attempt) {
    path_ = dir / ("." + target_.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                   std::to_string(counter++));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST || attempt == 100) {
      throw std::runtime_error(who_ + ": cannot create a temporary file in " +
                               (dir.empty() ? std::string(".") : dir.string()) + ": " + errno_text());
    }
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
}

void AtomicFile::write(const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, std::min<std::size_t>(n, std::size_t(1) << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw std::runtime_error(who_ + ": cannot write " + path_.string() + ": " + errno_text());
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// fsync before rename: after a crash the target is either the old file or the whole new one.
void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw std::runtime_error(who_ + ": cannot flush " + path_.string() + ": " + errno_text());
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw std::runtime_error(who_ + ": cannot close " + path_.string() + ": " + errno_text());
  if (::rename(path_.c_str(), target_.c_str()) != 0) {
    throw std::runtime_error(who_ + ": cannot replace " + target_.string() + ": " + errno_text());
  }
  committed_ = true;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  AtomicFile f(path, "write(" + path.string() + ")");
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace metalhead
