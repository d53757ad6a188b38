// LayerNormV2, ChannelLayerNorm and prenorm.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(LayerNormV2, EqualsTorchLayerNormWithAffine) {
  ml::LayerNormV2 ln(std::vector<int64_t>{3, 5});
  torch::manual_seed(0);
  {
    torch::NoGradGuard no_grad;
    ln->weight.copy_(torch::randn({3, 5}));
    ln->bias.copy_(torch::randn({3, 5}));
  }
  Tensor x = torch::randn({4, 3, 5}) * 3 + 1;
  namespace F = torch::nn::functional;
  Tensor expected = F::layer_norm(x, F::LayerNormFuncOptions({3, 5}).weight(ln->weight).bias(ln->bias).eps(1e-5));
  EXPECT_TRUE(close(ln(x), expected, 1e-5, 1e-5));
}

TEST(LayerNormV2, PutsEpsInsideTheSquareRoot) {
  // With a large eps the two placements differ visibly: hand-compute both.
  Tensor x = torch::tensor({1.0, 2.0, 4.0}).reshape({1, 3});
  const double mu = 7.0 / 3, var = ((1 - mu) * (1 - mu) + (2 - mu) * (2 - mu) + (4 - mu) * (4 - mu)) / 3;
  ml::LayerNormV2 v2(3, identity, {.eps = 1.0});
  LayerNorm v1(3, identity, {.eps = 1.0});
  EXPECT_NEAR(v2(x)[0][2].item<double>(), (4 - mu) / std::sqrt(var + 1), 1e-6);
  EXPECT_NEAR(v1(x)[0][2].item<double>(), (4 - mu) / (std::sqrt(var) + 1), 1e-6);
}

TEST(LayerNormV2, ActivationAffineAndPrinting) {
  ml::LayerNormV2 ln(4, relu, {.affine = false});
  EXPECT_EQ(ln->repr(), "LayerNormV2(4, relu, affine=false)");
  EXPECT_EQ(parameter_count(ln), 0);
  EXPECT_GE(ln(torch::randn({2, 4})).min().item<double>(), 0.0);
  EXPECT_EQ(printed(ml::LayerNormV2(768)), "LayerNormV2(768)    # 1_536 parameters");
  expect_error<std::invalid_argument>([&] { ln(torch::randn({2, 5})); }, {"LayerNormV2(4", "[2, 5]"});
}

TEST(LayerNormV2, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(ml::LayerNormV2(std::vector<int64_t>{2, 3}, flux::tanh), torch::randn({3, 2, 3}));
}

TEST(ChannelLayerNorm, MatchesHandComputationOverChannels) {
  ml::ChannelLayerNorm cln(3);
  {
    torch::NoGradGuard no_grad;
    cln->weight.copy_(torch::tensor({1.0, 2.0, -1.0}));
    cln->bias.copy_(torch::tensor({0.0, 0.5, 1.0}));
  }
  Tensor x = torch::randn({2, 3, 4, 5});
  // Per (n, h, w): the population mean and standard deviation over the 3 channels.
  Tensor expected = torch::empty_like(x);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t w = 0; w < 5; ++w) {
        double v[3], mu = 0, var = 0;
        for (int c = 0; c < 3; ++c) mu += (v[c] = x[n][c][h][w].item<double>()) / 3;
        for (double vc : v) var += (vc - mu) * (vc - mu) / 3;
        const double scale[3] = {1.0, 2.0, -1.0}, shift[3] = {0.0, 0.5, 1.0};
        for (int c = 0; c < 3; ++c) expected[n][c][h][w] = (v[c] - mu) / (std::sqrt(var) + 1e-6) * scale[c] + shift[c];
      }
  EXPECT_TRUE(close(cln(x), expected, 1e-4, 1e-5));
}

TEST(ChannelLayerNorm, ShapesPrintingAndErrors) {
  ml::ChannelLayerNorm cln(8, gelu);
  EXPECT_EQ(cln->repr(), "ChannelLayerNorm(8, gelu)");
  EXPECT_EQ(parameter_count(cln), 16);
  EXPECT_EQ(shape(cln(torch::randn({2, 8, 3, 3}))), (Shape{2, 8, 3, 3}));
  expect_error<std::invalid_argument>([&] { cln(torch::randn({2, 4, 3, 3})); }, {"ChannelLayerNorm(8", "[2, 4, 3, 3]"});
  expect_layer_gradients(ml::ChannelLayerNorm(3), torch::randn({2, 3, 2, 2}));
}

TEST(Prenorm, IsNormThenBlock) {
  auto m = ml::prenorm(16, Dense({16, 4}));
  auto chain = m.as<ChainImpl>();
  ASSERT_TRUE(chain);
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0]->repr(), "LayerNorm(16)");
  EXPECT_EQ((*chain)[1]->repr(), "Dense(16 => 4)");
  EXPECT_EQ(shape(m(torch::randn({2, 5, 16}))), (Shape{2, 5, 4}));
  auto v2 = ml::prenorm(16, Dense({16, 4}), [](int64_t p) { return ml::LayerNormV2(p); });
  EXPECT_EQ((*v2.as<ChainImpl>())[0]->repr(), "LayerNormV2(16)");
}
