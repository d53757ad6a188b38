// Tests for safetensors reading/writing (safetensors.h) and the header validator
// (safetensors_format.h). Expected bytes are written out by hand from the format's
// specification, never taken from our own writer.
#include <metalhead/weights/safetensors.h>

#include "flux/testing.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace metalhead::weights;

namespace {

using Bytes = std::string;

/// A file in the reference writer's layout: 8-byte little-endian length, the header padded
/// with spaces to a multiple of 8 (unless `pad` is false), then the data.
Bytes file_bytes(const std::string& header, const Bytes& data = "", bool pad = true) {
  std::string text = header;
  if (pad) text.append((8 - text.size() % 8) % 8, ' ');
  Bytes out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(uint64_t(text.size()) >> (8 * i));
  return out + text + data;
}

Bytes le_f32(std::initializer_list<float> values) {
  Bytes out;
  for (float v : values) {
    char b[4];
    std::memcpy(b, &v, 4);  // the host is little-endian, as safetensors.cpp asserts
    out.append(b, 4);
  }
  return out;
}

class SafetensorsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("safetensors_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path file(const std::string& name) const { return dir_ / name; }

  fs::path put(const std::string& name, const Bytes& bytes) const {
    std::ofstream(file(name), std::ios::binary) << bytes;
    return file(name);
  }

  static Bytes slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(in)), {});
  }

  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  /// read_safetensors(name of a file holding `bytes`) must throw a runtime_error with all of `parts`.
  void expect_refused(const std::string& name, const Bytes& bytes, std::vector<std::string> parts) const {
    auto path = put(name, bytes);
    parts.push_back(name);
    SCOPED_TRACE(name);
    expect_error<std::runtime_error>([&] { read_safetensors(path); }, parts);
  }

  fs::path dir_;
};

/// Every bit pattern of a 16-bit type, as that type.
torch::Tensor all_bit_patterns16(torch::ScalarType type) {
  return torch::arange(-32768, 32768, torch::kInt).to(torch::kShort).view(type);
}

/// `t`'s bytes as an integer tensor of the same element size, so NaN payloads compare exactly.
torch::Tensor bits(const torch::Tensor& t) {
  switch (t.element_size()) {
    case 8: return t.view(torch::kLong);
    case 4: return t.view(torch::kInt);
    case 2: return t.view(torch::kShort);
    default: return t.view(torch::kByte);
  }
}

}  // namespace

TEST_F(SafetensorsFile, RoundTripsEveryDtypeBitExact) {
  torch::manual_seed(0);
  auto f32 = torch::randint(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), {7, 5},
                            torch::kInt).view(torch::kFloat);
  auto f64 = torch::cat({torch::tensor({0.0, -0.0, 1e-310, std::numeric_limits<double>::infinity(),
                                        -std::numeric_limits<double>::infinity(),
                                        std::numeric_limits<double>::quiet_NaN()},
                                       torch::kDouble),
                         torch::randn({9}, torch::kDouble)});
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"u8", torch::arange(256, torch::kInt).to(torch::kByte).reshape({16, 16})},
      {"f16", all_bit_patterns16(torch::kHalf)},
      {"f32", f32},
      {"i8", torch::arange(-128, 128, torch::kInt).to(torch::kChar)},
      {"bf16", all_bit_patterns16(torch::kBFloat16).reshape({256, 256})},
      {"f64", f64},
      {"i64", torch::tensor({std::numeric_limits<int64_t>::min(), int64_t(-1), int64_t(0),
                             std::numeric_limits<int64_t>::max()}, torch::kLong)},
      {"i32", torch::tensor({std::numeric_limits<int32_t>::min(), -1, 0, std::numeric_limits<int32_t>::max()},
                            torch::kInt)},
      {"i16", torch::arange(-32768, 32768, 257, torch::kInt).to(torch::kShort)},
      {"mask", torch::tensor({true, false, false, true, true})},
  };
  write_safetensors(file("all.safetensors"), tensors);
  auto read = read_safetensors(file("all.safetensors"));

  // File order: 8-byte elements first, then 4, 2, 1, each group in the order given.
  std::vector<std::string> order;
  for (const auto& [name, t] : read.tensors) order.push_back(name);
  EXPECT_EQ(order, (Strings{"f64", "i64", "f32", "i32", "f16", "bf16", "i16", "u8", "i8", "mask"}));
  EXPECT_TRUE(read.metadata.empty());
  for (const auto& [name, expected] : tensors) {
    auto it = std::find_if(read.tensors.begin(), read.tensors.end(), [&](const auto& p) { return p.first == name; });
    ASSERT_NE(it, read.tensors.end()) << name;
    const auto& got = it->second;
    SCOPED_TRACE(name);
    EXPECT_EQ(got.scalar_type(), expected.scalar_type());
    EXPECT_EQ(shape(got), shape(expected));
    EXPECT_TRUE(torch::equal(bits(got), bits(expected)));
  }
}

