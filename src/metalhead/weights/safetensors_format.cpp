// safetensors_format.cpp — the header parser. Standard library and nlohmann::json only: no
// torch here, so that fuzz/safetensors_fuzz.cpp links this file alone.
#include <metalhead/weights/safetensors_format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace metalhead::weights {

namespace {

using json = nlohmann::json;

// The reference implementation (safetensors' Rust crate) refuses headers above 100 MB too;
// a larger length is a corrupt or hostile file, not a model.
constexpr std::size_t kMaxHeaderBytes = 100'000'000;
// The largest published checkpoints hold a few thousand tensors per file.
constexpr std::size_t kMaxTensors = 1'000'000;

struct DtypeEntry {
  Dtype dtype;
  std::string_view name;
  std::size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {Dtype::F64, "F64", 8}, {Dtype::F32, "F32", 4}, {Dtype::F16, "F16", 2}, {Dtype::BF16, "BF16", 2},
    {Dtype::I64, "I64", 8}, {Dtype::I32, "I32", 4}, {Dtype::I16, "I16", 2}, {Dtype::I8, "I8", 1},
    {Dtype::U8, "U8", 1},   {Dtype::BOOL, "BOOL", 1},
};

const DtypeEntry& entry(Dtype dtype) {
  for (const auto& e : kDtypes) {
    if (e.dtype == dtype) return e;
  }
  throw std::logic_error("safetensors: unknown Dtype value " + std::to_string(static_cast<int>(dtype)));
}

// Names and values from a hostile file can be huge or hold control bytes; keep messages one short line.
std::string in_quotes(std::string_view s) {
  constexpr std::size_t kMax = 120;
  std::string out = "'";
  for (char c : s.substr(0, kMax)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// nlohmann's parse errors quote the bytes last read, which may be anything; escape them.
std::string ascii(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// A JSON value for a message: scalars as written, containers by kind (never a deep dump).
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array of " + std::to_string(v.size());
    case json::value_t::string: return "the string " + in_quotes(v.get_ref<const std::string&>());
    default: return v.dump();
  }
}

// A small array of scalars as written ([0,-8]); anything else described, so no deep recursion.
std::string short_dump(const json& v) {
  if (!v.is_array() || v.size() > 4) return describe(v);
  for (const auto& e : v) {
    if (e.is_structured()) return describe(v);
  }
  return v.dump();
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i == 16) return out + ", ... (" + std::to_string(shape.size()) + " dimensions)]";
    out += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return out + "]";
}

std::string offsets_string(const TensorInfo& t) {
  return "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
}

std::string all_dtype_names() {
  std::string out;
  for (const auto& e : kDtypes) out += (out.empty() ? "" : ", ") + std::string(e.name);
  return out;
}

class Checker {
 public:
  explicit Checker(std::string_view source) : prefix_("safetensors(" + std::string(source) + "): ") {}

  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(prefix_ + what); }
  [[noreturn]] void fail(const std::string& tensor, const std::string& what) const {
    fail("tensor " + in_quotes(tensor) + ": " + what);
  }

 private:
  std::string prefix_;
};

// A SAX pass that refuses duplicate keys (nlohmann would silently let the last one win)
// and counts the tensors, in time linear in the header. (nlohmann's callback parser
// re-scans the parent object at the end of every entry: quadratic in the tensor count.)
class KeyChecker : public nlohmann::json_sax<json> {
 public:
  std::string duplicate, duplicate_in, error;
  std::size_t entries = 0;

  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return true;
  }
  bool key(string_t& key) override {
    if (keys_.size() == 1) {
      current_tensor_ = key;
      if (key != "__metadata__" && ++entries > kMaxTensors) {
        error = "header lists more than " + std::to_string(kMaxTensors) + " tensors, the limit";
        return false;
      }
    }
    if (!keys_.back().insert(key).second) {
      duplicate = key;
      duplicate_in = keys_.size() == 1 ? "" : current_tensor_;
      return false;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = std::string("header is not valid JSON: ") + ascii(e.what());
    return false;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }

 private:
  std::vector<std::set<std::string>> keys_;  // one set per open object
  std::string current_tensor_;
};

json parse_json(const char* first, const char* last, const Checker& check) {
  KeyChecker keys;
  json::sax_parse(first, last, &keys);
  if (!keys.error.empty()) check.fail(keys.error);
  if (!keys.duplicate.empty()) {
    if (keys.duplicate_in.empty()) check.fail("header names tensor " + in_quotes(keys.duplicate) + " twice");
    check.fail(keys.duplicate_in, "key " + in_quotes(keys.duplicate) + " appears twice");
  }
  json header;
  try {
    header = json::parse(first, last);
  } catch (const json::exception& e) {
    check.fail("header is not valid JSON: " + ascii(e.what()));
  }
  if (!header.is_object()) check.fail("header must be a JSON object, got " + describe(header));
  return header;
}

std::map<std::string, std::string> parse_metadata(const json& value, const Checker& check) {
  if (!value.is_object()) check.fail("__metadata__ must be an object of strings, got " + describe(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) check.fail("__metadata__ entry " + in_quotes(key) + " must be a string, got " + describe(v));
    metadata.emplace(key, v.get<std::string>());
  }
  return metadata;
}

const json& field(const json& value, const char* key, const std::string& name, const Checker& check) {
  auto it = value.find(key);
  if (it == value.end()) check.fail(name, std::string("missing \"") + key + "\"");
  return *it;
}

