// conv_norm, basic_conv_bn, dwsep_conv_norm and the guide's examples.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(ConvNorm, GuideDefaultIsBiaslessConvThenBatchNormWithRelu) {
  auto layers = ml::conv_norm({3, 3}, 32, 64);
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0]->repr(), "Conv((3, 3), 32 => 64, bias=false)");
  EXPECT_EQ(layers[1]->repr(), "BatchNorm(64, relu)");
  EXPECT_EQ(parameter_count(Chain(layers)), 3 * 3 * 32 * 64 + 2 * 64);
}

TEST(ConvNorm, GuideChainSplicesTheVector) {
  Chain m(Dense({3, 32}), ml::conv_norm({3, 3}, 32, 64), Dense({64, 10}));
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1]->repr(), "Conv((3, 3), 32 => 64, bias=false)");
  EXPECT_EQ(m[2]->repr(), "BatchNorm(64, relu)");
  EXPECT_EQ(m[3]->repr(), "Dense(64 => 10)");
}

TEST(ConvNorm, GuideActivationAndNormLayerChoices) {
  EXPECT_EQ(ml::conv_norm({3, 3}, 32, 64, sigmoid)[1]->repr(), "BatchNorm(64, σ)");
  auto gn = ml::conv_norm({3, 3}, 32, 64, relu, {.norm_layer = ml::group_norm(4)});
  EXPECT_EQ(gn[1]->repr(), "GroupNorm(64, 4, relu)");
  // The guide's `planes -> GroupNorm(planes, 4)`: a factory of planes alone gets the
  // activation as its own layer.
  auto lambda = ml::conv_norm({3, 3}, 32, 64, relu, {.norm_layer = [](int64_t planes) { return GroupNorm(planes, 4); }});
  ASSERT_EQ(lambda.size(), 3u);
  EXPECT_EQ(lambda[1]->repr(), "GroupNorm(64, 4)");
  EXPECT_EQ(lambda[2]->repr(), "relu");
  // TensorFlow's epsilon through a (planes, activation) factory.
  auto tf = ml::conv_norm({3, 3}, 32, 64, relu, {.norm_layer = [](int64_t planes, const Activation& act) {
                                                   return BatchNorm(planes, act, {.eps = 1e-3});
                                                 }});
  EXPECT_DOUBLE_EQ(tf[1].as<BatchNormImpl>()->eps, 1e-3);
}

TEST(ConvNorm, MatchesConvolutionThenBatchStatisticsThenRelu) {
  torch::manual_seed(0);
  auto layers = ml::conv_norm({3, 3}, {4, 6}, relu, {.stride = 2, .pad = 1});
  Chain m(layers);
  trainmode(m);
  Tensor x = torch::randn({3, 4, 9, 9});
  auto conv = layers[0].as<ConvImpl>();
  Tensor y = torch::conv2d(x, conv->weight, {}, 2, 1);
  Tensor mean = y.mean({0, 2, 3}, true), var = y.var({0, 2, 3}, false, true);
  Tensor expected = torch::relu((y - mean) / torch::sqrt(var + 1e-5));
  EXPECT_TRUE(close(m(x), expected, 1e-4, 1e-5));
  EXPECT_EQ(shape(m(x)), (Shape{3, 6, 5, 5}));
}

TEST(ConvNorm, RevnormNormalisesTheInputPlanesFirst) {
  auto layers = ml::conv_norm({3, 3}, 4, 8, relu, {.revnorm = true});
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0]->repr(), "BatchNorm(4)");
  EXPECT_EQ(layers[1]->repr(), "Conv((3, 3), 4 => 8, relu, bias=false)");
  EXPECT_EQ(shape(Chain(layers)(torch::randn({2, 4, 6, 6}))), (Shape{2, 8, 4, 4}));
}

TEST(ConvNorm, PreactPutsTheActivationOnTheConv) {
  auto layers = ml::conv_norm({1, 1}, 4, 8, relu, {.preact = true});
  EXPECT_EQ(layers[0]->repr(), "Conv((1, 1), 4 => 8, relu, bias=false)");
  EXPECT_EQ(layers[1]->repr(), "BatchNorm(8)");
}

