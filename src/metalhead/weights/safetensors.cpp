// safetensors.cpp — the torch side of safetensors: mmap'd reading, atomic writing.
#include <metalhead/weights/safetensors.h>

#include <metalhead/atomic_file.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace metalhead::weights {

// The format is little-endian and we hand its bytes to torch as they are.
static_assert(std::endian::native == std::endian::little, "safetensors: only little-endian hosts are supported");

namespace {

struct DtypePair {
  Dtype dtype;
  at::ScalarType scalar_type;
};

constexpr DtypePair kDtypePairs[] = {
    {Dtype::F64, at::kDouble}, {Dtype::F32, at::kFloat}, {Dtype::F16, at::kHalf},  {Dtype::BF16, at::kBFloat16},
    {Dtype::I64, at::kLong},   {Dtype::I32, at::kInt},   {Dtype::I16, at::kShort}, {Dtype::I8, at::kChar},
    {Dtype::U8, at::kByte},    {Dtype::BOOL, at::kBool},
};

at::ScalarType scalar_type(Dtype dtype) {
  for (const auto& p : kDtypePairs) {
    if (p.dtype == dtype) return p.scalar_type;
  }
  throw std::logic_error("safetensors: no torch dtype for " + std::string(dtype_name(dtype)));
}

std::optional<Dtype> dtype_of(at::ScalarType type) {
  for (const auto& p : kDtypePairs) {
    if (p.scalar_type == type) return p.dtype;
  }
  return std::nullopt;
}

std::string errno_text() { return std::strerror(errno); }

// A private, copy-on-write mapping of a whole file. Tensors share it through their deleters, so
// it outlives the file's name; writes through a tensor never reach the file.
class Mapping {
 public:
  Mapping(const std::filesystem::path& path, const std::string& who) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(who + ": cannot open the file: " + errno_text());
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      std::string why = S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file";
      ::close(fd);
      throw std::runtime_error(who + ": cannot read the file: " + why);
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        std::string why = errno_text();
        ::close(fd);
        throw std::runtime_error(who + ": cannot map the file into memory: " + why);
      }
      data_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file's contents
  }
  ~Mapping() {
    if (data_) ::munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

std::string supported_dtypes() {
  return "F64 (double), F32 (float), F16 (half), BF16 (bfloat16), I64 (long), I32 (int), I16 (short), "
         "I8 (char), U8 (byte) and BOOL (bool)";
}

}  // namespace

Safetensors read_safetensors(const std::filesystem::path& path) {
  auto mapping = std::make_shared<Mapping>(path, "read_safetensors(" + path.string() + ")");
  SafetensorsHeader header = parse_safetensors_header(mapping->data(), mapping->size(), path.string());
  Safetensors out{std::move(header.metadata), {}};
  out.tensors.reserve(header.tensors.size());
  for (const auto& t : header.tensors) {
    auto options = at::TensorOptions().dtype(scalar_type(t.dtype));
    uint8_t* bytes = mapping->data() + header.data_offset + t.begin;
    at::Tensor tensor;
    if (reinterpret_cast<std::uintptr_t>(bytes) % dtype_size(t.dtype) == 0) {
      tensor = at::from_blob(bytes, t.shape, [mapping](void*) {}, options);
    } else {
      tensor = at::empty(t.shape, options);
      std::memcpy(tensor.data_ptr(), bytes, t.nbytes());
    }
    out.tensors.emplace_back(t.name, std::move(tensor));
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string who = "write_safetensors(" + path.string() + ")";
  struct Item {
    const std::string* name;
    Dtype dtype;
    const at::Tensor* tensor;
  };
  std::vector<Item> items;
  std::set<std::string_view> names;
  for (const auto& [name, tensor] : tensors) {
    std::string tensor_name = "tensor '" + name + "'";
    if (name == "__metadata__") {
      throw std::invalid_argument(who + ": the tensor name '__metadata__' is reserved for the metadata");
    }
    if (!names.insert(name).second) throw std::invalid_argument(who + ": " + tensor_name + " appears twice");
    if (!tensor.defined()) throw std::invalid_argument(who + ": " + tensor_name + " is undefined");
    if (tensor.layout() != at::kStrided) {
      throw std::invalid_argument(who + ": " + tensor_name + " is not dense (layout " +
                                  c10::str(tensor.layout()) + "); convert it with to_dense() first");
    }
    auto dtype = dtype_of(tensor.scalar_type());
    if (!dtype) {
      throw std::invalid_argument(who + ": " + tensor_name + " has dtype " + std::string(c10::toString(tensor.scalar_type())) +
                                  ", safetensors files hold " + supported_dtypes());
    }
    items.push_back({&name, *dtype, &tensor});
  }
  // Largest elements first: with an 8-byte aligned header every tensor then starts aligned.
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return dtype_size(a.dtype) > dtype_size(b.dtype); });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const auto& item : items) {
    std::size_t nbytes = static_cast<std::size_t>(item.tensor->numel()) * dtype_size(item.dtype);
    header[*item.name] = {{"dtype", dtype_name(item.dtype)},
                          {"shape", item.tensor->sizes().vec()},
                          {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(who + ": tensor names and metadata must be valid UTF-8 (" + e.what() + ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // 8 + N is then a multiple of 8

  AtomicFile file(path, who);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));
  file.write(length, 8);
  file.write(text.data(), text.size());
  for (const auto& item : items) {
    at::Tensor data = item.tensor->detach().to(at::kCPU).contiguous();  // values unchanged
    file.write(data.data_ptr(), static_cast<std::size_t>(data.numel()) * dtype_size(item.dtype));
  }
  file.commit();
}

}  // namespace metalhead::weights
