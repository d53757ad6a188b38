// Images and loaders given hostile input (issue 15): declared sizes checked before decoding,
// bounded resizes, truncated JPEGs, and errors in loader threads reaching the caller.
#include <metalhead/data/image_header.h>
#include <metalhead/data/images.h>
#include <metalhead/data/loader.h>

#include "flux/testing.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace fs = std::filesystem;
namespace md = metalhead::data;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(testing::TempDir()) / ("metalhead-hostile-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::optional<md::ImageDims> dims(const std::string& bytes) {
  return md::declared_image_size(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

void set_be32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

}  // namespace

TEST(ImageHeader, DeclaredSizesOfEachFormatByHand) {
  const auto dir = fresh_dir("header");
  md::write_png(dir / "a.png", torch::zeros({3, 7, 11}, torch::kByte));
  auto png = dims(slurp(dir / "a.png"));
  ASSERT_TRUE(png);
  EXPECT_EQ(png->width, 11u);
  EXPECT_EQ(png->height, 7u);
  // JPEG: SOI, an APP0 segment of length 4 (skipped), then SOF0: length, precision, height 300, width 500.
  const std::string jpeg("\xFF\xD8\xFF\xE0\x00\x04\x00\x00\xFF\xC0\x00\x11\x08\x01\x2C\x01\xF4", 17);
  ASSERT_TRUE(dims(jpeg));
  EXPECT_EQ(dims(jpeg)->width, 500u);
  EXPECT_EQ(dims(jpeg)->height, 300u);
  // BMP: width and height as little-endian int32 at 18 and 22; a negative height is top-down.
  std::string bmp(26, '\0');
  bmp[0] = 'B', bmp[1] = 'M', bmp[18] = 40, bmp[22] = static_cast<char>(0xF6), bmp[23] = bmp[24] = bmp[25] = static_cast<char>(0xFF);
  EXPECT_EQ(dims(bmp)->width, 40u);
  EXPECT_EQ(dims(bmp)->height, 10u);
  EXPECT_EQ(dims("P5\n# a comment\n640 480\n255\n")->width, 640u);
  EXPECT_EQ(dims("P5\n# a comment\n640 480\n255\n")->height, 480u);
  EXPECT_FALSE(dims("GIF89a"));
}

TEST(ImageHeader, TruncatedJpegsAreTold) {
  const std::string whole("\xFF\xD8\xFF\xE0\x00\x04\x00\x00\xFF\xD9", 10);
  const auto* p = reinterpret_cast<const uint8_t*>(whole.data());
  EXPECT_FALSE(md::truncated_jpeg(p, whole.size()));
  EXPECT_TRUE(md::truncated_jpeg(p, whole.size() - 2));
  const std::string trailing = whole + std::string("\0\0\0", 3);
  EXPECT_FALSE(md::truncated_jpeg(reinterpret_cast<const uint8_t*>(trailing.data()), trailing.size()));
  md::write_png(fresh_dir("notjpeg") / "x.png", torch::zeros({1, 2, 2}, torch::kByte));
  const std::string png = slurp(fs::path(testing::TempDir()) / "metalhead-hostile-notjpeg" / "x.png");
  EXPECT_FALSE(md::truncated_jpeg(reinterpret_cast<const uint8_t*>(png.data()), png.size()));
}

TEST(HostileImages, ADecompressionBombIsRefusedBeforeDecoding) {
  const auto dir = fresh_dir("bomb");
  md::write_png(dir / "small.png", torch::zeros({1, 4, 4}, torch::kByte));
  std::string bytes = slurp(dir / "small.png");
  set_be32(bytes, 16, 32000);  // IHDR width
  set_be32(bytes, 20, 32000);  // IHDR height
  std::ofstream(dir / "bomb.png", std::ios::binary) << bytes;
  expect_error<std::runtime_error>([&] { md::read_image(dir / "bomb.png"); },
                                   {"32000 × 32000", std::to_string(md::kMaxImagePixels)});
}

TEST(HostileImages, AnExtremeAspectRatioIsResizedWithinBounds) {
  // A 1 × 10000 strip: the shorter side to 256 would make a 256 × 2,560,000 image (2 GB).
  const auto dir = fresh_dir("strip");
  auto strip = torch::arange(10000, torch::kLong).remainder(256).to(torch::kByte).reshape({1, 1, 10000}).expand({3, 1, 10000});
  md::write_png(dir / "strip.png", strip.contiguous());
  const auto x = md::imagenet_preprocess(md::read_image(dir / "strip.png", 3));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{3, 224, 224}));
  // The centre columns of the strip, as a plain resize-then-crop gives: values near pixel 5000's.
  const double centre = (5000 % 256) / 255.0;
  const double got = x[0][112][112].item<double>() * 0.229 + 0.485;
  EXPECT_NEAR(got, centre, 0.02);
}

TEST(HostileLoader, AWorkersErrorReachesTheCaller) {
  md::LabelledImages d;
  d.images = torch::zeros({8, 1, 4, 4}, torch::kByte);
  d.labels = torch::zeros({8}, torch::kLong);
  // A resize to 0 rows fails inside the worker thread; it used to call std::terminate.
  md::DataLoader loader(d, {.batch_size = 4, .workers = 2, .augment = {.resize = {0, 4}}});
  loader.start_epoch(0);
  EXPECT_THROW(loader.next(), std::exception);
  // The loader is still usable and shuts down cleanly afterwards.
  loader.start_epoch(1);
  EXPECT_THROW(loader.next(), std::exception);
}

TEST(HostileLoader, TooManyWorkersAreRefused) {
  md::LabelledImages d;
  d.images = torch::zeros({8, 1, 4, 4}, torch::kByte);
  d.labels = torch::zeros({8}, torch::kLong);
  expect_error<std::invalid_argument>([&] { md::DataLoader loader(d, {.batch_size = 4, .workers = 1000000}); },
                                      {"at most 256 workers"});
}