TEST(ConvNorm, WithoutNormLayerIsOneBiasedConv) {
  for (ml::NormLayer none : {ml::NormLayer{}, ml::NormLayer(nullptr), ml::NormLayer(identity)}) {
    auto layers = ml::conv_norm({3, 3}, 4, 8, relu, {.norm_layer = none});
    ASSERT_EQ(layers.size(), 1u);
    EXPECT_EQ(layers[0]->repr(), "Conv((3, 3), 4 => 8, relu)");
  }
  auto unbiased = ml::conv_norm({3, 3}, 4, 8, relu, {.norm_layer = {}, .bias = false});
  EXPECT_EQ(unbiased[0]->repr(), "Conv((3, 3), 4 => 8, relu, bias=false)");
  auto biased = ml::conv_norm({3, 3}, 4, 8, relu, {.bias = true});
  EXPECT_EQ(biased[0]->repr(), "Conv((3, 3), 4 => 8)");
}

TEST(ConvNorm, PassesConvolutionKeywords) {
  auto layers = ml::conv_norm({3, 3}, 8, 16, relu, {.stride = 2, .pad = 2, .dilation = 2, .groups = 4});
  auto conv = layers[0].as<ConvImpl>();
  EXPECT_EQ(conv->stride, (Shape{2, 2}));
  EXPECT_EQ(conv->dilation, (Shape{2, 2}));
  EXPECT_EQ(conv->groups, 4);
  EXPECT_EQ(shape(conv->weight), (Shape{16, 2, 3, 3}));
  auto zero = ml::conv_norm({3, 3}, 2, 2, relu, {.init = [](at::IntArrayRef d) { return torch::zeros(d); }});
  EXPECT_EQ(zero[0].as<ConvImpl>()->weight.abs().sum().item<double>(), 0.0);
}

TEST(ConvNorm, RejectsContradictoryOptions) {
  expect_error<std::invalid_argument>([] { ml::conv_norm({3, 3}, 4, 8, relu, {.revnorm = true, .preact = true}); },
                                      {"conv_norm", "preact", "revnorm"});
  expect_error<std::invalid_argument>([] { ml::conv_norm({3, 3}, 4, 8, relu, {.norm_layer = {}, .preact = true}); },
                                      {"conv_norm", "norm layer"});
  expect_error<std::invalid_argument>([] { ml::NormLayer bad(relu); }, {"norm_layer", "relu"});
}

TEST(ConvNorm, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(Chain(ml::conv_norm({3, 3}, 2, 3, flux::tanh, {.pad = 1})), torch::randn({2, 2, 4, 4}));
  expect_layer_gradients(Chain(ml::conv_norm({3, 3}, 2, 3, flux::tanh, {.revnorm = true})), torch::randn({2, 2, 4, 4}));
}

TEST(BasicConvBn, UsesTensorFlowBatchNormDefaults) {
  auto layers = ml::basic_conv_bn({3, 3}, 3, 32, relu, {.stride = 2});
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0]->repr(), "Conv((3, 3), 3 => 32, stride=2, bias=false)");
  auto bn = layers[1].as<BatchNormImpl>();
  ASSERT_TRUE(bn);
  EXPECT_DOUBLE_EQ(bn->eps, 1e-3);
  EXPECT_DOUBLE_EQ(bn->momentum, 3e-3);
  auto plain = ml::basic_conv_bn({1, 1}, 3, 8, relu, {.batchnorm = false});
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0]->repr(), "Conv((1, 1), 3 => 8, relu)");
}

TEST(DwsepConvNorm, IsDepthwiseThenPointwise) {
  auto layers = ml::dwsep_conv_norm({3, 3}, 8, 16, relu, {.stride = 2, .pad = 1});
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0]->repr(), "Conv((3, 3), 8 => 8, pad=1, stride=2, groups=8, bias=false)");
  EXPECT_EQ(layers[1]->repr(), "BatchNorm(8, relu)");
  EXPECT_EQ(layers[2]->repr(), "Conv((1, 1), 8 => 16, bias=false)");
  EXPECT_EQ(layers[3]->repr(), "BatchNorm(16, relu)");
  EXPECT_EQ(parameter_count(Chain(layers)), 9 * 8 + 2 * 8 + 8 * 16 + 2 * 16);
  EXPECT_EQ(shape(Chain(layers)(torch::randn({2, 8, 8, 8}))), (Shape{2, 16, 4, 4}));
}