// Unknown keys inside a tensor entry are ignored, as the reference reader ignores them.
TensorInfo parse_tensor(const std::string& name, const json& value, std::size_t buffer_size, const Checker& check) {
  if (!value.is_object()) {
    check.fail(name, "expected an object with dtype, shape and data_offsets, got " + describe(value));
  }
  TensorInfo t{name, Dtype::F32, {}, 0, 0};

  const json& dtype = field(value, "dtype", name, check);
  if (!dtype.is_string()) check.fail(name, "dtype must be a string, got " + describe(dtype));
  auto parsed = dtype_from_name(dtype.get_ref<const std::string&>());
  if (!parsed) check.fail(name, "dtype " + in_quotes(dtype.get_ref<const std::string&>()) + " is not one of " + all_dtype_names());
  t.dtype = *parsed;

  const json& shape = field(value, "shape", name, check);
  if (!shape.is_array()) check.fail(name, "shape must be an array of integers, got " + describe(shape));
  int64_t numel = 1;
  bool overflow = false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const json& d = shape[i];
    if (d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max())) {
      t.shape.push_back(d.get<int64_t>());
      overflow = overflow || __builtin_mul_overflow(numel, t.shape.back(), &numel);
    } else {
      check.fail(name, "shape dimension " + std::to_string(i) + " is " + describe(d) +
                           ", expected an integer from 0 to 2^63 - 1");
    }
  }
  if (overflow) check.fail(name, "shape " + shape_string(t.shape) + " has more elements than fit in 64 bits");
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(uint64_t(numel), uint64_t(dtype_size(t.dtype)), &nbytes)) {
    check.fail(name, "shape " + shape_string(t.shape) + " of " + std::string(dtype_name(t.dtype)) +
                         " needs more bytes than fit in 64 bits");
  }

  const json& offsets = field(value, "data_offsets", name, check);
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    check.fail(name, "data_offsets must be two non-negative integers [begin, end], got " +
                         short_dump(offsets));
  }
  uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  std::string range = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
  if (end < begin) check.fail(name, range + " end before they begin");
  if (end > buffer_size) {
    check.fail(name, range + " run past the data buffer of " + std::to_string(buffer_size) + " bytes");
  }
  t.begin = begin;
  t.end = end;
  if (end - begin != nbytes) {
    check.fail(name, range + " hold " + std::to_string(end - begin) + " bytes, shape " + shape_string(t.shape) +
                         " of " + std::string(dtype_name(t.dtype)) + " needs " + std::to_string(nbytes));
  }
  return t;
}

// The regions, sorted, must tile the buffer exactly: the first starts at 0, each starts where
// the previous ends, the last ends at the end of the file.
void check_layout(const std::vector<TensorInfo>& tensors, std::size_t buffer_size, const Checker& check) {
  std::size_t pos = 0;
  const TensorInfo* previous = nullptr;
  for (const auto& t : tensors) {
    if (t.begin < pos) {
      check.fail(t.name, "data_offsets " + offsets_string(t) + " overlap tensor " + in_quotes(previous->name) + " at " +
                             offsets_string(*previous));
    }
    if (t.begin > pos) {
      check.fail(t.name, "data_offsets " + offsets_string(t) + " leave a gap of " + std::to_string(t.begin - pos) +
                             " bytes after " +
                             (previous ? "tensor " + in_quotes(previous->name) + " at " + offsets_string(*previous)
                                       : std::string("the start of the data buffer")));
    }
    pos = t.end;
    previous = &t;
  }
  if (pos != buffer_size) {
    std::string after = previous ? "after the last tensor " + in_quotes(previous->name) + " at " + offsets_string(*previous)
                                 : std::string("in a file without tensors");
    check.fail(std::to_string(buffer_size - pos) + " bytes of data " + after + " belong to no tensor");
  }
}

// torch's bool must be 0 or 1; any other byte makes its results undefined.
void check_bools(const TensorInfo& t, const uint8_t* buffer, const Checker& check) {
  for (std::size_t i = t.begin; i < t.end; ++i) {
    if (buffer[i] > 1) {
      check.fail(t.name, "BOOL element " + std::to_string(i - t.begin) + " is byte " + std::to_string(buffer[i]) +
                             ", expected 0 or 1");
    }
  }
}

}  // namespace

std::string_view dtype_name(Dtype dtype) { return entry(dtype).name; }

std::size_t dtype_size(Dtype dtype) { return entry(dtype).size; }

std::optional<Dtype> dtype_from_name(std::string_view name) {
  for (const auto& e : kDtypes) {
    if (e.name == name) return e.dtype;
  }
  return std::nullopt;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, std::size_t size, std::string_view source_name) {
  Checker check(source_name);
  if (size < 8) {
    check.fail("file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian whatever the host
  if (n > size - 8) {
    check.fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
               " bytes)");
  }
  if (n > kMaxHeaderBytes) {
    check.fail("header length " + std::to_string(n) + " is above the limit of " + std::to_string(kMaxHeaderBytes) +
               " bytes");
  }

  const char* text = reinterpret_cast<const char*>(data + 8);
  // JSON text never holds a raw NUL, and nlohmann would take one as the end of the input.
  if (const void* nul = std::memchr(text, '\0', n)) {
    check.fail("header has a NUL byte at offset " + std::to_string(static_cast<const char*>(nul) - text) +
               ", which JSON does not allow");
  }
  json header = parse_json(text, text + n, check);

  SafetensorsHeader out;
  out.data_offset = 8 + n;
  std::size_t buffer_size = size - out.data_offset;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      out.metadata = parse_metadata(value, check);
    } else {
      out.tensors.push_back(parse_tensor(name, value, buffer_size, check));
    }
  }
  std::sort(out.tensors.begin(), out.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  check_layout(out.tensors, buffer_size, check);
  for (const auto& t : out.tensors) {
    if (t.dtype == Dtype::BOOL) check_bools(t, data + out.data_offset, check);
  }
  return out;
}

}  // namespace metalhead::weights
