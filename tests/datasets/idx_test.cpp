// The IDX reader against Fashion-MNIST's known sizes and first labels (Debian's
// dataset-fashion-mnist), and hand-made bad files.
#include <gtest/gtest.h>
#include <metalhead/data/idx.h>

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>

namespace fs = std::filesystem;
namespace md = metalhead::data;

namespace {

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("metalhead-idx-" + std::to_string(::getpid()) + "-" + name);
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void expect_refused(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

}  // namespace

TEST(FashionMnist, KnownSizesAndFirstLabels) {
  auto train = md::fashion_mnist(md::Split::train);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(train.images.scalar_type(), at::kByte);
  EXPECT_EQ(train.labels.sizes(), (std::vector<int64_t>{60000}));
  // The data set's published first training labels: ankle boot, T-shirt, T-shirt, dress, ...
  EXPECT_TRUE(at::equal(train.labels.slice(0, 0, 10), at::tensor({9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, at::kLong)));
  // Balanced: 6000 images of each class.
  EXPECT_TRUE(at::equal(at::bincount(train.labels), at::full({10}, 6000, at::kLong)));

  auto test = md::fashion_mnist(md::Split::test);
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_TRUE(at::equal(test.labels.slice(0, 0, 10), at::tensor({9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, at::kLong)));
  EXPECT_EQ(test.classes.at(9), "Ankle boot");
  EXPECT_EQ(md::fashion_mnist_classes().size(), 10u);
}

TEST(Idx, ReadsPlainAndGzipFiles) {
  const std::vector<uint8_t> bytes = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
  const auto plain = temp_file("plain");
  write_bytes(plain, bytes);
  auto a = md::read_idx(plain);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));

  const auto gz = temp_file("gz.gz");
  gzFile f = gzopen(gz.c_str(), "wb");
  gzwrite(f, bytes.data(), bytes.size());
  gzclose(f);
  EXPECT_EQ(md::read_idx(gz).data, a.data);
  fs::remove(plain);
  fs::remove(gz);
}

TEST(Idx, RefusesBadFiles) {
  const auto p = temp_file("bad");
  write_bytes(p, {0, 0, 8, 1, 0, 0, 0, 5, 1, 2});  // 5 bytes promised, 2 there
  expect_refused([&] { md::read_idx(p); }, {p.string(), "truncated", "5 bytes"});
  write_bytes(p, {0, 0, 8, 1, 0, 0, 0, 1, 1, 2});
  expect_refused([&] { md::read_idx(p); }, {p.string(), "longer"});
  write_bytes(p, {'P', 'K', 8, 1});
  expect_refused([&] { md::read_idx(p); }, {p.string(), "not an IDX file"});
  write_bytes(p, {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0});  // float elements
  expect_refused([&] { md::read_idx(p); }, {p.string(), "element type"});
  write_bytes(p, {0, 0, 8});
  expect_refused([&] { md::read_idx(p); }, {p.string(), "shorter than an IDX header"});
  fs::remove(p);
  expect_refused([&] { md::read_idx(p); }, {p.string(), "cannot open"});
  expect_refused([&] { md::fashion_mnist(md::Split::train, fs::temp_directory_path() / "no-such-dir"); },
                 {"no-such-dir", "dataset-fashion-mnist"});
}
