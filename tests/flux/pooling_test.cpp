// MaxPool, MeanPool, the adaptive and global pools, and flatten.
#include "testing.h"

using namespace flux;
namespace F = torch::nn::functional;

TEST(AdaptiveMaxPool, SeedExampleEqualsMaxPoolWhenTheSizeDivides) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  EXPECT_EQ(shape(AdaptiveMaxPool({25, 25})(xs)), (Shape{2, 3, 25, 25}));
  EXPECT_TRUE(torch::equal(MaxPool({4, 4})(xs), AdaptiveMaxPool({25, 25})(xs)));
  EXPECT_EQ(AdaptiveMaxPool({25, 25})->repr(), "AdaptiveMaxPool((25, 25))");
}

TEST(AdaptiveMeanPool, SeedExampleEqualsMeanPoolWhenTheSizeDivides) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  EXPECT_EQ(shape(AdaptiveMeanPool({25, 25})(xs)), (Shape{2, 3, 25, 25}));
  EXPECT_TRUE(close(MeanPool({4, 4})(xs), AdaptiveMeanPool({25, 25})(xs)));
  EXPECT_TRUE(close(AdaptiveMeanPool({25, 25})(xs), torch::adaptive_avg_pool2d(xs, {25, 25})));
}

TEST(MaxPool, SeedExampleWithSamePadInAChain) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  Chain m(Conv({5, 5}, {3, 7}, identity, {.pad = SamePad{}}), MaxPool({5, 5}, {.pad = SamePad{}}));
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Conv((5, 5), 3 => 7, pad=2),          # 532 parameters\n"
            "  MaxPool((5, 5), pad=2),\n"
            ")");
  EXPECT_EQ(shape(m[0](xs)), (Shape{2, 7, 100, 100}));
  EXPECT_EQ(shape(m(xs)), (Shape{2, 7, 20, 20}));
}

TEST(MaxPool, SeedExampleOneDimensionalWindow) {
  MaxPool lay({5}, {.pad = 2, .stride = Dims{3}});
  EXPECT_EQ(lay->repr(), "MaxPool((5,), pad=2, stride=3)");
  EXPECT_EQ(shape(lay(torch::rand({2, 7, 100}))), (Shape{2, 7, 34}));  // floor((104 - 5) / 3) + 1
}

TEST(MeanPool, SeedExampleWithSamePadInAChain) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  Chain m(Conv({5, 5}, {3, 7}), MeanPool({5, 5}, {.pad = SamePad{}}));
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Conv((5, 5), 3 => 7),                 # 532 parameters\n"
            "  MeanPool((5, 5), pad=2),\n"
            ")");
  EXPECT_EQ(shape(m[0](xs)), (Shape{2, 7, 96, 96}));
  EXPECT_EQ(shape(m(xs)), (Shape{2, 7, 20, 20}));
}

TEST(GlobalPool, SeedExamplesKeepSingletonDimensions) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  EXPECT_EQ(shape(Chain(Conv({3, 3}, {3, 7}), GlobalMaxPool())(xs)), (Shape{2, 7, 1, 1}));
  EXPECT_EQ(shape(Chain(Conv({3, 3}, {3, 7}), GlobalMeanPool())(xs)), (Shape{2, 7, 1, 1}));
  EXPECT_EQ(shape(GlobalMaxPool()(torch::rand({7, 5, 3}))), (Shape{7, 5, 1}));  // Julia (3,5,7) -> (1,5,7)
}

TEST(GlobalPool, TakesTheMaxAndMeanOverAllSpatialDimensions) {
  Tensor x = torch::randn({2, 3, 4, 5});
  EXPECT_TRUE(torch::equal(GlobalMaxPool()(x), std::get<0>(x.flatten(2).max(2)).view({2, 3, 1, 1})));
  EXPECT_TRUE(close(GlobalMeanPool()(x), x.flatten(2).mean(2).view({2, 3, 1, 1})));
  EXPECT_EQ(GlobalMaxPool()->repr(), "GlobalMaxPool()");
  EXPECT_EQ(GlobalMeanPool()->repr(), "GlobalMeanPool()");
}

TEST(MaxPool, MatchesTorchMaxPool) {
  Tensor m = torch::randn({1, 2, 7, 6});
  EXPECT_TRUE(torch::equal(MaxPool({3, 3}, {.pad = 1, .stride = Dims{2}})(m), torch::max_pool2d(m, {3, 3}, {2, 2}, {1, 1})));
  EXPECT_TRUE(torch::equal(MaxPool({2, 3})(m), torch::max_pool2d(m, {2, 3})));  // default stride = window
  Tensor v = torch::randn({2, 2, 3, 4, 5});
  EXPECT_TRUE(torch::equal(MaxPool({2, 2, 2})(v), torch::max_pool3d(v, {2, 2, 2})));
}

TEST(MaxPool, AsymmetricPaddingIgnoresPaddedCells) {
  Tensor x = -torch::rand({1, 1, 4, 4}) - 1;  // all negative: a zero pad would win
  MaxPool p({2, 2}, {.pad = {1, 0, 0, 1}, .stride = Dims{1}});  // top 1, left 0, right 1
  Tensor padded = torch::constant_pad_nd(x, {0, 1, 1, 0}, -std::numeric_limits<double>::infinity());
  Tensor expected = torch::max_pool2d(padded, {2, 2}, {1, 1});
  EXPECT_TRUE(torch::equal(p(x), expected));
  EXPECT_LT(p(x).max().item<double>(), 0.0);
}

