// Port of Flux.jl v0.14.25 test/layers/stateless.jl (flatten, normalise). Julia's
// (d1, ..., dN) array is our [dN, ..., d1]; Julia dims = k is our dimension N - k.
#include "testing.h"

using namespace flux;

// Flux test/layers/stateless.jl: "helpers" / "flatten"
TEST(FluxStateless, HelpersFlatten) {
  Tensor x = torch::randn({2, 3, 10, 10});  // Julia randn32(10, 10, 3, 2)
  Tensor y = flatten(x);
  EXPECT_EQ(shape(y), (Shape{2, 300}));  // Julia (300, 2)
  EXPECT_TRUE(torch::equal(y, x.reshape({2, 300})));  // the same memory, batch kept
}

// Flux test/layers/stateless.jl: "helpers" / "normalise"
TEST(FluxStateless, HelpersNormalise) {
  Tensor x = torch::randn({2, 2, 3});  // Julia randn32(3, 2, 2)
  // normalise(x) == normalise(x; dims = 3): the last Julia dimension is our dimension 0.
  EXPECT_TRUE(torch::equal(normalise(x), normalise(x, {.dims = {0}})));
  // By hand: (x - μ) / (σ + eps) with the population σ over that dimension.
  Tensor mu = x.mean(0, true), sigma = (x - mu).pow(2).mean(0, true).sqrt();
  EXPECT_TRUE(close(normalise(x), (x - mu) / (sigma + 1e-5)));
}

// spec (/tmp/api-spec.md): integer and Bool input to normalise gives floats.
TEST(FluxStateless, NormaliseOfIntegersIsFloat) {
  Tensor xi = torch::tensor({1, 2, 3, 4}).reshape({4, 1});
  Tensor y = normalise(xi);
  EXPECT_TRUE(y.is_floating_point());
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  const double mu = 2.5, sigma = std::sqrt(1.25);
  EXPECT_NEAR(y[0][0].item<double>(), (1 - mu) / (sigma + 1e-5), 1e-6);
  Tensor yb = normalise(torch::tensor({true, false, true, false}).reshape({4, 1}));
  EXPECT_EQ(yb.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(yb[0][0].item<double>(), 0.5 / (0.5 + 1e-5), 1e-6);
}
