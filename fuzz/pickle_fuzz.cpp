// pickle_fuzz.cpp — libFuzzer target for the torch-free part of read_pth: the zip reader, the
// pickle machine and the checkpoint checks (pth_format.cpp). An input starting with "PK" (zip)
// or with the legacy format's magic number goes through parse_pth (zip, data.pkl, storages, views; CRC checks off so that mutations reach
// the pickle); any other input straight into parse_pickle.
// Every input must parse or throw std::runtime_error; another exception, a sanitizer report or
// a broken invariant (a view reaching past its storage, a storage outside the input) is a bug.
//
// Build and run (clang with libclang_rt.fuzzer, Debian: clang libclang-rt-14-dev):
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
//     -Iinclude src/metalhead/weights/{zip,pickle,pth_format}.cpp fuzz/pickle_fuzz.cpp -o pickle_fuzz
//   mkdir -p corpus && cp fuzz/corpus/pth/* corpus/ && ./pickle_fuzz -max_total_time=600 -max_len=8192 corpus
#include <metalhead/weights/pickle.h>
#include <metalhead/weights/pth_format.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

using namespace metalhead::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    if (in.substr(0, 2) == "PK" || in.substr(0, 3) == "\x80\x02\x8a") {  // zip, or legacy magic
      const PthCheckpoint c = parse_pth(in, "fuzz.pth", {.verify_crc = false});  // reach the pickle
      for (const auto& s : c.storages) {
        if (s.bytes.data() < in.data() || s.bytes.data() + s.bytes.size() > in.data() + in.size()) std::abort();
        if (s.bytes.size() != s.numel * pth_dtype_size(s.dtype)) std::abort();
      }
      for (const auto& t : c.tensors) {
        if (t.storage >= c.storages.size() || t.size.size() != t.stride.size() || t.offset < 0) std::abort();
        uint64_t last = static_cast<uint64_t>(t.offset);
        bool empty = false;
        for (size_t d = 0; d < t.size.size(); ++d) {
          if (t.size[d] < 0 || t.stride[d] < 0) std::abort();
          if (t.size[d] == 0) empty = true;
          else last += static_cast<uint64_t>(t.size[d] - 1) * static_cast<uint64_t>(t.stride[d]);
        }
        if (!empty && last >= c.storages[t.storage].numel) std::abort();
      }
    } else {
      const Pickle p = parse_pickle(in, "fuzz.pkl", {.max_values = 1 << 16});
      (void)describe(p.root(), 6);
    }
  } catch (const std::runtime_error&) {
    // a refused input: the expected outcome for almost every one
  }
  return 0;
}
