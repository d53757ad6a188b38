// pth.cpp — tensors from a checked torch.save checkpoint: one copy per storage, views by as_strided.
#include <metalhead/weights/pth.h>
#include <metalhead/regular_file.h>
#include <metalhead/weights/pth_format.h>

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace metalhead::weights {

namespace {

at::ScalarType scalar_type(PthDtype dtype) {
  switch (dtype) {
    case PthDtype::float32: return at::kFloat;
    case PthDtype::float64: return at::kDouble;
    case PthDtype::float16: return at::kHalf;
    case PthDtype::bfloat16: return at::kBFloat16;
    case PthDtype::int64: return at::kLong;
    case PthDtype::int32: return at::kInt;
    case PthDtype::int16: return at::kShort;
    case PthDtype::int8: return at::kChar;
    case PthDtype::uint8: return at::kByte;
    case PthDtype::boolean: return at::kBool;
    case PthDtype::complex64: return at::kComplexFloat;
    case PthDtype::complex128: return at::kComplexDouble;
  }
  return at::kByte;
}

}  // namespace

NamedTensors read_pth_bytes(std::string_view bytes, const std::string& name) {
  const PthCheckpoint checkpoint = parse_pth(bytes, name);
  // A flat tensor per storage owns a copy of its bytes (the archive's data need not be aligned).
  std::vector<at::Tensor> storages;
  storages.reserve(checkpoint.storages.size());
  for (const auto& s : checkpoint.storages) {
    at::Tensor flat = at::empty({static_cast<int64_t>(s.numel)}, at::TensorOptions().dtype(scalar_type(s.dtype)));
    if (!s.bytes.empty()) std::memcpy(flat.data_ptr(), s.bytes.data(), s.bytes.size());
    if (s.dtype == PthDtype::boolean) {
      // A bool byte other than 0 or 1 is undefined behaviour in torch's kernels.
      auto* p = static_cast<unsigned char*>(flat.data_ptr());
      for (uint64_t i = 0; i < s.numel; ++i) p[i] = p[i] != 0;
    }
    storages.push_back(std::move(flat));
  }
  NamedTensors out;
  out.reserve(checkpoint.tensors.size());
  for (const auto& t : checkpoint.tensors) {
    out.emplace_back(t.name, storages[t.storage].as_strided(t.size, t.stride, t.offset));
  }
  return out;
}

NamedTensors read_pth(const std::string& path) {
  return read_pth_bytes(RegularFile(path, "read_pth(" + path + ")").read_all(), path);
}

}  // namespace metalhead::weights
