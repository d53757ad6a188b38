// DropBlock, dropblock, StochasticDepth and linear_scheduler, with statistical tests.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

namespace {

// The probability that a pixel is dropped, averaged over an H×W map: a pixel is hit
// by any centre within the b×b window around it (clipped at the borders), each
// drawn independently with probability gamma.
double expected_drop_fraction(int64_t H, int64_t W, int64_t b, double p) {
  const double gamma = p * H * W / double(b * b) / double((W - b + 1) * (H - b + 1));
  double total = 0;
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) {
      const int64_t rows = std::min(H - 1, i + b / 2) - std::max<int64_t>(0, i - b / 2) + 1;
      const int64_t cols = std::min(W - 1, j + b / 2) - std::max<int64_t>(0, j - b / 2) + 1;
      total += 1 - std::pow(1 - gamma, double(rows * cols));
    }
  return total / double(H * W);
}

}  // namespace

TEST(DropBlock, DropsTheFractionThePaperPredicts) {
  torch::manual_seed(0);
  Tensor x = torch::ones({64, 8, 48, 48});
  for (double p : {0.1, 0.2}) {
    Tensor y = ml::dropblock(x, p, 5, 1.0);
    const double dropped = (y == 0).to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(dropped, expected_drop_fraction(48, 48, 5, p), 0.006) << "p = " << p;
    EXPECT_NEAR(dropped, p, 0.03) << "p = " << p;
  }
}

TEST(DropBlock, DropsContiguousSquares) {
  torch::manual_seed(1);
  // A single sparse draw: every dropped pixel belongs to a full 3x3 zero square.
  Tensor y = ml::dropblock(torch::ones({1, 1, 40, 40}), 0.05, 3, 1.0);
  Tensor dropped = (y == 0).to(torch::kFloat);
  ASSERT_GT(dropped.sum().item<double>(), 0);
  // Erosion then dilation (an opening) by a 3x3 square gives the dropped set back
  // exactly when it is a union of 3x3 squares (clipped at the border).
  Tensor eroded = 1 - at::max_pool2d(1 - dropped, {3, 3}, {1, 1}, {1, 1});
  Tensor opened = at::max_pool2d(eroded, {3, 3}, {1, 1}, {1, 1});
  EXPECT_TRUE(torch::equal(opened, dropped));
}

TEST(DropBlock, PreservesTheExpectation) {
  torch::manual_seed(2);
  Tensor x = torch::rand({1, 2, 16, 16}) + 0.5;
  Tensor sum = torch::zeros_like(x);
  const int draws = 3000;
  for (int i = 0; i < draws; ++i) sum += ml::dropblock(x, 0.1, 3, 1.0);
  Tensor mean = sum / draws;
  EXPECT_NEAR((mean.mean() / x.mean()).item<double>(), 1.0, 0.01);
  EXPECT_LT(((mean - x).abs() / x).max().item<double>(), 0.1);
}

