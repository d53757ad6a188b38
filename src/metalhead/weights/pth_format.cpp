// pth_format.cpp — from a torch.save zip to checked storages and tensor views, without libtorch.
#include <metalhead/weights/pickle.h>
#include <metalhead/weights/pth_format.h>
#include <metalhead/weights/zip.h>

#include <bit>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace metalhead::weights {

namespace {

struct StorageClass {
  std::string_view name;
  PthDtype dtype;
};
// torch.save names a storage by its typed class (torch.FloatStorage, ...) since 1.6 and still
// in 2.x; an untyped storage (bytes) appears as torch.UntypedStorage.
constexpr StorageClass kStorageClasses[] = {
    {"FloatStorage", PthDtype::float32},  {"DoubleStorage", PthDtype::float64},
    {"HalfStorage", PthDtype::float16},   {"BFloat16Storage", PthDtype::bfloat16},
    {"LongStorage", PthDtype::int64},     {"IntStorage", PthDtype::int32},
    {"ShortStorage", PthDtype::int16},    {"CharStorage", PthDtype::int8},
    {"ByteStorage", PthDtype::uint8},     {"BoolStorage", PthDtype::boolean},
    {"ComplexFloatStorage", PthDtype::complex64}, {"ComplexDoubleStorage", PthDtype::complex128},
    {"UntypedStorage", PthDtype::uint8},  {"_UntypedStorage", PthDtype::uint8},
};
constexpr size_t kMaxRank = 64;
constexpr std::string_view kWrappers[] = {"state_dict", "model", "state_dict_ema"};

using Entries = std::vector<std::pair<const PickleValue*, const PickleValue*>>;

class Parser {
 public:
  Parser(std::string_view bytes, const std::string& name, const ZipReaderOptions& zip_options)
      : bytes_(bytes), name_(name), zip_options_(zip_options) {}

  PthCheckpoint run() {
    if constexpr (std::endian::native != std::endian::little) fail("only little-endian hosts are supported");
    if (is_zip()) return from_zip();
    const bool pickle = !bytes_.empty() && static_cast<unsigned char>(bytes_[0]) == 0x80;
    if (pickle) return from_legacy();
    if (bytes_.size() > 262 && bytes_.substr(257, 5) == "ustar") {
      fail("is in torch's oldest (tar) serialization format, which is not supported; re-save it with torch.save");
    }
    fail("is not a torch.save file (neither a zip archive nor torch's legacy pickle format)");
  }

 private:
  bool is_zip() const {
    return bytes_.size() >= 4 && (bytes_.substr(0, 4) == "PK\x03\x04" || bytes_.substr(0, 4) == "PK\x05\x06");
  }

  // torch >= 1.6: a zip of data.pkl and one entry per storage.
  PthCheckpoint from_zip() {
    ZipReader zip(bytes_, name_, zip_options_);
    zip_ = &zip;
    if (zip.entries().empty()) fail("the zip archive is empty");
    const std::string& first = zip.entries().front().name;
    prefix_ = first.substr(0, first.find('/') == std::string::npos ? 0 : first.find('/') + 1);
    if (zip.find(prefix_ + "constants.pkl")) {
      fail("is a TorchScript archive (torch.jit.save); load it with torch::jit::load, or save a state dict");
    }
    const ZipEntry* pkl = zip.find(prefix_ + "data.pkl");
    if (!pkl) fail("has no '" + prefix_ + "data.pkl' entry: not a torch.save archive");
    if (const ZipEntry* order = zip.find(prefix_ + "byteorder"); order && zip.read(*order) != "little") {
      fail("was written on a big-endian machine (byteorder '" + std::string(zip.read(*order).substr(0, 16)) +
           "'); only little-endian checkpoints are supported");
    }
    const Pickle pickle = parse_pickle(zip.read(*pkl), name_ + ":" + pkl->name);
    return tensors(pickle);
  }

