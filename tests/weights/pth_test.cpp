// pth_test.cpp — read_pth against torch.load's own view of fixtures written by torch 1.13
// (tests/data/weights/make-pth-fixtures), and the zip reader and pickle machine against
// truncated, corrupted and hostile input.
#include <metalhead/weights/pickle.h>
#include <metalhead/weights/pth.h>
#include <metalhead/weights/pth_format.h>
#include <metalhead/weights/zip.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "flux/testing.h"

namespace w = metalhead::weights;
namespace fs = std::filesystem;

namespace {

// The fixtures: the merged tree's tests/data, else the ones beside this file (staging).
fs::path data_dir() {
  const fs::path merged = fs::path(METALHEAD_TEST_DATA) / "weights";
  if (fs::exists(merged / "expected.json")) return merged;
  return fs::path(__FILE__).parent_path().parent_path() / "data" / "weights";
}
std::string fixture(const std::string& name) { return (data_dir() / name).string(); }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ordered_json: the fixtures' key order is the state dicts' order.
const nlohmann::ordered_json& expected() {
  static const nlohmann::ordered_json j = nlohmann::ordered_json::parse(slurp(fixture("expected.json")));
  return j;
}

// Every tensor as torch.load saw it: names in order, dtype, shape, stride, offset, exact values.
void expect_matches_torch(const std::string& file) {
  SCOPED_TRACE(file);
  const auto tensors = w::read_pth(fixture(file));
  const auto& want = expected().at(file);
  ASSERT_EQ(tensors.size(), want.size());
  size_t i = 0;
  for (auto it = want.begin(); it != want.end(); ++it) {
    const std::string& name = it.key();
    const auto& spec = it.value();
    const auto& [got_name, t] = tensors[i++];
    SCOPED_TRACE(name);
    EXPECT_EQ(got_name, name);
    std::string dtype = c10::toString(t.scalar_type());
    const std::map<std::string, std::string> torch_names = {
        {"Float", "float32"}, {"Double", "float64"}, {"Half", "float16"}, {"BFloat16", "bfloat16"},
        {"Long", "int64"},    {"Int", "int32"},      {"Short", "int16"},  {"Char", "int8"},
        {"Byte", "uint8"},    {"Bool", "bool"}};
    EXPECT_EQ(torch_names.at(dtype), spec.at("dtype").get<std::string>());
    EXPECT_EQ(shape(t), spec.at("shape").get<Shape>());
    EXPECT_EQ(Shape(t.strides().begin(), t.strides().end()), spec.at("stride").get<Shape>());
    EXPECT_EQ(t.storage_offset(), spec.at("offset").get<int64_t>());
    const auto values = spec.at("values").get<std::vector<double>>();
    const auto want_values = torch::tensor(values, torch::kDouble);
    EXPECT_TRUE(torch::equal(t.to(torch::kDouble).flatten(), want_values.reshape({t.numel()})));
  }
}

// The bytes of a file with one byte changed, and the central directory's CRC of the entry
// holding it recomputed, so the change reaches the parser behind the CRC check.
std::string patch_entry(std::string bytes, const std::string& entry, size_t offset, char value) {
  const w::ZipReader zip(bytes, "patch");
  const w::ZipEntry& e = *zip.find(entry);
  bytes[e.data_offset + offset] = value;
  const uint32_t crc = w::crc32(std::string_view(bytes).substr(e.data_offset, e.size));
  for (size_t at = bytes.find("PK\x01\x02"); at != std::string::npos; at = bytes.find("PK\x01\x02", at + 1)) {
    const size_t name_len = static_cast<unsigned char>(bytes[at + 28]) | static_cast<unsigned char>(bytes[at + 29]) << 8;
    if (bytes.compare(at + 46, name_len, entry) == 0) {
      for (int k = 0; k < 4; ++k) bytes[at + 16 + k] = static_cast<char>(crc >> (8 * k));
    }
  }
  return bytes;
}

void put_le(std::string& bytes, size_t at, uint64_t v, int n) {
  for (int k = 0; k < n; ++k) bytes[at + k] = static_cast<char>(v >> (8 * k));
}

std::string pickle_of(std::initializer_list<int> ops) {
  std::string s;
  for (int c : ops) s.push_back(static_cast<char>(c));
  return s;
}

}  // namespace

