// Images and loaders given hostile input (issue 15): declared sizes checked before decoding,
// bounded resizes, truncated JPEGs, and errors in loader threads reaching the caller.
#include <metalhead/data/image_header.h>
#include <metalhead/data/images.h>
#include <metalhead/data/loader.h>

#include "flux/testing.h"
#include "temp_dir.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace fs = std::filesystem;
namespace md = metalhead::data;

namespace {

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

// Exits 0 when the loader refused cleanly; other codes say what went wrong instead.
// Allows `headroom` bytes of address space above what the process maps now (exit 3 if not).
void limit_address_space(rlim_t headroom) {
  long pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  const rlim_t limit = static_cast<rlim_t>(pages) * ::sysconf(_SC_PAGESIZE) + headroom;
  const rlimit r{limit, limit};
  if (::setrlimit(RLIMIT_AS, &r) != 0) std::_Exit(3);
}

[[noreturn]] void start_256_workers_under_a_memory_limit(const md::LabelledImages& d) {
  limit_address_space(64 << 20);
  try {
    md::DataLoader loader(d, {.batch_size = 4, .workers = 256});
    std::_Exit(4);  // all started: the limit did not bind
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::_Exit(std::string(e.what()).find("cannot start 256 worker threads") != std::string::npos ? 0 : 5);
  }
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
  // TIFF: "II*\0", the first directory at 8, two entries: ImageWidth SHORT 600, ImageLength LONG 70000.
  std::string tiff("II*\0\x08\0\0\0\x02\0", 10);
  tiff += std::string("\x00\x01\x03\x00\x01\0\0\0\x58\x02\0\0", 12);
  tiff += std::string("\x01\x01\x04\x00\x01\0\0\0\x70\x11\x01\0", 12);
  ASSERT_TRUE(dims(tiff));
  EXPECT_EQ(dims(tiff)->width, 600u);
  EXPECT_EQ(dims(tiff)->height, 70000u);
  std::string big_endian("MM\0*\0\0\0\x08\0\x01", 10);
  big_endian += std::string("\x01\x00\x00\x03\0\0\0\x01\x01\x2C\0\0", 12);
  EXPECT_EQ(dims(big_endian)->width, 300u);
  EXPECT_EQ(dims(big_endian)->height, 0u);
  EXPECT_FALSE(dims("GIF89a"));
}

TEST(ImageHeader, TruncatedJpegsAreTold) {
  const std::string whole("\xFF\xD8\xFF\xE0\x00\x04\x00\x00\xFF\xD9", 10);
  const auto* p = reinterpret_cast<const uint8_t*>(whole.data());
  EXPECT_FALSE(md::truncated_jpeg(p, whole.size()));
  EXPECT_TRUE(md::truncated_jpeg(p, whole.size() - 2));
  const std::string trailing = whole + std::string("\0\0\0", 3);
  EXPECT_FALSE(md::truncated_jpeg(reinterpret_cast<const uint8_t*>(trailing.data()), trailing.size()));
  const auto file = fresh_dir("notjpeg") / "x.png";
  md::write_png(file, torch::zeros({1, 2, 2}, torch::kByte));
  const std::string png = slurp(file);
  ASSERT_GT(png.size(), 8u);  // a PNG was read: the check below looks at real bytes
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

TEST(HostileImages, FormatsWhoseSizeIsNotCheckedAreNotDecoded) {
  // A Radiance HDR header declaring 32000 × 32000: OpenCV would decode it into 12 GB of floats.
  const auto dir = fresh_dir("hdr");
  std::ofstream(dir / "bomb.hdr", std::ios::binary) << "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 32000 +X 32000\n"
                                                    << std::string(64, '\x01');
  expect_error<std::runtime_error>([&] { md::read_image(dir / "bomb.hdr"); },
                                   {"bomb.hdr", "not a PNG, JPEG, BMP, WebP, TIFF or PNM image"});
  // A PNG cut inside its header cannot tell its size either.
  md::write_png(dir / "small.png", torch::zeros({1, 4, 4}, torch::kByte));
  std::ofstream(dir / "cut.png", std::ios::binary) << slurp(dir / "small.png").substr(0, 20);
  expect_error<std::runtime_error>([&] { md::read_image(dir / "cut.png"); }, {"cut.png", "header is cut short"});
}

TEST(HostileImages, ATiffBombIsRefusedBeforeDecoding) {
  const auto dir = fresh_dir("tiff");
  std::string tiff("II*\0\x08\0\0\0\x02\0", 10);
  tiff += std::string("\x00\x01\x04\x00\x01\0\0\0\x00\x7D\0\0", 12);  // width 32000
  tiff += std::string("\x01\x01\x04\x00\x01\0\0\0\x00\x7D\0\0", 12);  // height 32000
  std::ofstream(dir / "bomb.tif", std::ios::binary) << tiff;
  expect_error<std::runtime_error>([&] { md::read_image(dir / "bomb.tif"); }, {"32000 × 32000"});
}

TEST(HostileImages, ATruncatedJpegIsDecodedWithAWarning) {
  const std::string whole = slurp(METALHEAD_TEST_DATA "/grey77_8x8.jpg");
  ASSERT_EQ(whole.substr(whole.size() - 2), "\xFF\xD9");
  const auto dir = fresh_dir("jpeg");
  std::ofstream(dir / "whole.jpg", std::ios::binary) << whole;
  std::ofstream(dir / "cut.jpg", std::ios::binary) << whole.substr(0, whole.size() - 2);
  testing::internal::CaptureStderr();
  const auto good = md::read_image(dir / "whole.jpg", 1);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(good.sizes(), (std::vector<int64_t>{1, 8, 8}));
  EXPECT_NEAR(good.to(torch::kFloat).mean().item<double>(), 77, 1);
  testing::internal::CaptureStderr();
  const auto cut = md::read_image(dir / "cut.jpg", 1);
  const std::string told = testing::internal::GetCapturedStderr();
  EXPECT_NE(told.find("warning: read_image(" + (dir / "cut.jpg").string() + "): the JPEG is truncated"), std::string::npos)
      << told;
  EXPECT_EQ(cut.sizes(), good.sizes());
}

TEST(HostileImages, AnExtremeAspectRatioIsResizedWithinBounds) {
  // A 1 × 10000 strip: the shorter side to 256 would make a 256 × 2,560,000 image (2 GB).
  const auto dir = fresh_dir("strip");
  auto strip = torch::arange(10000, torch::kLong).remainder(256).to(torch::kByte).reshape({1, 1, 10000}).expand({3, 1, 10000});
  md::write_png(dir / "strip.png", strip.contiguous());
  // Within 512 MB of address space above what the process uses.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        limit_address_space(512 << 20);
        std::_Exit(md::imagenet_preprocess(md::read_image(dir / "strip.png", 3)).numel() == 3 * 224 * 224 ? 0 : 4);
      },
      testing::ExitedWithCode(0), "");
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

TEST(HostileLoader, ThreadsThatCannotStartAreAnErrorNotAnAbort) {
  // Under an address-space limit 64 MB above what the process uses, 256 threads' 8 MB
  // stacks cannot all be mapped: the constructor must join those that started and throw.
  // (As root, RLIMIT_NPROC does not bind; RLIMIT_AS does.)
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  md::LabelledImages d;
  d.images = torch::zeros({8, 1, 4, 4}, torch::kByte);
  d.labels = torch::zeros({8}, torch::kLong);
  EXPECT_EXIT(start_256_workers_under_a_memory_limit(d), testing::ExitedWithCode(0),
              "DataLoader: cannot start 256 worker threads");
}

TEST(HostileLoader, TooManyWorkersAreRefused) {
  md::LabelledImages d;
  d.images = torch::zeros({8, 1, 4, 4}, torch::kByte);
  d.labels = torch::zeros({8}, torch::kLong);
  expect_error<std::invalid_argument>([&] { md::DataLoader loader(d, {.batch_size = 4, .workers = 1000000}); },
                                      {"at most 256 workers"});
}