  // torch < 1.6 (and _use_new_zipfile_serialization=False): five pickles in a row (magic number,
  // protocol version, sys_info, the object, the list of storage keys), then each storage in the
  // order of that list as an int64 element count and the raw elements.
  PthCheckpoint from_legacy() {
    legacy_ = true;
    // PROTO n, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, STOP.
    constexpr std::string_view kMagic = "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e";
    if (bytes_.size() < 2 + kMagic.size() || bytes_.substr(2, kMagic.size()) != kMagic) {
      fail("is a pickle but not a torch.save file (no legacy magic number)");
    }
    size_t pos = 2 + kMagic.size();
    auto next = [&](const char* what) {
      Pickle p = parse_pickle(bytes_.substr(pos), name_ + " (legacy " + what + ")");
      pos += p.end();
      return p;
    };
    const Pickle version = next("protocol version");
    if (version.root().kind != PickleKind::integer || version.root().integer != 1001) {
      fail("legacy protocol version is " + describe(version.root()) + ", expected 1001");
    }
    const Pickle sys_info = next("sys_info");
    if (sys_info.root().kind == PickleKind::dict) {
      for (const auto& [k, v] : sys_info.root().entries) {
        if (k->kind == PickleKind::string && k->text == "little_endian" && v->kind == PickleKind::boolean && !v->boolean) {
          fail("was written on a big-endian machine; only little-endian checkpoints are supported");
        }
      }
    }
    const Pickle object = next("object");
    const Pickle keys = next("storage keys");
    if (keys.root().kind != PickleKind::list) fail("legacy storage keys are " + what_is(keys.root()) + ", not a list");

    // Element sizes come from the persistent ids anywhere in the object (optimizer state too).
    std::unordered_map<std::string, size_t> elsize;
    for (const auto& v : object.values()) {
      if (v.kind != PickleKind::persistent_id || !v.args || v.args->kind != PickleKind::tuple || v.args->items.size() < 3) continue;
      const auto& id = v.args->items;
      const StorageClass* sc = storage_class(*id[1]);
      if (sc && id[2]->kind == PickleKind::string) elsize.emplace(id[2]->text, pth_dtype_size(sc->dtype));
    }
    for (const PickleValue* k : keys.root().items) {
      if (k->kind != PickleKind::string) fail("a legacy storage key is " + what_is(*k) + ", not a str");
      const auto size = elsize.find(k->text);
      if (size == elsize.end()) fail("legacy storage '" + k->text + "' has no storage class in the pickle");
      if (bytes_.size() - pos < 8) fail("truncated: legacy storage '" + k->text + "' has no size");
      uint64_t numel = 0;
      for (int i = 7; i >= 0; --i) numel = (numel << 8) | static_cast<unsigned char>(bytes_[pos + i]);
      pos += 8;
      if (numel > (bytes_.size() - pos) / size->second) {
        fail("truncated: legacy storage '" + k->text + "' claims " + std::to_string(numel) + " elements, " +
             std::to_string(bytes_.size() - pos) + " bytes remain");
      }
      if (!legacy_storages_.emplace(k->text, bytes_.substr(pos, numel * size->second)).second) {
        fail("legacy storage '" + k->text + "' appears twice");
      }
      pos += numel * size->second;
    }
    return tensors(object);
  }

  PthCheckpoint tensors(const Pickle& pickle) {
    const Entries& dict = state_dict(pickle.root());
    std::unordered_set<std::string> names;
    for (const auto& [k, v] : dict) {
      if (k->kind != PickleKind::string) fail("a key of the state dict is " + describe(*k) + ", not a string");
      if (!names.insert(k->text).second) fail("tensor '" + k->text + "' appears twice");
      out_.tensors.push_back(tensor(k->text, *v, 0));
    }
    return std::move(out_);
  }

  static const StorageClass* storage_class(const PickleValue& cls) {
    if (cls.kind != PickleKind::global || (cls.text != "torch" && cls.text != "torch.storage")) return nullptr;
    for (const auto& c : kStorageClasses) {
      if (c.name == cls.name) return &c;
    }
    return nullptr;
  }

  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error("read_pth(" + name_ + "): " + what); }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const { fail("tensor '" + key + "': " + what); }

  static const Entries* mapping(const PickleValue& v) {
    if (v.kind == PickleKind::dict || v.is_call_of("collections", "OrderedDict")) return &v.entries;
    return nullptr;
  }
  static bool is_tensor(const PickleValue& v) {
    return v.is_call_of("torch._utils", "_rebuild_tensor_v2") || v.is_call_of("torch._utils", "_rebuild_tensor") ||
           v.is_call_of("torch._utils", "_rebuild_parameter") ||
           v.is_call_of("torch._utils", "_rebuild_parameter_with_state");
  }
  static std::string what_is(const PickleValue& v) {
    if (v.kind == PickleKind::object && v.callable && v.callable->kind == PickleKind::global) {
      return "a pickled " + v.callable->text + "." + v.callable->name + " object";
    }
    return "a " + std::string(kind_name(v.kind)) + " (" + describe(v) + ")";
  }