TEST(MeanPool, MatchesTorchAvgPoolCountingPadding) {
  Tensor x = torch::randn({2, 3, 7, 7});
  Tensor expected = F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(2).padding(1).count_include_pad(true));
  EXPECT_TRUE(close(MeanPool({3, 3}, {.pad = 1, .stride = Dims{2}})(x), expected));
}

TEST(MeanPool, CountsPaddingInTheDivisor) {
  Tensor x = torch::ones({1, 1, 3});
  Tensor y = MeanPool({3}, {.pad = 1, .stride = Dims{1}})(x);
  // Windows [pad, 1, 1], [1, 1, 1], [1, 1, pad], always divided by 3.
  EXPECT_TRUE(close(y, torch::tensor({2.0f / 3, 1.0f, 2.0f / 3}).view({1, 1, 3})));
  // SamePad with window 2 pads one zero first: windows [0, 1], [1, 1], [1, 1].
  Tensor z = MeanPool({2}, {.pad = SamePad{}, .stride = Dims{1}})(x);
  EXPECT_TRUE(close(z, torch::tensor({0.5f, 1.0f, 1.0f}).view({1, 1, 3})));
}

TEST(MeanPool, SamePadWithDefaultStrideGivesCeilOfSizeOverWindow) {
  for (int64_t I : {6, 7, 8, 9}) {
    EXPECT_EQ(MeanPool({3}, {.pad = SamePad{}})(torch::rand({1, 1, I})).size(2), (I + 2) / 3) << I;
  }
}

TEST(AdaptiveMeanPool, UsesFluxsWindowsWhenTheSizeDoesNotDivide) {
  // I = 5, out = 3: stride 5 ÷ 3 = 1, window 5 - 2·1 = 3: [0,3), [1,4), [2,5).
  Tensor v = torch::tensor({1.0f, 5.0f, 2.0f, 4.0f, 3.0f}).view({1, 1, 5});
  Tensor flux_windows = torch::tensor({8.0f / 3, 11.0f / 3, 9.0f / 3}).view({1, 1, 3});
  EXPECT_TRUE(close(AdaptiveMeanPool({3})(v), flux_windows));
  // torch's windows are [0,2), [1,4), [3,5): a different answer.
  EXPECT_FALSE(torch::allclose(torch::adaptive_avg_pool1d(v, 3), flux_windows));
  EXPECT_TRUE(torch::equal(AdaptiveMaxPool({3})(v), torch::tensor({5.0f, 5.0f, 4.0f}).view({1, 1, 3})));
}

TEST(Pooling, PrintsOnlyNonDefaultOptions) {
  EXPECT_EQ(printed(MaxPool({2, 2})), "MaxPool((2, 2))");
  EXPECT_EQ(MeanPool({3, 3}, {.stride = Dims{3}})->repr(), "MeanPool((3, 3))");
  EXPECT_EQ(MeanPool({3, 3}, {.stride = Dims{1, 2}})->repr(), "MeanPool((3, 3), stride=(1, 2))");
  EXPECT_EQ(MaxPool({2, 2}, {.pad = SamePad{}})->repr(), "MaxPool((2, 2), pad=(1, 0, 1, 0))");
  EXPECT_EQ(AdaptiveMeanPool({4})->repr(), "AdaptiveMeanPool((4,))");
}

TEST(Pooling, RefusesAWindowLargerThanTheInput) {
  expect_error<std::invalid_argument>([] { MaxPool({5, 5})(torch::rand({1, 1, 3, 3})); }, {"MaxPool((5, 5))", "[1, 1, 3, 3]"});
  expect_error<std::invalid_argument>([] { MeanPool({2})(torch::rand({1, 1, 3, 3})); }, {"MeanPool((2,))", "[1, 1, 3, 3]"});
  expect_error<std::invalid_argument>([] { AdaptiveMaxPool({4, 4})(torch::rand({1, 1, 3, 8})); }, {"AdaptiveMaxPool((4, 4))", "[1, 1, 3, 8]"});
  expect_error<std::invalid_argument>([] { MaxPool({2, 2}, {.pad = -1}); }, {"non-negative"});
}

TEST(Flatten, SeedExampleKeepsTheBatchDimension) {
  EXPECT_EQ(shape(flatten(torch::rand({5, 4, 3}))), (Shape{5, 12}));  // Julia (3,4,5) -> (12, 5)
  Tensor xs = torch::rand({7, 3, 10, 10});
  Chain m(Conv({3, 3}, {3, 4}, identity, {.pad = 1}), flatten, Dense({400, 33}));
  EXPECT_EQ(shape(m[0](xs)), (Shape{7, 4, 10, 10}));
  EXPECT_EQ(shape(m(xs)), (Shape{7, 33}));
  EXPECT_TRUE(torch::equal(flatten(xs), xs.reshape({7, 300})));
  EXPECT_EQ(Layer(flatten)->repr(), "Flux.flatten");
}
