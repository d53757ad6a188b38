// Image files through OpenCV: round trips, image folders and their refusals, and
// torchvision's evaluation preprocessing checked by hand.
#include "temp_dir.h"

#include <metalhead/data/images.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
namespace md = metalhead::data;

namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Images, PngRoundTripIsExactInGreyAndColour) {
  const auto dir = fresh_dir("png");
  torch::manual_seed(0);
  const auto grey = torch::randint(0, 256, {1, 5, 7}, torch::kLong).to(torch::kByte);
  const auto rgb = torch::randint(0, 256, {3, 6, 4}, torch::kLong).to(torch::kByte);
  md::write_png(dir / "grey.png", grey);
  md::write_png(dir / "rgb.png", rgb);
  EXPECT_TRUE(torch::equal(md::read_image(dir / "grey.png"), grey));
  EXPECT_TRUE(torch::equal(md::read_image(dir / "rgb.png"), rgb));  // RGB order kept, not BGR
  // Asked-for channels: grey → RGB repeats it; RGB → grey is OpenCV's luminance.
  const auto as_rgb = md::read_image(dir / "grey.png", 3);
  EXPECT_TRUE(torch::equal(as_rgb, grey.expand({3, -1, -1})));
  const auto as_grey = md::read_image(dir / "rgb.png", 1).to(torch::kDouble);
  const auto f = rgb.to(torch::kDouble);
  const auto luma = 0.299 * f[0] + 0.587 * f[1] + 0.114 * f[2];
  EXPECT_LE((as_grey[0] - luma).abs().max().item<double>(), 1.0);
}

TEST(Images, BadFilesAreNamed) {
  const auto dir = fresh_dir("bad");
  auto e = error_of([&] { md::read_image(dir / "nothing.png"); });
  EXPECT_NE(e.find("nothing.png"), std::string::npos) << e;
  EXPECT_NE(e.find("no such file"), std::string::npos) << e;
  std::ofstream(dir / "text.png") << "hello";
  e = error_of([&] { md::read_image(dir / "text.png"); });
  EXPECT_NE(e.find("cannot decode"), std::string::npos) << e;
  std::ofstream(dir / "empty.jpg");
  e = error_of([&] { md::read_image(dir / "empty.jpg"); });
  EXPECT_NE(e.find("empty"), std::string::npos) << e;
  e = error_of([&] { md::read_image(dir); });
  EXPECT_NE(e.find("not a regular file"), std::string::npos) << e;
  EXPECT_THROW(md::write_png(dir / "x.png", torch::zeros({2, 4, 4}, torch::kByte)), std::invalid_argument);
  EXPECT_THROW(md::write_png(dir / "x.png", torch::zeros({1, 4, 4})), std::invalid_argument);  // float
}

TEST(Images, FolderClassesLabelsAndRefusals) {
  const auto dir = fresh_dir("folder");
  for (const char* c : {"cat", "ant", "bee"}) fs::create_directories(dir / c);
  md::write_png(dir / "ant" / "1.png", torch::full({1, 4, 4}, 10, torch::kByte));
  md::write_png(dir / "ant" / "2.PNG", torch::full({1, 4, 4}, 20, torch::kByte));
  md::write_png(dir / "bee" / "1.png", torch::full({1, 4, 4}, 30, torch::kByte));
  md::write_png(dir / "cat" / "1.png", torch::full({3, 4, 4}, 40, torch::kByte));
  std::ofstream(dir / "cat" / "notes.txt") << "not an image, not read";
  const auto d = md::image_folder(dir);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"ant", "bee", "cat"}));
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{4, 3, 4, 4}));  // one colour image: all RGB
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 0, 1, 2})));
  EXPECT_EQ(d.images[1][2][0][0].item<int>(), 20);
  const auto small = md::image_folder(dir, {.size = {2, 3}, .channels = 1});
  EXPECT_EQ(small.images.sizes(), (std::vector<int64_t>{4, 1, 2, 3}));
  EXPECT_EQ(small.images[2][0][1][2].item<int>(), 30);  // a constant image stays constant

  md::write_png(dir / "bee" / "2.png", torch::zeros({1, 5, 4}, torch::kByte));
  auto e = error_of([&] { md::image_folder(dir); });
  EXPECT_NE(e.find("2.png"), std::string::npos) << e;
  EXPECT_NE(e.find("--image-size"), std::string::npos) << e;
  fs::create_directories(dir / "dog");
  e = error_of([&] { md::image_folder(dir, {.size = {4, 4}}); });
  EXPECT_NE(e.find("class folder dog has no images"), std::string::npos) << e;
  e = error_of([&] { md::image_folder(fresh_dir("nothing")); });
  EXPECT_NE(e.find("no classes"), std::string::npos) << e;
  e = error_of([&] { md::image_folder(dir / "missing"); });
  EXPECT_NE(e.find("no such folder"), std::string::npos) << e;
}

TEST(Images, ImagenetPreprocessByHand) {
  // A constant grey image: every output pixel is (v/255 − mean) / std of its channel.
  const auto out = md::imagenet_preprocess(torch::full({1, 300, 400}, 128, torch::kByte));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 224, 224}));
  const double mean[] = {0.485, 0.456, 0.406}, stdv[] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(out[c].min().item<double>(), (128 / 255.0 - mean[c]) / stdv[c], 1e-5);
    EXPECT_NEAR(out[c].max().item<double>(), (128 / 255.0 - mean[c]) / stdv[c], 1e-5);
  }
  // A 256×300 image (shorter side already 256: no resize) whose value is its column:
  // the centre crop starts at column round((300 − 224) / 2) = 38.
  auto columns = torch::arange(300, torch::kLong).remainder(256).to(torch::kByte).expand({3, 256, 300}).contiguous();
  const auto cropped = md::imagenet_preprocess(columns);
  const double first = cropped[0][0][0].item<double>() * stdv[0] + mean[0];
  EXPECT_NEAR(first * 255, 38, 1e-3);
  const double last = cropped[0][0][223].item<double>() * stdv[0] + mean[0];
  EXPECT_NEAR(last * 255, (38 + 223) % 256, 1e-3);  // the columns wrap at 256
}