  // The state dict itself, or the one a training checkpoint wraps.
  const Entries& state_dict(const PickleValue& root) const {
    const Entries* top = mapping(root);
    if (!top) fail("holds " + what_is(root) + ", not a state dict; save model.state_dict() instead of the model");
    const PickleValue* odd = nullptr;
    for (const auto& [k, v] : *top) {
      if (!is_tensor(*v)) {
        odd = k;
        break;
      }
    }
    if (!odd) return *top;
    for (std::string_view wrapper : kWrappers) {
      for (const auto& [k, v] : *top) {
        if (k->kind != PickleKind::string || k->text != wrapper) continue;
        if (const Entries* inner = mapping(*v)) return *inner;
        fail("'" + std::string(wrapper) + "' holds " + what_is(*v) + ", not a state dict");
      }
    }
    fail("entry " + describe(*odd) + " is not a tensor, and no 'state_dict', 'model' or 'state_dict_ema' entry holds a state dict");
  }

  int64_t integer(const std::string& key, const PickleValue* v, const char* what) const {
    if (!v || v->kind != PickleKind::integer) fail(key, std::string(what) + " is " + (v ? what_is(*v) : "missing") + ", not an int");
    if (v->integer < 0) fail(key, std::string(what) + " is negative (" + std::to_string(v->integer) + ")");
    return v->integer;
  }
  std::vector<int64_t> ints(const std::string& key, const PickleValue* v, const char* what) const {
    if (!v || v->kind != PickleKind::tuple) fail(key, std::string(what) + " is " + (v ? what_is(*v) : "missing") + ", not a tuple");
    if (v->items.size() > kMaxRank) fail(key, std::string(what) + " has " + std::to_string(v->items.size()) + " dimensions");
    std::vector<int64_t> out;
    for (const auto* i : v->items) out.push_back(integer(key, i, what));
    return out;
  }

  PthTensor tensor(const std::string& key, const PickleValue& v, int depth) {
    if (depth == 0 && (v.is_call_of("torch._utils", "_rebuild_parameter") ||
                       v.is_call_of("torch._utils", "_rebuild_parameter_with_state"))) {
      if (v.args->items.empty()) fail(key, "_rebuild_parameter has no arguments");
      return tensor(key, *v.args->items[0], 1);
    }
    if (!v.is_call_of("torch._utils", "_rebuild_tensor_v2") && !v.is_call_of("torch._utils", "_rebuild_tensor")) {
      std::string why = "is " + what_is(v) + ", not a tensor";
      if (v.kind == PickleKind::object && v.callable && v.callable->kind == PickleKind::global &&
          v.callable->name.find("qtensor") != std::string::npos) {
        why = "is a quantized tensor, which is not supported";
      }
      fail(key, why);
    }
    const auto& args = v.args->items;
    if (args.size() < 4) fail(key, "_rebuild_tensor has " + std::to_string(args.size()) + " arguments, expected at least 4");
    PthTensor t;
    t.name = key;
    t.storage = storage(key, *args[0]);
    t.offset = integer(key, args[1], "the storage offset");
    t.size = ints(key, args[2], "the size");
    t.stride = ints(key, args[3], "the stride");
    if (t.size.size() != t.stride.size()) {
      fail(key, "size has " + std::to_string(t.size.size()) + " dimensions, stride " + std::to_string(t.stride.size()));
    }
    // Every element the view can reach must lie inside the storage.
    using u128 = unsigned __int128;
    u128 numel = 1, last = static_cast<uint64_t>(t.offset);
    for (size_t d = 0; d < t.size.size(); ++d) {
      numel *= static_cast<uint64_t>(t.size[d]);
      if (numel > static_cast<u128>(std::numeric_limits<int64_t>::max())) fail(key, "has too many elements");
      if (t.size[d] > 0) last += static_cast<u128>(static_cast<uint64_t>(t.size[d] - 1)) * static_cast<uint64_t>(t.stride[d]);
    }
    const PthStorage& s = out_.storages[t.storage];
    if (numel > 0 && last >= s.numel) {
      fail(key, "its view (offset " + std::to_string(t.offset) + ", size " + list(t.size) + ", stride " + list(t.stride) +
                    ") reaches element " + std::to_string(static_cast<uint64_t>(last)) + " of storage '" + s.key +
                    "', which has " + std::to_string(s.numel));
    }
    if (numel == 0 && static_cast<uint64_t>(t.offset) > s.numel) fail(key, "storage offset is past the storage's end");
    return t;
  }

  static std::string list(const std::vector<int64_t>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
    return out + "]";
  }