// --- read_pth against torch.load ---

TEST(ReadPth, TinyNetMatchesTorchLoad) { expect_matches_torch("tiny_net.pth"); }
TEST(ReadPth, EveryDtypeMatchesTorchLoad) { expect_matches_torch("dtypes.pth"); }
TEST(ReadPth, ViewsKeepOffsetsAndStrides) { expect_matches_torch("views.pth"); }
TEST(ReadPth, UnwrapsTimmStateDict) { expect_matches_torch("timm_wrapped.pth"); }

TEST(ReadPth, NumBatchesTrackedIsAnInt64Scalar) {
  const auto tensors = w::read_pth(fixture("tiny_net.pth"));
  const auto& [name, t] = tensors[5];
  EXPECT_EQ(name, "1.num_batches_tracked");
  EXPECT_EQ(t.scalar_type(), torch::kLong);
  EXPECT_EQ(t.dim(), 0);
  EXPECT_EQ(t.item<int64_t>(), 1);
}

TEST(ReadPth, TensorsOfOneStorageShareMemory) {
  const auto tensors = w::read_pth(fixture("views.pth"));
  const auto& whole = tensors[0].second;
  const auto& tail = tensors[1].second;
  const auto& transposed = tensors[2].second;
  EXPECT_EQ(tail.data_ptr<float>(), whole.data_ptr<float>() + 10);
  EXPECT_EQ(transposed.data_ptr<float>(), whole.data_ptr<float>());
  EXPECT_FALSE(transposed.is_contiguous());
  whole.fill_(7);  // as after torch.load, writing one writes the others
  EXPECT_EQ(tail.sum().item<float>(), 42);
}

TEST(ReadPth, TensorsOutliveTheFileBuffer) {
  w::NamedTensors tensors;
  {
    const std::string bytes = slurp(fixture("tiny_net.pth"));
    tensors = w::read_pth_bytes(bytes, "tiny_net.pth");
  }
  const auto want = expected().at("tiny_net.pth").at("5.bias").at("values").get<std::vector<double>>();
  EXPECT_EQ(tensors[7].second[1].item<float>(), static_cast<float>(want[1]));
}