TEST_F(SafetensorsFile, RoundTripsMetadataScalarsAndEmptyTensors) {
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "caf\u00e9 \u2603 \"quoted\"\n"}, {"empty", ""}};
  write_safetensors(file("m.safetensors"),
                    {{"scalar", torch::tensor(2.5)}, {"empty", torch::zeros({0, 3})}, {"", torch::ones({1})}}, metadata);
  auto read = read_safetensors(file("m.safetensors"));
  EXPECT_EQ(read.metadata, metadata);
  ASSERT_EQ(read.tensors.size(), 3u);
  std::map<std::string, torch::Tensor> byname(read.tensors.begin(), read.tensors.end());
  EXPECT_EQ(shape(byname.at("scalar")), Shape{});
  EXPECT_EQ(byname.at("scalar").item<float>(), 2.5f);
  EXPECT_EQ(shape(byname.at("empty")), (Shape{0, 3}));
  EXPECT_EQ(byname.at("").item<float>(), 1.0f);

  write_safetensors(file("only-metadata.safetensors"), {}, {{"k", "v"}});
  auto only = read_safetensors(file("only-metadata.safetensors"));
  EXPECT_TRUE(only.tensors.empty());
  EXPECT_EQ(only.metadata.at("k"), "v");
}

TEST_F(SafetensorsFile, ReadsAndWritesThePythonReferenceLayout) {
  // What safetensors.torch.save_file({"weight": tensor([1., -2.]), "bias": tensor([[1., .5]], dtype=bfloat16)},
  // metadata={"format": "pt"}) writes: compact JSON, __metadata__ first, tensors by alignment, spaces to 8 bytes.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("bias":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]}})";
  Bytes data = le_f32({1.0f, -2.0f}) + Bytes("\x80\x3f\x00\x3f", 4);  // bf16 1.0, 0.5
  Bytes reference = file_bytes(header, data);
  ASSERT_EQ((reference.size() - data.size()) % 8, 0u);
  ASSERT_EQ(reference[8 + header.size()], ' ');

  auto read = read_safetensors(put("python.safetensors", reference));
  EXPECT_EQ(read.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(read.tensors.size(), 2u);
  EXPECT_EQ(read.tensors[0].first, "weight");
  EXPECT_TRUE(torch::equal(read.tensors[0].second, torch::tensor({1.0f, -2.0f})));
  EXPECT_EQ(read.tensors[1].first, "bias");
  EXPECT_EQ(read.tensors[1].second.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(read.tensors[1].second.to(torch::kFloat), torch::tensor({{1.0f, 0.5f}})));

  write_safetensors(file("ours.safetensors"), read.tensors, read.metadata, {.digest = false});
  EXPECT_EQ(slurp(file("ours.safetensors")), reference);
}

TEST_F(SafetensorsFile, ReadsUnpaddedAndMisalignedFiles) {
  // A 3-byte U8 tensor before an F32 one puts the floats at an odd address: still read right (copied).
  std::string header = R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}})";
  auto read = read_safetensors(put("odd.safetensors", file_bytes(header, "xyz" + le_f32({3.5f, -1.0f}), false)));
  ASSERT_EQ(read.tensors.size(), 2u);
  EXPECT_TRUE(torch::equal(read.tensors[0].second, torch::tensor({120, 121, 122}, torch::kByte)));
  EXPECT_TRUE(torch::equal(read.tensors[1].second, torch::tensor({3.5f, -1.0f})));
}

