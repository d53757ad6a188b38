// Port of Flux.jl v0.14.25 test/layers/upsample.jl (Upsample, PixelShuffle). Julia's
// (W, H, C, N) is our [N, C, H, W]; Flux's scale and size tuples (W, H, ...) are ours
// reversed. Our scale vector lists every spatial dimension from the first (or one value
// for all), so Flux's shorter `scale = (2,)` on 2-d images — W only — is our {1, 2}.
#include "testing.h"

#include <algorithm>

using namespace flux;

namespace {
Shape jl(Shape julia) {
  std::reverse(julia.begin(), julia.end());
  return julia;
}
std::vector<double> jlv(std::vector<double> julia) {
  std::reverse(julia.begin(), julia.end());
  return julia;
}
}  // namespace

// Flux test/layers/upsample.jl: "upsample bilinear"
TEST(FluxUpsample, UpsampleBilinear) {
  Tensor x = torch::rand(jl({3, 4, 2, 3}));
  Tensor y = Upsample(UpsampleMode::bilinear, {.scale = jlv({2, 3})})(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(y.dim(), 4);
  EXPECT_EQ(shape(y), jl({6, 12, 2, 3}));
  EXPECT_TRUE(close(y, torch::upsample_bilinear2d(x, jl({6, 12}), /*align_corners=*/true)));

  y = Upsample(UpsampleMode::bilinear, {.scale = std::vector<double>{3}})(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y), jl({9, 12, 2, 3}));

  y = Upsample(UpsampleMode::bilinear, {.size = jl({4, 6})})(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y), jl({4, 6, 2, 3}));
}

// Flux test/layers/upsample.jl: "upsample trilinear"
TEST(FluxUpsample, UpsampleTrilinear) {
  Tensor x = torch::rand(jl({3, 4, 2, 3, 4}));
  Tensor y = Upsample(UpsampleMode::trilinear, {.scale = jlv({2, 3, 2})})(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(y.dim(), 5);
  EXPECT_EQ(shape(y), jl({6, 12, 4, 3, 4}));

  y = Upsample(UpsampleMode::trilinear, {.scale = std::vector<double>{3}})(x);
  EXPECT_EQ(shape(y), jl({9, 12, 6, 3, 4}));

  y = Upsample(UpsampleMode::trilinear, {.size = jl({4, 6, 4})})(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y), jl({4, 6, 4, 3, 4}));
}

// Flux test/layers/upsample.jl: "upsample nearest"
TEST(FluxUpsample, UpsampleNearest) {
  Tensor x1 = torch::rand(jl({3, 2, 3}));
  Tensor y1 = Upsample(UpsampleMode::nearest, {.scale = std::vector<double>{2}})(x1);  // scale = (2,)
  EXPECT_EQ(y1.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y1), jl({6, 2, 3}));

  Tensor x = torch::rand(jl({3, 4, 2, 3}));
  Tensor y = Upsample(UpsampleMode::nearest, {.scale = jlv({2, 3})})(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y), jl({6, 12, 2, 3}));

  y = Upsample(UpsampleMode::nearest, {.scale = std::vector<double>{1, 2}})(x);  // Flux scale = (2,): W only
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y), jl({6, 4, 2, 3}));
  EXPECT_TRUE(torch::equal(y, x.repeat_interleave(2, 3)));  // each W element twice

  y = Upsample(UpsampleMode::nearest, {.scale = std::vector<double>{2}})(x);  // scale = 2
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y), jl({6, 8, 2, 3}));

  Tensor y2 = Upsample(2.0)(x);
  EXPECT_TRUE(close(y2, y));
  EXPECT_TRUE(torch::equal(y2, x.repeat_interleave(2, 2).repeat_interleave(2, 3)));

  y = Upsample(UpsampleMode::nearest, {.size = jl({6, 8})})(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(y), jl({6, 8, 2, 3}));
}

// Flux test/layers/upsample.jl: "PixelShuffle"
TEST(FluxUpsample, PixelShuffle) {
  Tensor x = torch::rand(jl({3, 18, 3}));
  Tensor y = PixelShuffle(2)(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(y.dim(), 3);
  EXPECT_EQ(shape(y), jl({6, 9, 3}));

  Tensor x2 = torch::rand(jl({3, 4, 18, 3}));
  Tensor y2 = PixelShuffle(3)(x2);
  EXPECT_EQ(y2.scalar_type(), torch::kFloat32);
  EXPECT_EQ(y2.dim(), 4);
  EXPECT_EQ(shape(y2), jl({9, 12, 2, 3}));
  EXPECT_TRUE(torch::equal(y2, torch::pixel_shuffle(x2, 3)));  // the same map as torch's
}
