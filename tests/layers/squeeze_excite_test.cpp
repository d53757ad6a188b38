// squeeze_excite, effective_squeeze_excite and round_channels.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(RoundChannels, MobileNetRounding) {
  EXPECT_EQ(ml::round_channels(32 * 0.75), 24);
  EXPECT_EQ(ml::round_channels(37.5), 40);
  EXPECT_EQ(ml::round_channels(3), 8);    // rounds to 0, then one divisor up
  EXPECT_EQ(ml::round_channels(91), 88);  // 88 ≥ 0.9 · 91
  EXPECT_EQ(ml::round_channels(10, 8), 16);  // 8 < 0.9 · 10
  EXPECT_EQ(ml::round_channels(16 * 1.4), 24);
  EXPECT_EQ(ml::round_channels(1, 8, 16), 16);
}

TEST(SqueezeExcite, StructureAndDefaultRounding) {
  // 64 ÷ 16 = 4, rounded by MobileNet's rule to 8.
  Layer se = ml::squeeze_excite(64);
  EXPECT_EQ(se->repr(), "SkipConnection(Chain(AdaptiveMeanPool((1, 1)), Conv((1, 1), 64 => 8, relu), "
                        "Conv((1, 1), 8 => 64, σ)), .*)");
  EXPECT_EQ(parameter_count(se), 64 * 8 + 8 + 8 * 64 + 64);
  // SE-ResNet's reduction 16 on 256 planes: 16 squeeze planes.
  EXPECT_EQ(parameter_count(ml::squeeze_excite(256)), 256 * 16 + 16 + 16 * 256 + 256);
  Layer exact = ml::squeeze_excite(96, {.reduction = 4, .round_fn = [](double c) { return int64_t(c); }});
  EXPECT_EQ(parameter_count(exact), 96 * 24 + 24 + 24 * 96 + 96);
}

TEST(SqueezeExcite, GatesChannelsAsTheHandComputation) {
  Layer se = ml::squeeze_excite(4, {.reduction = 2, .round_fn = [](double c) { return int64_t(c); }});
  Tensor x = torch::randn({2, 4, 3, 3});
  auto chain = se.as<SkipConnectionImpl>()->layer().as<ChainImpl>();
  auto c1 = (*chain)[1].as<ConvImpl>(), c2 = (*chain)[2].as<ConvImpl>();
  Tensor pooled = x.mean({2, 3});                                             // [2, 4]
  Tensor hidden = torch::relu(torch::matmul(pooled, c1->weight.view({2, 4}).t()) + c1->bias);
  Tensor gate = torch::sigmoid(torch::matmul(hidden, c2->weight.view({4, 2}).t()) + c2->bias);
  EXPECT_TRUE(close(se(x), x * gate.view({2, 4, 1, 1}), 1e-5, 1e-6));
}

TEST(SqueezeExcite, NormLayerAndActivations) {
  Layer se = ml::squeeze_excite(32, {.reduction = 4, .norm_layer = ml::batch_norm(), .activation = swish,
                                     .gate_activation = hardsigmoid});
  auto chain = se.as<SkipConnectionImpl>()->layer().as<ChainImpl>();
  ASSERT_EQ(chain->size(), 5u);
  EXPECT_EQ((*chain)[1]->repr(), "Conv((1, 1), 32 => 8, bias=false)");
  EXPECT_EQ((*chain)[2]->repr(), "BatchNorm(8, swish)");
  EXPECT_EQ((*chain)[4]->repr(), "BatchNorm(32, hardσ)");
  expect_error<std::invalid_argument>([] { ml::squeeze_excite(4, {.round_fn = [](double c) { return int64_t(c); }}); },
                                      {"squeeze_excite", "no squeeze planes"});
}

TEST(SqueezeExcite, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(ml::squeeze_excite(4, {.reduction = 2, .round_fn = [](double c) { return int64_t(c); }}),
                         torch::randn({2, 4, 3, 3}));
  expect_layer_gradients(ml::effective_squeeze_excite(3), torch::randn({2, 3, 2, 2}));
}

TEST(EffectiveSqueezeExcite, OneConvGateWithoutReduction) {
  Layer ese = ml::effective_squeeze_excite(8, {.gate_activation = hardsigmoid});
  EXPECT_EQ(ese->repr(), "SkipConnection(Chain(AdaptiveMeanPool((1, 1)), Conv((1, 1), 8 => 8, hardσ)), .*)");
  EXPECT_EQ(parameter_count(ml::efficient_squeeze_excite(8)), 8 * 8 + 8);
  Tensor x = torch::randn({2, 8, 4, 4});
  auto conv = ese.as<SkipConnectionImpl>()->layer().as<ChainImpl>()->operator[](1).as<ConvImpl>();
  Tensor gate = torch::clamp((torch::matmul(x.mean({2, 3}), conv->weight.view({8, 8}).t()) + conv->bias + 3) / 6, 0, 1);
  EXPECT_TRUE(close(ese(x), x * gate.view({2, 8, 1, 1}), 1e-5, 1e-6));
}