TEST_F(SafetensorsFile, WritesNonContiguousTensorsInLogicalOrder) {
  auto t = torch::arange(6, torch::kFloat).reshape({2, 3}).t();
  write_safetensors(file("t.safetensors"), {{"t", t}});
  auto read = read_safetensors(file("t.safetensors"));
  EXPECT_TRUE(torch::equal(read.tensors[0].second, t));
}

TEST_F(SafetensorsFile, TensorsOutliveTheFileAndNeverWriteToIt) {
  write_safetensors(file("w.safetensors"), {{"w", torch::arange(1000, torch::kFloat)}});
  Bytes before = slurp(file("w.safetensors"));
  auto read = read_safetensors(file("w.safetensors"));
  fs::remove(file("w.safetensors"));
  put("w.safetensors", "something else entirely");
  auto w = read.tensors.at(0).second;
  EXPECT_TRUE(torch::equal(w, torch::arange(1000, torch::kFloat)));

  // Writing through a tensor changes memory only (the mapping is private).
  write_safetensors(file("v.safetensors"), {{"w", torch::arange(1000, torch::kFloat)}});
  auto v = read_safetensors(file("v.safetensors")).tensors.at(0).second;
  v.fill_(7);
  EXPECT_EQ(v.sum().item<float>(), 7000.0f);
  EXPECT_EQ(slurp(file("v.safetensors")), before);
  read = {};
  EXPECT_EQ(w.sum().item<float>(), 499500.0f);  // w alone keeps the first mapping alive
}

TEST_F(SafetensorsFile, WriteRefusesUnsupportedInputAndLeavesTheTargetUntouched) {
  put("keep.safetensors", "old contents");
  auto path = file("keep.safetensors");
  expect_error<std::invalid_argument>(
      [&] { write_safetensors(path, {{"ok", torch::ones({2})}, {"z", torch::ones({2}, torch::kComplexFloat)}}); },
      {"write_safetensors(", "keep.safetensors", "tensor 'z'", "ComplexFloat", "BF16"});
  expect_error<std::invalid_argument>([&] { write_safetensors(path, {{"a", torch::ones({1})}, {"a", torch::ones({1})}}); },
                                      {"keep.safetensors", "tensor 'a' appears twice"});
  expect_error<std::invalid_argument>([&] { write_safetensors(path, {{"__metadata__", torch::ones({1})}}); },
                                      {"keep.safetensors", "'__metadata__' is reserved"});
  expect_error<std::invalid_argument>([&] { write_safetensors(path, {{"u", torch::Tensor()}}); },
                                      {"keep.safetensors", "tensor 'u' is undefined"});
  expect_error<std::invalid_argument>([&] { write_safetensors(path, {{"s", torch::eye(2).to_sparse()}}); },
                                      {"keep.safetensors", "tensor 's' is not dense"});
  expect_error<std::invalid_argument>([&] { write_safetensors(path, {{"bad\xff", torch::ones({1})}}); },
                                      {"keep.safetensors", "UTF-8"});
  EXPECT_EQ(slurp(path), "old contents");
  EXPECT_EQ(entries(), Strings{"keep.safetensors"});
}

TEST_F(SafetensorsFile, WriteFailingOnDiskRemovesItsTemporaryFile) {
  fs::create_directories(file("target-is-a-directory"));
  expect_error<std::runtime_error>([&] { write_safetensors(file("target-is-a-directory"), {{"w", torch::ones({4})}}); },
                                   {"write_safetensors(", "target-is-a-directory", "cannot replace"});
  EXPECT_TRUE(fs::is_directory(file("target-is-a-directory")));
  EXPECT_EQ(entries(), Strings{"target-is-a-directory"});  // no temporary file left behind

  expect_error<std::runtime_error>([&] { write_safetensors(file("no-such-dir/w.safetensors"), {{"w", torch::ones({4})}}); },
                                   {"no-such-dir", "cannot create a temporary file"});
  expect_error<std::runtime_error>([&] { read_safetensors(file("missing.safetensors")); },
                                   {"read_safetensors(", "missing.safetensors", "cannot open"});
}

