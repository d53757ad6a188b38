// atomic_file.cpp — temporary file, fsync, rename.
#include <metalhead/atomic_file.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace metalhead {
namespace {
std::string errno_text() { return std::strerror(errno); }

// The temporary files being written, for the signal handler: fixed slots of plain chars,
// claimed and released with atomics, so that the handler reads them without locks.
constexpr int kSlots = 64;
constexpr std::size_t kPathMax = 4096;
char slot_paths[kSlots][kPathMax];
std::atomic<bool> slot_used[kSlots];   // claimed by a writer
std::atomic<bool> slot_ready[kSlots];  // its path is complete: the handler may unlink it

int claim_slot(const std::filesystem::path& path) {
  const std::string& s = path.native();
  if (s.size() >= kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (slot_used[i].load() || !slot_used[i].compare_exchange_strong(expected, true)) continue;
    std::memcpy(slot_paths[i], s.c_str(), s.size() + 1);
    slot_ready[i].store(true);
    return i;
  }
  return -1;  // more than kSlots files at once: this one is not cleaned on a signal
}

void release_slot(int i) {
  if (i < 0) return;
  slot_ready[i].store(false);
  slot_used[i].store(false);
}

extern "C" void remove_temporaries_and_die(int signal) {
  for (int i = 0; i < kSlots; ++i) {
    if (slot_ready[i].load()) ::unlink(slot_paths[i]);
  }
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

// The temporary name for `target` in this process: `.NAME.tmp-PID-N`.
std::string temporary_prefix(const std::string& name) { return "." + name + ".tmp-"; }
}  // namespace

void remove_temporaries_on_signal() {
  struct sigaction action {};
  action.sa_handler = remove_temporaries_and_die;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGINT, SIGTERM}) ::sigaction(s, &action, nullptr);
}

int remove_stale_temporaries(const std::filesystem::path& dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto tmp = name.find(".tmp-");
    if (name.empty() || name[0] != '.' || tmp == std::string::npos || !entry.is_regular_file(ec)) continue;
    const std::string rest = name.substr(tmp + 5);  // PID-N
    const auto dash = rest.find('-');
    if (dash == std::string::npos || dash == 0 || rest.find_first_not_of("0123456789-") != std::string::npos) continue;
    const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH && ::unlink(entry.path().c_str()) == 0) ++removed;
  }
  return removed;
}

AtomicFile::AtomicFile(std::filesystem::path target, std::string who) : target_(std::move(target)), who_(std::move(who)) {
  static std::atomic<unsigned> counter{0};
  const auto dir = target_.parent_path();
  for (int attempt = 0;; ++attempt) {
    path_ = dir / (temporary_prefix(target_.filename().string()) + std::to_string(::getpid()) + "-" +
                   std::to_string(counter++));
    slot_ = claim_slot(path_);  // before the file exists, so that a signal never misses it
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    release_slot(slot_);
    slot_ = -1;
    if (errno != EEXIST || attempt == 100) {
      throw std::runtime_error(who_ + ": cannot create a temporary file in " +
                               (dir.empty() ? std::string(".") : dir.string()) + ": " + errno_text());
    }
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
  release_slot(slot_);
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
  release_slot(slot_);
  slot_ = -1;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  AtomicFile f(path, "write(" + path.string() + ")");
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace metalhead
