// Upsample and PixelShuffle.
#include "testing.h"

using namespace flux;

TEST(Upsample, SeedExampleNearestScale) {
  // Flux: Upsample(scale = (2, 3)) on (2, 2, 1, 1) gives (4, 6, 1, 1).
  Upsample m({.scale = std::vector<double>{2, 3}});
  EXPECT_EQ(m->repr(), "Upsample(:nearest, scale = (2, 3))");
  EXPECT_EQ(shape(m(torch::ones({1, 1, 2, 2}))), (Shape{1, 1, 4, 6}));
}

TEST(Upsample, SeedExampleBilinearSize) {
  Upsample b(UpsampleMode::bilinear, {.size = Shape{4, 5}});
  EXPECT_EQ(b->repr(), "Upsample(:bilinear, size = (4, 5))");
  EXPECT_EQ(shape(b(torch::ones({1, 1, 2, 2}))), (Shape{1, 1, 4, 5}));
  EXPECT_TRUE(close(b(torch::ones({1, 1, 2, 2})), torch::ones({1, 1, 4, 5})));
}

TEST(Upsample, NearestRepeatsEachElement) {
  Tensor x = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}}).view({1, 1, 2, 2});
  Tensor expected = torch::tensor({{1.0f, 1.0f, 1.0f, 2.0f, 2.0f, 2.0f},
                                   {1.0f, 1.0f, 1.0f, 2.0f, 2.0f, 2.0f},
                                   {3.0f, 3.0f, 3.0f, 4.0f, 4.0f, 4.0f},
                                   {3.0f, 3.0f, 3.0f, 4.0f, 4.0f, 4.0f}}).view({1, 1, 4, 6});
  EXPECT_TRUE(torch::equal(Upsample({.scale = std::vector<double>{2, 3}})(x), expected));
  EXPECT_TRUE(torch::equal(Upsample(2.0)(torch::tensor({1.0f, 2.0f}).view({1, 1, 2})), torch::tensor({1.0f, 1.0f, 2.0f, 2.0f}).view({1, 1, 4})));
  EXPECT_EQ(Upsample(2.0)->repr(), "Upsample(:nearest, scale = 2)");
  EXPECT_TRUE(torch::equal(Upsample({.size = Shape{4, 6}})(x), expected));
}

TEST(Upsample, BilinearAlignsCorners) {
  Tensor x = torch::tensor({0.0f, 1.0f}).view({1, 1, 1, 2});
  Tensor y = Upsample(UpsampleMode::bilinear, {.size = Shape{1, 3}})(x);
  EXPECT_TRUE(close(y, torch::tensor({0.0f, 0.5f, 1.0f}).view({1, 1, 1, 3})));
  Tensor r = torch::randn({2, 3, 4, 5});
  Tensor z = Upsample(UpsampleMode::bilinear, {.scale = std::vector<double>{2.5}})(r);  // floor(2.5·I)
  EXPECT_EQ(shape(z), (Shape{2, 3, 10, 12}));
  EXPECT_TRUE(close(z, torch::upsample_bilinear2d(r, {10, 12}, /*align_corners=*/true)));
  // With align_corners the corners are the input's corners.
  EXPECT_TRUE(close(z.select(2, 0).select(2, 0), r.select(2, 0).select(2, 0)));
  EXPECT_TRUE(close(z.select(2, 9).select(2, 11), r.select(2, 3).select(2, 4)));
}

TEST(Upsample, TrilinearMatchesTorch) {
  Tensor r = torch::randn({1, 2, 2, 3, 4});
  Tensor z = Upsample(UpsampleMode::trilinear, {.scale = std::vector<double>{2}})(r);
  EXPECT_TRUE(close(z, torch::upsample_trilinear3d(r, {4, 6, 8}, /*align_corners=*/true)));
}

TEST(Upsample, RefusesBadOptions) {
  expect_error<std::invalid_argument>([] { Upsample(UpsampleMode::nearest, {}); }, {"exactly one of scale and size"});
  expect_error<std::invalid_argument>(
      [] { Upsample(UpsampleMode::nearest, {.scale = std::vector<double>{2}, .size = Shape{4, 4}}); },
      {"exactly one of scale and size"});
  expect_error<std::invalid_argument>([] { Upsample(1.5); }, {"integer"});
  expect_error<std::invalid_argument>([] { Upsample({.size = Shape{5, 4}})(torch::ones({1, 1, 2, 2})); }, {"[1, 1, 2, 2]"});
  expect_error<std::invalid_argument>([] { Upsample(UpsampleMode::bilinear, {.size = Shape{4}})(torch::ones({1, 1, 2})); },
                                      {":bilinear", "[1, 1, 2]"});
}

TEST(PixelShuffle, IsTorchsPixelShuffle) {
  Tensor x = torch::randn({2, 8, 3, 3});
  EXPECT_TRUE(torch::equal(PixelShuffle(2)(x), torch::pixel_shuffle(x, 2)));
  EXPECT_EQ(shape(PixelShuffle(2)(torch::randn({1, 8, 3}))), (Shape{1, 4, 6}));
  EXPECT_EQ(shape(PixelShuffle(2)(torch::randn({1, 16, 2, 2, 2}))), (Shape{1, 2, 4, 4, 4}));
  EXPECT_EQ(PixelShuffle(2)->repr(), "PixelShuffle(2)");
}

TEST(PixelShuffle, MovesChannelOffsetsToPixels) {
  // One output channel, r = 2: input channel i·2 + j (i the H offset, j the W offset) goes to pixel (i, j).
  Tensor x = torch::arange(4, torch::kFloat32).view({1, 4, 1, 1});
  EXPECT_TRUE(torch::equal(PixelShuffle(2)(x), torch::tensor({{0.0f, 1.0f}, {2.0f, 3.0f}}).view({1, 1, 2, 2})));
}