TEST_F(SafetensorsFile, RefusesBadFilesNamingFileAndTensor) {
  const std::string ok_entry = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  const Bytes eight = le_f32({1, 2});
  auto one = [](const std::string& entry) { return R"({"w":{)" + entry + "}}"; };

  expect_refused("short.safetensors", Bytes("\x05\0\0", 3), {"3 bytes", "shorter than the 8-byte header length"});
  expect_refused("empty.safetensors", "", {"0 bytes"});
  expect_refused("length.safetensors", Bytes("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}",
                 {"header length 9223372036854775807 runs past the end of the file (10 bytes)"});
  expect_refused("json.safetensors", file_bytes(R"({"w":{"dtype":"F32",)"), {"not valid JSON"});
  expect_refused("utf8.safetensors", file_bytes("{\"w\xc3\x28\":{}}"), {"not valid JSON", "UTF-8"});
  expect_refused("nul.safetensors", file_bytes(std::string("{}\0 x", 4)), {"NUL byte at offset 2"});
  expect_refused("array.safetensors", file_bytes("[1,2]"), {"header must be a JSON object, got an array of 2"});
  expect_refused("entry.safetensors", file_bytes(R"({"w":[1]})"), {"tensor 'w'", "expected an object"});
  expect_refused("missing.safetensors", file_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", eight),
                 {"tensor 'w'", "missing \"data_offsets\""});
  expect_refused("dtype.safetensors", file_bytes(one(R"("dtype":"F8","shape":[2],"data_offsets":[0,8])"), eight),
                 {"tensor 'w'", "dtype 'F8' is not one of F64, F32"});
  expect_refused("dtype-type.safetensors", file_bytes(one(R"("dtype":4,"shape":[2],"data_offsets":[0,8])"), eight),
                 {"tensor 'w'", "dtype must be a string, got 4"});
  expect_refused("negative.safetensors", file_bytes(one(R"("dtype":"F32","shape":[2,-1],"data_offsets":[0,8])"), eight),
                 {"tensor 'w'", "shape dimension 1 is -1"});
  expect_refused("fraction.safetensors", file_bytes(one(R"("dtype":"F32","shape":[2.0],"data_offsets":[0,8])"), eight),
                 {"tensor 'w'", "shape dimension 0 is 2.0"});
  expect_refused("huge-dim.safetensors",
                 file_bytes(one(R"("dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8])"), eight),
                 {"tensor 'w'", "shape dimension 0 is 9223372036854775808"});
  expect_refused("overflow.safetensors",
                 file_bytes(one(R"("dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0])")),
                 {"tensor 'w'", "more elements than fit in 64 bits"});
  expect_refused("overflow-bytes.safetensors",
                 file_bytes(one(R"("dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0])")),
                 {"tensor 'w'", "needs more bytes than fit in 64 bits"});
  expect_refused("offsets-type.safetensors", file_bytes(one(R"("dtype":"F32","shape":[2],"data_offsets":[0,-8])"), eight),
                 {"tensor 'w'", "data_offsets must be two non-negative integers", "[0,-8]"});
  expect_refused("backwards.safetensors", file_bytes(one(R"("dtype":"F32","shape":[0],"data_offsets":[8,0])"), eight),
                 {"tensor 'w'", "data_offsets [8, 0] end before they begin"});
  expect_refused("range.safetensors", file_bytes(one(ok_entry), le_f32({1})),
                 {"tensor 'w'", "data_offsets [0, 8] run past the data buffer of 4 bytes"});
  expect_refused("length-mismatch.safetensors", file_bytes(one(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), eight),
                 {"tensor 'w'", "hold 8 bytes, shape [3] of F32 needs 12"});
  expect_refused("overlap.safetensors",
                 file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                            eight),
                 {"tensor 'b'", "overlap tensor 'a' at [0, 8]"});
  expect_refused("gap.safetensors",
                 file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})",
                            eight),
                 {"tensor 'b'", "gap of 2 bytes after tensor 'a' at [0, 4]"});
  expect_refused("leading-gap.safetensors", file_bytes(one(R"("dtype":"F32","shape":[1],"data_offsets":[4,8])"), eight),
                 {"tensor 'w'", "gap of 4 bytes after the start of the data buffer"});
  expect_refused("trailing.safetensors", file_bytes(one(ok_entry), eight + "!!"),
                 {"2 bytes of data after the last tensor 'w' at [0, 8] belong to no tensor"});
  expect_refused("duplicate.safetensors", file_bytes(std::string("{") + R"("w":{)" + ok_entry + "}," + R"("w":{)" + ok_entry + "}}", eight),
                 {"header names tensor 'w' twice"});
  expect_refused("duplicate-key.safetensors",
                 file_bytes(one(R"("dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8])"), eight),
                 {"tensor 'w'", "key 'dtype' appears twice"});
  expect_refused("metadata.safetensors", file_bytes(R"({"__metadata__":{"epoch":3}})"),
                 {"__metadata__ entry 'epoch' must be a string, got 3"});
  expect_refused("metadata-type.safetensors", file_bytes(R"({"__metadata__":"pt"})"), {"__metadata__ must be an object"});
  expect_refused("bool.safetensors", file_bytes(R"({"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", Bytes("\1\0\2", 3)),
                 {"tensor 'mask'", "BOOL element 2 is byte 2"});
  fs::create_directories(file("directory"));
  expect_error<std::runtime_error>([&] { read_safetensors(file("directory")); }, {"directory", "cannot"});
}