TEST(DropBlock, GammaScaleScalesTheCentres) {
  torch::manual_seed(3);
  Tensor x = torch::ones({8, 8, 32, 32});
  // With block size 1 the dropped fraction is gamma itself.
  const double full = (ml::dropblock(x, 0.2, 1, 1.0) == 0).to(torch::kDouble).mean().item<double>();
  const double half = (ml::dropblock(x, 0.2, 1, 0.5) == 0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(full, 0.2, 0.01);
  EXPECT_NEAR(half, 0.1, 0.01);
}

TEST(DropBlock, IdentityInTestModeAndForNothing) {
  Tensor x = torch::randn({2, 3, 16, 16});
  Layer db = ml::DropBlock(0.5, 3);
  trainmode(db);
  EXPECT_FALSE(torch::equal(db(x), x));
  testmode(db);
  EXPECT_TRUE(torch::equal(db(x), x));
  testmode(db, automatic);
  EXPECT_TRUE(torch::equal(db(x), x));  // a plain call on data that needs no gradient
  Layer none = ml::DropBlock(std::nullopt);
  EXPECT_EQ(none->repr(), "identity");
  EXPECT_TRUE(torch::equal(none(x), x));
  EXPECT_TRUE(torch::equal(ml::dropblock(x, std::nullopt, 3, 1.0), x));
  EXPECT_TRUE(torch::equal(ml::dropblock(x, 0.0, 3, 1.0), x));
}

TEST(DropBlock, CustomGeneratorIsReproducible) {
  Tensor x = torch::ones({2, 2, 24, 24});
  auto a = at::detail::createCPUGenerator(42), b = at::detail::createCPUGenerator(42), c = at::detail::createCPUGenerator(7);
  Tensor ya = ml::dropblock(x, 0.2, 3, 1.0, a), yb = ml::dropblock(x, 0.2, 3, 1.0, b), yc = ml::dropblock(x, 0.2, 3, 1.0, c);
  EXPECT_TRUE(torch::equal(ya, yb));
  EXPECT_FALSE(torch::equal(ya, yc));
  Layer layer = ml::DropBlock(0.2, 3, 1.0, at::detail::createCPUGenerator(42));
  trainmode(layer);
  EXPECT_TRUE(torch::equal(layer(x), ya));
}

TEST(DropBlock, EvenAndOversizedBlocksKeepTheShape) {
  Tensor x = torch::ones({2, 3, 10, 10});
  EXPECT_EQ(shape(ml::dropblock(x, 0.3, 4, 1.0)), (Shape{2, 3, 10, 10}));
  EXPECT_EQ(shape(ml::dropblock(x, 0.3, 7, 1.0)), (Shape{2, 3, 10, 10}));
  Tensor tiny = ml::dropblock(torch::ones({4, 4, 3, 3}), 0.3, 7, 1.0);  // block clipped to 3
  EXPECT_EQ(shape(tiny), (Shape{4, 4, 3, 3}));
  EXPECT_TRUE(torch::isfinite(tiny).all().item<bool>());
}

TEST(DropBlock, PrintingAndBadInput) {
  EXPECT_EQ(ml::DropBlock()->repr(), "DropBlock(0.1, block_size = 7, gamma_scale = 1.0)");
  EXPECT_EQ(parameter_count(ml::DropBlock()), 0);
  Layer db = ml::DropBlock(0.1, 3);
  expect_error<std::invalid_argument>([&] { db(torch::ones({2, 3, 4})); }, {"DropBlock(0.1", "[N, C, H, W]", "[2, 3, 4]"});
  expect_error<std::invalid_argument>([] { ml::DropBlock(1.5); }, {"DropBlock", "drop_block_prob", "1.5"});
  expect_error<std::invalid_argument>([] { ml::DropBlock(0.1, 7, 2.0); }, {"DropBlock", "gamma_scale"});
}

TEST(DropBlock, GradientFlowsThroughTheKeptUnits) {
  Tensor x = torch::randn({1, 1, 8, 8}, torch::kDouble).requires_grad_(true);
  auto gen = at::detail::createCPUGenerator(5);
  Tensor y = ml::dropblock(x, 0.3, 3, 1.0, gen);
  y.sum().backward();
  // d(sum y)/dx is the (rescaled) keep mask: zero exactly where y was dropped.
  Tensor mask = (y.detach() != 0).to(torch::kDouble);
  EXPECT_TRUE(torch::equal(x.grad() == 0, mask == 0));
}

TEST(StochasticDepth, RowModeDropsWholeSamples) {
  torch::manual_seed(4);
  Layer sd = ml::StochasticDepth(0.25);
  trainmode(sd);
  Tensor x = torch::ones({20000, 3, 2, 2});
  Tensor y = sd(x);
  Tensor per_sample = y.flatten(1);
  // Each sample is entirely dropped or entirely scaled by 1 / (1 - p).
  Tensor zero = (per_sample == 0).all(1), kept = (per_sample - 1 / 0.75).abs().lt(1e-6).all(1);
  EXPECT_TRUE((zero | kept).all().item<bool>());
  EXPECT_NEAR(zero.to(torch::kDouble).mean().item<double>(), 0.25, 0.015);
  EXPECT_NEAR(y.mean().item<double>(), 1.0, 0.02);  // expectation preserved
}

TEST(StochasticDepth, RowModeOnTokens) {
  torch::manual_seed(5);
  Layer sd = ml::StochasticDepth(0.5);
  trainmode(sd);
  Tensor y = sd(torch::ones({4000, 7, 8}));
  Tensor zero = (y.flatten(1) == 0).all(1);
  EXPECT_NEAR(zero.to(torch::kDouble).mean().item<double>(), 0.5, 0.03);
}

TEST(StochasticDepth, BatchModeDropsTheWholeInput) {
  torch::manual_seed(6);
  Layer sd = ml::StochasticDepth(0.3, "batch");
  trainmode(sd);
  int dropped = 0;
  const int calls = 4000;
  for (int i = 0; i < calls; ++i) {
    Tensor y = sd(torch::ones({5, 4}));
    const bool all_zero = (y == 0).all().item<bool>();
    EXPECT_TRUE(all_zero || (y - 1 / 0.7).abs().lt(1e-6).all().item<bool>());
    dropped += all_zero;
  }
  EXPECT_NEAR(dropped / double(calls), 0.3, 0.025);
}

TEST(StochasticDepth, IdentityInTestModeAndForNothing) {
  Tensor x = torch::randn({8, 4});
  Layer sd = ml::StochasticDepth(0.9);
  testmode(sd);
  EXPECT_TRUE(torch::equal(sd(x), x));
  EXPECT_EQ(ml::StochasticDepth(std::nullopt)->repr(), "identity");
  EXPECT_EQ(ml::StochasticDepth(0.1)->repr(), "StochasticDepth(0.1, :row)");
  EXPECT_EQ(ml::StochasticDepth(0.1, "batch")->repr(), "StochasticDepth(0.1, :batch)");
  expect_error<std::invalid_argument>([] { ml::StochasticDepth(0.1, "column"); }, {"StochasticDepth", "row", "column"});
  expect_error<std::invalid_argument>([] { ml::StochasticDepth(-0.1); }, {"StochasticDepth", "[0, 1]"});
}

TEST(StochasticDepth, CustomGeneratorIsReproducible) {
  Layer a = ml::StochasticDepth(0.5, "row", at::detail::createCPUGenerator(9));
  Layer b = ml::StochasticDepth(0.5, "row", at::detail::createCPUGenerator(9));
  trainmode(a);
  trainmode(b);
  Tensor x = torch::ones({64, 3});
  EXPECT_TRUE(torch::equal(a(x), b(x)));
}

TEST(LinearScheduler, EvenlySpacedExcludingTheEnd) {
  auto v = ml::linear_scheduler(0.1, 4);
  ASSERT_EQ(v.size(), 4u);
  const double expected[] = {0.0, 0.025, 0.05, 0.075};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(v[i], expected[i], 1e-12);
  auto s = ml::linear_scheduler(0.5, 2, 0.1);
  EXPECT_NEAR(s[0], 0.1, 1e-12);
  EXPECT_NEAR(s[1], 0.3, 1e-12);
  EXPECT_TRUE(ml::linear_scheduler(0.2, 0).empty());
  auto none = ml::linear_scheduler(std::nullopt, 3);
  ASSERT_EQ(none.size(), 3u);
  for (const auto& p : none) EXPECT_FALSE(p.has_value());
}
