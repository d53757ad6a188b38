#include <metalhead/regular_file.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace metalhead {
namespace {

std::string kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

[[noreturn]] void refuse(const std::string& who, mode_t mode) {
  throw std::runtime_error(who + ": cannot read the file: not a regular file (" + kind(mode) + ")");
}

}  // namespace

void require_regular_file(const std::filesystem::path& path, const std::string& who) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw std::runtime_error(who + ": cannot open the file: " + (errno == ENOENT ? std::string("no such file") : std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) refuse(who, st.st_mode);
}

RegularFile::RegularFile(const std::filesystem::path& path, std::string who) : who_(std::move(who)) {
  require_regular_file(path, who_);
  // O_NONBLOCK: should the path have become a FIFO since, opening it does not wait for a writer.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) throw std::runtime_error(who_ + ": cannot open the file: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    refuse(who_, st.st_mode);
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  size_ = static_cast<std::size_t>(st.st_size);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t RegularFile::read(void* to, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd_, static_cast<char*>(to) + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(who_ + ": cannot read the file: " + std::strerror(errno));
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

std::string RegularFile::read_all() {
  if (::lseek(fd_, 0, SEEK_SET) < 0) throw std::runtime_error(who_ + ": cannot read the file: " + std::strerror(errno));
  std::string bytes(size_, '\0');
  const std::size_t got = read(bytes.data(), size_);
  if (got != size_) throw std::runtime_error(who_ + ": the file shrank while being read");
  return bytes;
}

int RegularFile::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

}  // namespace metalhead
