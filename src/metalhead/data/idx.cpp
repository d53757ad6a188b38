// idx.cpp — reading IDX files through zlib (which reads plain files as they are).
#include <metalhead/data/idx.h>

#include <metalhead/regular_file.h>

#include <unistd.h>
#include <zlib.h>

#include <limits>
#include <memory>
#include <stdexcept>

namespace metalhead::data {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error("read_idx(" + path.string() + "): " + what);
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& path) {
  const int fd = RegularFile(path, "read_idx(" + path.string() + ")").release();
  std::unique_ptr<gzFile_s, decltype(&gzclose)> file(gzdopen(fd, "rb"), &gzclose);
  if (!file) {
    ::close(fd);
    fail(path, "cannot open the file");
  }
  auto read = [&](void* to, size_t n) {
    size_t got = 0;
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      const int r = gzread(file.get(), static_cast<char*>(to) + got, chunk);
      if (r < 0) {
        int code = 0;
        fail(path, std::string("corrupt data: ") + gzerror(file.get(), &code));
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  };

  uint8_t magic[4];
  if (read(magic, 4) != 4) fail(path, "shorter than an IDX header");
  if (magic[0] != 0 || magic[1] != 0) fail(path, "not an IDX file (its magic number does not start with two zero bytes)");
  if (magic[2] != 0x08) {
    fail(path, "element type 0x" + std::to_string(magic[2]) + " is not supported; expected unsigned bytes (0x08)");
  }
  const int ndims = magic[3];
  if (ndims < 1) fail(path, "an IDX file needs at least one dimension");

  IdxArray out;
  int64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    uint8_t b[4];
    if (read(b, 4) != 4) fail(path, "the header ends inside its dimensions");
    const int64_t d = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    if (d > 0 && total > (int64_t(1) << 40) / d) fail(path, "dimensions too large");
    total *= d;
    out.dims.push_back(d);
  }
  out.data.resize(static_cast<size_t>(total));
  const size_t got = read(out.data.data(), out.data.size());
  if (got != out.data.size()) {
    fail(path, "truncated: its dimensions need " + std::to_string(total) + " bytes of data, it has " + std::to_string(got));
  }
  uint8_t extra;
  if (read(&extra, 1) != 0) fail(path, "longer than its dimensions say");
  return out;
}

std::filesystem::path default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

LabelledImages fashion_mnist(Split split, const std::filesystem::path& dir) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const auto find = [&](const std::string& stem) {
    for (const auto& name : {stem + ".gz", stem}) {
      if (std::filesystem::exists(dir / name)) return dir / name;
    }
    throw std::runtime_error("fashion_mnist: no " + stem + "(.gz) in " + dir.string() +
                             " (Debian: apt install dataset-fashion-mnist)");
  };
  const auto images_path = find(prefix + "-images-idx3-ubyte");
  const auto labels_path = find(prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3) {
    throw std::runtime_error("fashion_mnist: " + images_path.string() + " should hold [N, rows, columns] images");
  }
  if (labels.dims.size() != 1 || labels.dims[0] != images.dims[0]) {
    throw std::runtime_error("fashion_mnist: " + labels_path.string() + " should hold one label per image (" +
                             std::to_string(images.dims[0]) + ")");
  }
  for (uint8_t l : labels.data) {
    if (l >= 10) throw std::runtime_error("fashion_mnist: " + labels_path.string() + " has a label outside 0..9");
  }
  const int64_t n = images.dims[0];
  LabelledImages out;
  out.images = at::from_blob(images.data.data(), {n, 1, images.dims[1], images.dims[2]}, at::kByte).clone();
  out.labels = at::from_blob(labels.data.data(), {n}, at::kByte).to(at::kLong);
  out.classes = fashion_mnist_classes();
  return out;
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace metalhead::data
