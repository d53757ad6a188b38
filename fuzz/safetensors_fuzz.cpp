// safetensors_fuzz.cpp — libFuzzer target for parse_safetensors_header (run it with scripts/fuzz).
// Any input must either parse into a header whose regions tile the data buffer, or throw
// std::runtime_error; another exception, a sanitizer report or a broken invariant is a bug.
#include <metalhead/weights/safetensors_format.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

using metalhead::weights::dtype_size;
using metalhead::weights::parse_safetensors_header;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto header = parse_safetensors_header(data, size, "fuzz.safetensors");
    if (header.data_offset < 8 || header.data_offset > size) std::abort();
    size_t pos = 0;
    for (const auto& t : header.tensors) {
      if (t.begin != pos || t.end < t.begin) std::abort();
      if (uint64_t(t.numel()) * dtype_size(t.dtype) != t.nbytes()) std::abort();
      for (auto d : t.shape) {
        if (d < 0) std::abort();
      }
      pos = t.end;
    }
    if (pos != size - header.data_offset) std::abort();
  } catch (const std::runtime_error&) {
    // a refused file: the expected outcome for almost every input
  }
  return 0;
}