TEST(SafetensorsFormat, RefusesAbsurdHeaderLengths) {
  // Longer than the reference reader's 100 MB limit, yet inside the buffer.
  std::vector<uint8_t> buffer(100'000'016, ' ');
  uint64_t n = 100'000'001;
  for (int i = 0; i < 8; ++i) buffer[i] = static_cast<uint8_t>(n >> (8 * i));
  expect_error<std::runtime_error>([&] { parse_safetensors_header(buffer.data(), buffer.size(), "big.safetensors"); },
                                   {"safetensors(big.safetensors)", "header length 100000001 is above the limit"});
}

TEST(SafetensorsFormat, ParsesOffsetsInFileOrder) {
  std::string header = R"({"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"I16","shape":[],"data_offsets":[1,3]},)"
                       R"("m":{"dtype":"F16","shape":[0,7],"data_offsets":[1,1]},"extra":{"dtype":"U8","shape":[0],"data_offsets":[3,3],"x":1}})";
  Bytes bytes = file_bytes(header, "abc");
  auto h = parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "order");
  ASSERT_EQ(h.tensors.size(), 4u);
  EXPECT_EQ(h.tensors[0].name, "z");
  EXPECT_EQ(h.tensors[1].name, "m");
  EXPECT_EQ(h.tensors[1].numel(), 0);
  EXPECT_EQ(h.tensors[2].name, "a");
  EXPECT_EQ(h.tensors[2].dtype, Dtype::I16);
  EXPECT_EQ(h.tensors[2].shape, Shape{});
  EXPECT_EQ(h.tensors[2].numel(), 1);
  EXPECT_EQ(h.tensors[3].name, "extra");  // unknown keys ignored, as the reference reader does
  EXPECT_EQ(h.data_offset, bytes.size() - 3);
  for (auto name : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"}) {
    ASSERT_TRUE(dtype_from_name(name)) << name;
    EXPECT_EQ(dtype_name(*dtype_from_name(name)), name);
  }
  EXPECT_FALSE(dtype_from_name("f32"));
  EXPECT_EQ(dtype_size(Dtype::BF16), 2u);
  EXPECT_EQ(dtype_size(Dtype::BOOL), 1u);
}