  // ('storage', torch.FloatStorage, key, location, numel) -> index into out_.storages.
  size_t storage(const std::string& key, const PickleValue& v) {
    const size_t items = legacy_ ? 6 : 5;  // legacy ids end with view metadata
    if (v.kind != PickleKind::persistent_id || !v.args || v.args->kind != PickleKind::tuple || v.args->items.size() != items ||
        v.args->items[0]->kind != PickleKind::string || v.args->items[0]->text != "storage") {
      fail(key, "storage is " + what_is(v) + ", not a ('storage', class, key, location, numel) persistent id");
    }
    const auto& id = v.args->items;
    const PickleValue& cls = *id[1];
    if (cls.kind != PickleKind::global || (cls.text != "torch" && cls.text != "torch.storage")) {
      fail(key, "storage class is " + what_is(cls) + ", not a torch storage class");
    }
    const StorageClass* sc = storage_class(cls);
    if (!sc) fail(key, "storage class torch." + cls.name + " is not supported");
    if (legacy_ && id[5]->kind != PickleKind::none) fail(key, "its storage is a view (view metadata, torch < 1.0), which is not supported");
    if (id[2]->kind != PickleKind::string) fail(key, "storage key is " + what_is(*id[2]) + ", not a str");
    const std::string& skey = id[2]->text;
    const auto numel = static_cast<uint64_t>(integer(key, id[4], "the storage's size"));

    if (auto it = index_.find(skey); it != index_.end()) {
      const PthStorage& s = out_.storages[it->second];
      if (s.dtype != sc->dtype || s.numel != numel) fail(key, "storage '" + skey + "' is used with two different types or sizes");
      return it->second;
    }
    std::string entry;
    std::string_view bytes;
    if (legacy_) {
      entry = skey;
      const auto it = legacy_storages_.find(skey);
      if (it == legacy_storages_.end()) fail(key, "its storage '" + skey + "' is not in the file's list of storages");
      bytes = it->second;
    } else {
      entry = prefix_ + "data/" + skey;
      const ZipEntry* e = zip_->find(entry);
      if (!e) fail(key, "its storage '" + entry + "' is missing from the archive");
      bytes = zip_->read(*e);
    }
    const size_t elsize = pth_dtype_size(sc->dtype);
    if (numel > bytes.size() / elsize || numel * elsize != bytes.size()) {
      fail(key, "storage '" + entry + "' holds " + std::to_string(bytes.size()) + " bytes, but the pickle says " +
                    std::to_string(numel) + " " + std::string(pth_dtype_name(sc->dtype)) + " elements (" +
                    (numel > std::numeric_limits<uint64_t>::max() / elsize ? std::string("too many") : std::to_string(numel * elsize)) +
                    " bytes)");
    }
    out_.storages.push_back(PthStorage{skey, sc->dtype, numel, bytes});
    index_.emplace(skey, out_.storages.size() - 1);
    return out_.storages.size() - 1;
  }

  std::string_view bytes_;
  const std::string& name_;
  ZipReaderOptions zip_options_;
  const ZipReader* zip_ = nullptr;
  std::string prefix_;
  PthCheckpoint out_;
  std::unordered_map<std::string, size_t> index_;
  bool legacy_ = false;
  std::unordered_map<std::string, std::string_view> legacy_storages_;
};

}  // namespace

std::string_view pth_dtype_name(PthDtype dtype) {
  switch (dtype) {
    case PthDtype::float32: return "float32";
    case PthDtype::float64: return "float64";
    case PthDtype::float16: return "float16";
    case PthDtype::bfloat16: return "bfloat16";
    case PthDtype::int64: return "int64";
    case PthDtype::int32: return "int32";
    case PthDtype::int16: return "int16";
    case PthDtype::int8: return "int8";
    case PthDtype::uint8: return "uint8";
    case PthDtype::boolean: return "bool";
    case PthDtype::complex64: return "complex64";
    case PthDtype::complex128: return "complex128";
  }
  return "?";
}

size_t pth_dtype_size(PthDtype dtype) {
  switch (dtype) {
    case PthDtype::float64: case PthDtype::int64: case PthDtype::complex64: return 8;
    case PthDtype::float32: case PthDtype::int32: return 4;
    case PthDtype::float16: case PthDtype::bfloat16: case PthDtype::int16: return 2;
    case PthDtype::int8: case PthDtype::uint8: case PthDtype::boolean: return 1;
    case PthDtype::complex128: return 16;
  }
  return 1;
}

PthCheckpoint parse_pth(std::string_view bytes, const std::string& name, const ZipReaderOptions& zip_options) {
  return Parser(bytes, name, zip_options).run();
}

}  // namespace metalhead::weights
