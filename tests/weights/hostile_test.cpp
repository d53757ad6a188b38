// Hostile and damaged weights files (issue 15): a header built to be slow, FIFOs, flipped
// bits in files we wrote, and pickles built to exhaust memory.
#include <metalhead/registry.h>
#include <metalhead/weights.h>
#include <metalhead/weights/pickle.h>
#include <metalhead/weights/pth.h>
#include <metalhead/weights/safetensors.h>

#include "flux/testing.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace metalhead::weights;

namespace {

fs::path temp(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("hostile_weights_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

// A header of `n` one-byte U8 tensors "t0", "t1", ..., as a whole file.
std::string many_tensors(size_t n) {
  std::string header = "{";
  for (size_t i = 0; i < n; ++i) {
    header += (i ? ",\"t" : "\"t") + std::to_string(i) + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" +
              std::to_string(i) + "," + std::to_string(i + 1) + "]}";
  }
  header += "}";
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  return out + header + std::string(n, '\1');
}

}  // namespace

// 100,000 entries took 235 s when the parser re-scanned the object after every entry; a linear
// parser takes well under a second (a quadratic one would run past ctest's timeout).
TEST(HostileSafetensors, ManyTensorsParseInLinearTime) {
  const std::string bytes = many_tensors(100'000);
  const auto header = parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "many");
  EXPECT_EQ(header.tensors.size(), 100'000u);
  EXPECT_EQ(header.tensors.back().end, 100'000u);
}

TEST(HostileSafetensors, TensorCountHasALimit) {
  const std::string bytes = many_tensors(1'000'001);
  expect_error<std::runtime_error>(
      [&] { parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "huge"); },
      {"huge", "more than 1000000 tensors", "limit"});
}

TEST(HostileSafetensors, DuplicateKeysAreStillRefused) {
  std::string header = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  bytes += header + "xy";
  expect_error<std::runtime_error>(
      [&] { parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "dup"); },
      {"'a' twice"});
}

TEST(HostileFiles, AFifoIsRefusedWithoutBlocking) {
  const fs::path fifo = temp("weights.fifo");
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opening a FIFO for reading blocks until a writer comes: these would hang.
  expect_error<std::runtime_error>([&] { read_safetensors(fifo); }, {fifo.string(), "not a regular file", "FIFO"});
  expect_error<std::runtime_error>([&] { read_pth(fifo.string()); }, {"not a regular file", "FIFO"});
  metalhead::Model m = metalhead::create_model("resnet18");
  expect_error<std::runtime_error>([&] { metalhead::load_weights(m, fifo); }, {"not a regular file", "FIFO"});
  expect_error<std::runtime_error>([&] { read_safetensors(fifo.parent_path()); }, {"a directory"});
  fs::remove(fifo);
}

TEST(Digest, FilesWeWriteCarryOneAndItIsChecked) {
  const fs::path path = temp("digest.safetensors");
  const auto w = torch::tensor({0.096f, -1.5f, 2.0f});
  write_safetensors(path, {{"w", w}, {"steps", torch::tensor(int64_t{7})}}, {{"lr", "0.003"}});
  const std::string good = slurp(path);
  ASSERT_NE(good.find(kDigestKey), std::string::npos);
  auto read = read_safetensors(path);
  EXPECT_EQ(read.metadata, (std::map<std::string, std::string>{{"lr", "0.003"}}));  // the digest is not metadata

  // A flipped exponent bit in a weight: 0.096 becomes ~3e37.
  std::string bad = good;
  // The data ends with the I64 (8-byte elements lead) and then the 3 floats.
  const size_t floats = good.size() - 12, steps = good.size() - 20;
  bad[floats + 3] = static_cast<char>(bad[floats + 3] ^ 0x40);
  put(path, bad);
  expect_error<std::runtime_error>([&] { read_safetensors(path); }, {path.string(), "corrupt", "SHA-256"});
  // A changed step count, and an edited learning rate in the metadata.
  bad = good;
  bad[steps] = static_cast<char>(bad[steps] ^ 1);
  put(path, bad);
  expect_error<std::runtime_error>([&] { read_safetensors(path); }, {"corrupt"});
  bad = good;
  bad.replace(bad.find("0.003"), 5, "0.009");
  put(path, bad);
  expect_error<std::runtime_error>([&] { read_safetensors(path); }, {"corrupt"});
  put(path, good);
  EXPECT_TRUE(torch::equal(read_safetensors(path).tensors.back().second, w));
}

TEST(Digest, FilesWithoutOneStillLoad) {
  const fs::path path = temp("plain.safetensors");
  write_safetensors(path, {{"w", torch::ones({2})}}, {{"format", "pt"}}, {.digest = false});
  EXPECT_EQ(slurp(path).find(kDigestKey), std::string::npos);
  EXPECT_TRUE(torch::equal(read_safetensors(path).tensors[0].second, torch::ones({2})));
}

TEST(HostilePickle, MemoryIsBoundedByTheInputSize) {
  // Two million EMPTY_LIST opcodes: each makes a value of ~200 bytes. The values allowed
  // are now in proportion to the input, so it is refused early, not after 400 MB.
  const std::string bytes = "\x80\x02" + std::string(2'000'000, ']');
  expect_error<std::runtime_error>([&] { parse_pickle(bytes, "bomb.pkl"); }, {"bomb.pkl", "values"});
}