TEST(ReadPth, ParsePthIsTorchFreeAndChecked) {
  const std::string bytes = slurp(fixture("tiny_net.pth"));
  const auto c = w::parse_pth(bytes, "tiny_net.pth");
  ASSERT_EQ(c.tensors.size(), 8u);
  EXPECT_EQ(c.tensors[0].name, "0.weight");
  EXPECT_EQ(c.tensors[0].size, (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(c.storages[c.tensors[0].storage].numel, 108u);
  EXPECT_EQ(c.storages[c.tensors[5].storage].dtype, w::PthDtype::int64);
}

// An optional check on a real checkpoint: METALHEAD_TEST_PTH=file.pth, with file.pth.json written
// by tests/data/weights/summarize-pth (names in order, dtype, shape, sum of the values).
TEST(ReadPth, ExternalCheckpointMatchesItsSummary) {
  const char* path = std::getenv("METALHEAD_TEST_PTH");
  if (!path) GTEST_SKIP() << "set METALHEAD_TEST_PTH to a .pth file with a summarize-pth .json beside it";
  const auto tensors = w::read_pth(path);
  const auto want = nlohmann::ordered_json::parse(slurp(std::string(path) + ".json"));
  ASSERT_EQ(tensors.size(), want.size());
  size_t i = 0;
  for (auto it = want.begin(); it != want.end(); ++it, ++i) {
    const auto& [name, t] = tensors[i];
    ASSERT_EQ(name, it.key());
    EXPECT_EQ(shape(t), it.value().at("shape").get<Shape>()) << name;
    const double sum = t.to(torch::kDouble).sum().item<double>(), expect = it.value().at("sum").get<double>();
    EXPECT_NEAR(sum, expect, 1e-9 * (1 + std::abs(expect))) << name;
  }
}

// --- files that are not state dicts ---

TEST(ReadPth, RefusesStorageShorterThanItsSize) {
  expect_error<std::runtime_error>([] { w::read_pth(fixture("short_storage.pth")); },
                                   {"short_storage.pth", "tensor '0.weight'", "holds 216 bytes", "108 float32 elements"});
}

TEST(ReadPth, RefusesViewPastItsStorage) {
  expect_error<std::runtime_error>([] { w::read_pth(fixture("view_past_storage.pth")); },
                                   {"view_past_storage.pth", "tensor 'tail'", "reaches element 25", "which has 24"});
}

TEST(ReadPth, LegacyFormatMatchesTorchLoad) {
  expect_matches_torch("legacy.pth");
  expect_matches_torch("legacy_views.pth");
  const auto tensors = w::read_pth(fixture("legacy_views.pth"));
  EXPECT_EQ(tensors[1].second.data_ptr<float>(), tensors[0].second.data_ptr<float>() + 10);
}

TEST(ReadPth, RefusesTruncatedLegacyFileAtEveryLength) {
  const std::string bytes = slurp(fixture("legacy.pth"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(w::read_pth_bytes(std::string_view(bytes).substr(0, n), "cut.pth"), std::runtime_error) << n;
  }
  expect_error<std::runtime_error>([&] { w::read_pth_bytes(std::string_view(bytes).substr(0, bytes.size() - 1), "cut.pth"); },
                                   {"cut.pth", "truncated: legacy storage", "bytes remain"});
  expect_error<std::runtime_error>([] { w::read_pth_bytes(pickle_of({0x80, 2, 'N', '.'}), "plain.pkl"); },
                                   {"plain.pkl", "not a torch.save file"});
}

TEST(ReadPth, RefusesPickledModule) {
  expect_error<std::runtime_error>([] { w::read_pth(fixture("module.pth")); },
                                   {"module.pth", "torch.nn.modules.linear.Linear", "state_dict()"});
}

TEST(ReadPth, RefusesDictWithoutStateDict) {
  expect_error<std::runtime_error>([] { w::read_pth(fixture("no_state_dict.pth")); },
                                   {"no_state_dict.pth", "'epoch'", "not a tensor", "'state_dict'"});
}

TEST(ReadPth, RefusesMissingAndNonZipFiles) {
  expect_error<std::runtime_error>([] { w::read_pth(fixture("nonexistent.pth")); }, {"nonexistent.pth", "cannot open"});
  expect_error<std::runtime_error>([] { w::read_pth_bytes("hello, world", "text.pth"); }, {"text.pth", "not a torch.save file"});
}

TEST(ReadPth, RefusesTruncatedArchiveAtEveryLength) {
  const std::string bytes = slurp(fixture("tiny_net.pth"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(w::read_pth_bytes(std::string_view(bytes).substr(0, n), "cut.pth"), std::runtime_error) << n;
  }
  expect_error<std::runtime_error>([&] { w::read_pth_bytes(std::string_view(bytes).substr(0, bytes.size() / 2), "cut.pth"); },
                                   {"cut.pth", "end-of-central-directory"});
}

TEST(ReadPth, RefusesBadCentralDirectoryOffsets) {
  const std::string bytes = slurp(fixture("tiny_net.pth"));
  {
    std::string bad = bytes;  // torch writes a zip64 end record; move its directory offset away
    const size_t record = bad.find("PK\x06\x06");
    ASSERT_NE(record, std::string::npos);
    put_le(bad, record + 48, uint64_t{1} << 40, 8);
    expect_error<std::runtime_error>([&] { w::read_pth_bytes(bad, "bad-cd.pth"); }, {"bad-cd.pth", "central directory", "outside"});
  }
  {
    std::string bad = bytes;  // a local header offset into nowhere
    const size_t entry = bad.find("PK\x01\x02");
    put_le(bad, entry + 42, 0x7FFFFFF0, 4);
    expect_error<std::runtime_error>([&] { w::read_pth_bytes(bad, "bad-local.pth"); },
                                     {"bad-local.pth", "entry 'tiny_net/data.pkl'", "no local header"});
  }
  {
    std::string bad = bytes;  // an entry count the directory cannot hold
    const size_t record = bad.find("PK\x06\x06");
    put_le(bad, record + 32, uint64_t{1} << 60, 8);
    expect_error<std::runtime_error>([&] { w::read_pth_bytes(bad, "bad-count.pth"); }, {"bad-count.pth", "cannot hold"});
  }
}

TEST(ReadPth, RefusesCorruptStorageByItsCrc) {
  std::string bytes = slurp(fixture("tiny_net.pth"));
  const w::ZipReader zip(bytes, "x");
  bytes[zip.find("tiny_net/data/0")->data_offset] ^= 1;
  expect_error<std::runtime_error>([&] { w::read_pth_bytes(bytes, "crc.pth"); }, {"crc.pth", "tiny_net/data/0", "CRC-32"});
}

TEST(ReadPth, RefusesUnknownOpcodeInDataPkl) {
  // Offset 2 is the GLOBAL after PROTO 2.
  const std::string bytes = patch_entry(slurp(fixture("tiny_net.pth")), "tiny_net/data.pkl", 2, '\xff');
  expect_error<std::runtime_error>([&] { w::read_pth_bytes(bytes, "op.pth"); },
                                   {"op.pth:tiny_net/data.pkl", "unknown opcode 0xff at offset 2"});
}

TEST(ReadPth, RefusesCompressedEntries) {
  std::string bytes = slurp(fixture("tiny_net.pth"));
  put_le(bytes, bytes.find("PK\x01\x02") + 10, 8, 2);  // data.pkl claims DEFLATE
  expect_error<std::runtime_error>([&] { w::read_pth_bytes(bytes, "deflate.pth"); },
                                   {"deflate.pth", "tiny_net/data.pkl", "compressed (method 8)"});
}

// Every single-byte corruption of a checkpoint is read or refused with std::runtime_error,
// never a crash (run under ASan to make this a real check).
TEST(ReadPth, SurvivesEveryByteFlip) {
  const std::string bytes = slurp(fixture("views.pth"));
  const w::ZipReader zip(bytes, "views.pth");
  const w::ZipEntry& pkl = *zip.find("views/data.pkl");
  const std::string legacy = slurp(fixture("legacy_views.pth"));
  for (const std::string* file : {&bytes, &legacy}) {
    for (size_t i = 0; i < file->size(); ++i) {
      std::string bad = *file;
      bad[i] ^= 0x5a;
      try {
        w::parse_pth(bad, "flip.pth");
      } catch (const std::runtime_error&) {
      }
    }
  }
  for (size_t i = 0; i < pkl.size; ++i) {  // behind the CRC: the pickle machine and tensor checks
    for (char v : {'\x00', '\x7f', '\xff', 'K', 'h', 'R', 't', 'Q'}) {
      try {
        w::parse_pth(patch_entry(bytes, pkl.name, i, v), "flip.pth");
      } catch (const std::runtime_error&) {
      }
    }
  }
}

// --- the pickle machine ---

TEST(Pickle, ReadsTorchSaveStructure) {
  const std::string bytes = slurp(fixture("views.pth"));
  const w::ZipReader zip(bytes, "views.pth");
  const auto p = w::parse_pickle(zip.read("views/data.pkl"), "views");
  const auto& root = p.root();
  ASSERT_TRUE(root.is_call_of("collections", "OrderedDict"));
  ASSERT_EQ(root.entries.size(), 4u);
  EXPECT_EQ(root.entries[0].first->text, "whole");
  const auto& t = *root.entries[1].second;
  ASSERT_TRUE(t.is_call_of("torch._utils", "_rebuild_tensor_v2"));
  const auto& pid = *t.args->items[0];
  ASSERT_EQ(pid.kind, w::PickleKind::persistent_id);
  EXPECT_TRUE(pid.args->items[1]->is_global("torch", "FloatStorage"));
  EXPECT_EQ(t.args->items[1]->integer, 10);
  // The memo hands out the same value: both tensors name the same storage key object.
  EXPECT_EQ(pid.args->items[2], root.entries[0].second->args->items[0]->args->items[2]);
  EXPECT_EQ(root.state, nullptr);  // a plain OrderedDict has no _metadata
}

TEST(Pickle, StateDictMetadataComesFromBuild) {
  const std::string bytes = slurp(fixture("tiny_net.pth"));
  const w::ZipReader zip(bytes, "tiny_net.pth");
  const auto p = w::parse_pickle(zip.read("tiny_net/data.pkl"), "tiny_net");
  ASSERT_NE(p.root().state, nullptr);
  ASSERT_EQ(p.root().state->kind, w::PickleKind::dict);
  EXPECT_EQ(p.root().state->entries[0].first->text, "_metadata");
  EXPECT_EQ(p.root().entries.size(), 8u);
}

TEST(Pickle, ReadsScalarsAndContainers) {
  // {'a': [1, -2, 300, 2**40, -1], 'b': (None, True, False, 1.5, b'xy')}
  const std::string s = pickle_of({0x80, 2, '}', 'q', 0, '(', 0x8c, 1, 'a', ']', '(', 'K', 1, 'J', 0xfe, 0xff, 0xff, 0xff,
                                   'M', 0x2c, 1, 0x8a, 6, 0, 0, 0, 0, 0, 1, 0x8a, 1, 0xff, 'e', 'X', 1, 0, 0, 0, 'b',
                                   '(', 'N', 0x88, 0x89, 'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 'C', 2, 'x', 'y', 't',
                                   'u', '.'});
  const auto p = w::parse_pickle(s);
  const auto& d = p.root();
  ASSERT_EQ(d.kind, w::PickleKind::dict);
  ASSERT_EQ(d.entries.size(), 2u);
  const auto& list = d.entries[0].second->items;
  ASSERT_EQ(list.size(), 5u);
  EXPECT_EQ(list[0]->integer, 1);
  EXPECT_EQ(list[1]->integer, -2);
  EXPECT_EQ(list[2]->integer, 300);
  EXPECT_EQ(list[3]->integer, int64_t{1} << 40);
  EXPECT_EQ(list[4]->integer, -1);
  const auto& tuple = d.entries[1].second->items;
  ASSERT_EQ(tuple.size(), 5u);
  EXPECT_EQ(tuple[0]->kind, w::PickleKind::none);
  EXPECT_TRUE(tuple[1]->boolean);
  EXPECT_FALSE(tuple[2]->boolean);
  EXPECT_EQ(tuple[3]->floating, 1.5);
  EXPECT_EQ(tuple[4]->kind, w::PickleKind::bytes);
  EXPECT_EQ(tuple[4]->text, "xy");
}

TEST(Pickle, RefusesMalformedInput) {
  auto refuses = [](const std::string& s, const Strings& parts) {
    expect_error<std::runtime_error>([&] { w::parse_pickle(s, "t.pkl"); }, parts);
  };
  refuses(pickle_of({0x80, 2, 0xff}), {"pickle t.pkl", "unknown opcode 0xff at offset 2"});
  refuses(pickle_of({0x80, 2, 'I'}), {"unsupported opcode", "(INT)"});
  refuses(pickle_of({0x80, 2, 'R', '.'}), {"stack underflow", "offset 2", "REDUCE", "needs 2 values, has 0"});
  refuses(pickle_of({0x80, 2, 'N', '(', 'N', 'R', '.'}), {"stack underflow", "has 1"});  // MARK hides what is below
  refuses(pickle_of({0x80, 2, 'h', 5, '.'}), {"memo index 5 was never stored", "BINGET"});
  refuses(pickle_of({0x80, 2, 'X', 16, 0, 0, 0, 'a', 'b'}), {"truncated", "needs 16 more bytes, 2 remain", "BINUNICODE"});
  refuses(pickle_of({0x80, 2, 'N'}), {"without a STOP", "truncated"});
  refuses(pickle_of({0x80, 2, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), {"truncated"});
  refuses(pickle_of({0x80, 2, 0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, '.'}), {"does not fit in 64 bits"});
  refuses(pickle_of({0x80, 2, 'N', ')', 's', '.'}), {"stack underflow"});
  refuses(pickle_of({0x80, 2, 'N', 'N', 'N', 's', '.'}), {"cannot set items on a None"});
  refuses(pickle_of({0x80, 2, 'N', 'N', 'R', '.'}), {"arguments must be a tuple"});
  refuses(pickle_of({0x80, 9}), {"protocol 9"});
  refuses(pickle_of({0x80, 2, 'e', '.'}), {"no MARK"});
}

TEST(Pickle, LimitsNestingAndSize) {
  std::string deep = pickle_of({0x80, 2});
  for (int i = 0; i < 300; ++i) deep += "]";
  for (int i = 0; i < 299; ++i) deep += "a";
  deep += ".";
  expect_error<std::runtime_error>([&] { w::parse_pickle(deep, "deep"); }, {"nest deeper than 200"});
  // A list appended to itself is refused once its recorded depth passes the limit.
  std::string cycle = pickle_of({0x80, 2, ']', 'q', 0});
  for (int i = 0; i < 300; ++i) cycle += pickle_of({'h', 0, 'a'});
  cycle += ".";
  expect_error<std::runtime_error>([&] { w::parse_pickle(cycle, "cycle"); }, {"nest deeper"});
  std::string many = pickle_of({0x80, 2});
  for (int i = 0; i < 100; ++i) many += "N";
  expect_error<std::runtime_error>([&] { w::parse_pickle(many, "many", {.max_values = 50}); }, {"more than 50 values"});
  expect_error<std::runtime_error>([&] { w::parse_pickle(many, "big", {.max_bytes = 10}); }, {"more than the limit of 10"});
}

TEST(Pickle, SurvivesEveryTruncationAndByteFlipOfDataPkl) {
  const std::string bytes = slurp(fixture("tiny_net.pth"));
  const w::ZipReader zip(bytes, "tiny_net.pth");
  const std::string pkl(zip.read("tiny_net/data.pkl"));
  for (size_t n = 0; n < pkl.size(); ++n) EXPECT_THROW(w::parse_pickle(pkl.substr(0, n)), std::runtime_error) << n;
  for (size_t i = 0; i < pkl.size(); ++i) {
    for (int v = 0; v < 256; v += 5) {
      std::string bad = pkl;
      bad[i] = static_cast<char>(v);
      try {
        const auto p = w::parse_pickle(bad);
        (void)w::describe(p.root(), 4);
      } catch (const std::runtime_error&) {
      }
    }
  }
}

// --- the zip reader ---

TEST(Zip, ListsTorchEntriesInOrder) {
  const std::string bytes = slurp(fixture("tiny_net.pth"));
  const w::ZipReader zip(bytes, "tiny_net.pth");
  ASSERT_EQ(zip.entries().size(), 10u);
  EXPECT_EQ(zip.entries()[0].name, "tiny_net/data.pkl");
  EXPECT_EQ(zip.entries()[9].name, "tiny_net/version");
  EXPECT_EQ(zip.read("tiny_net/version"), "3\n");
  EXPECT_EQ(zip.find("tiny_net/data/0")->size, 432u);
  expect_error<std::runtime_error>([&] { zip.read("nope"); }, {"tiny_net.pth", "no entry 'nope'"});
}

TEST(Zip, Crc32OfKnownString) { EXPECT_EQ(w::crc32("123456789"), 0xCBF43926u); }
