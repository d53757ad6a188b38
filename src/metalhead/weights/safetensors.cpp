// safetensors.cpp — the torch side of safetensors: mmap'd reading, atomic writing.
#include <metalhead/weights/safetensors.h>
#include <metalhead/regular_file.h>

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
#include <openssl/evp.h>
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
    RegularFile file(path, who);
    size_ = file.size();
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd(), 0);
      if (p == MAP_FAILED) throw std::runtime_error(who + ": cannot map the file into memory: " + errno_text());
      data_ = static_cast<uint8_t*>(p);
    }
    // Closing the file leaves the mapping and the file's contents.
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

// SHA-256 over what a file means: its metadata (but the digest), every tensor's name,
// dtype, shape and place, and the data buffer. A flipped bit anywhere changes it.
class Digest {
 public:
  Digest() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 unavailable");
  }
  void add(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  void add(std::string_view s) {
    add(s.data(), s.size());
    add("", 1);  // a separator, so that ("ab", "c") and ("a", "bc") differ
  }
  void add_metadata(const std::map<std::string, std::string>& metadata) {
    for (const auto& [key, value] : metadata) {
      if (key == kDigestKey) continue;
      add(key);
      add(value);
    }
  }
  void add_tensor(std::string_view name, Dtype dtype, at::IntArrayRef shape, std::size_t begin, std::size_t end) {
    add(name);
    add(dtype_name(dtype));
    std::string dims;
    for (auto d : shape) dims += std::to_string(d) + ",";
    add(dims);
    add(std::to_string(begin) + "-" + std::to_string(end));
  }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &n);
    std::string text;
    for (unsigned i = 0; i < n; ++i) {
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", out[i]);
      text += buf;
    }
    return text;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

std::string supported_dtypes() {
  return "F64 (double), F32 (float), F16 (half), BF16 (bfloat16), I64 (long), I32 (int), I16 (short), "
         "I8 (char), U8 (byte) and BOOL (bool)";
}

}  // namespace

Safetensors read_safetensors(const std::filesystem::path& path) {
  auto mapping = std::make_shared<Mapping>(path, "read_safetensors(" + path.string() + ")");
  SafetensorsHeader header = parse_safetensors_header(mapping->data(), mapping->size(), path.string());
  if (auto carried = header.metadata.find(kDigestKey); carried != header.metadata.end()) {
    Digest digest;
    digest.add_metadata(header.metadata);
    for (const auto& t : header.tensors) digest.add_tensor(t.name, t.dtype, t.shape, t.begin, t.end);
    digest.add(mapping->data() + header.data_offset, mapping->size() - header.data_offset);
    if (digest.hex() != carried->second) {
      throw std::runtime_error("read_safetensors(" + path.string() + "): corrupt file: its contents do not match the SHA-256 digest it carries (" +
                               std::string(kDigestKey) + "); it was changed or damaged after it was written");
    }
    header.metadata.erase(carried);
  }
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
                       const std::map<std::string, std::string>& metadata, const SafetensorsWriteOptions& options) {
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

  if (metadata.count(kDigestKey)) throw std::invalid_argument(who + ": the metadata key " + std::string(kDigestKey) + " is reserved");
  // The digest goes in the header, before the data: a first pass over the data computes it.
  Digest digest;
  std::map<std::string, std::string> with_digest = metadata;
  digest.add_metadata(metadata);
  std::size_t offset = 0;
  for (const auto& item : items) {
    std::size_t nbytes = static_cast<std::size_t>(item.tensor->numel()) * dtype_size(item.dtype);
    digest.add_tensor(*item.name, item.dtype, item.tensor->sizes(), offset, offset + nbytes);
    offset += nbytes;
  }
  if (options.digest) {
    for (const auto& item : items) {
      at::Tensor data = item.tensor->detach().to(at::kCPU).contiguous();
      digest.add(data.data_ptr(), static_cast<std::size_t>(data.numel()) * dtype_size(item.dtype));
    }
    with_digest[kDigestKey] = digest.hex();
  }

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!with_digest.empty()) header["__metadata__"] = with_digest;
  offset = 0;
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
