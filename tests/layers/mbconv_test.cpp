// mbconv, fused_mbconv and invertedresidual.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(MBConv, ExpandDepthwiseProject) {
  Chain b = ml::mbconv({3, 3}, 16, 64, 24, relu6, {.stride = 2});
  EXPECT_EQ(reprs(b), (Strings{"Conv((1, 1), 16 => 64, bias=false)", "BatchNorm(64, relu6)",
                               "Conv((3, 3), 64 => 64, pad=1, stride=2, groups=64, bias=false)", "BatchNorm(64, relu6)",
                               "Conv((1, 1), 64 => 24, bias=false)", "BatchNorm(24)"}));
  // torchvision's MobileNetV2 InvertedResidual(16, 24, stride 2, expand 4) has the same count.
  EXPECT_EQ(parameter_count(b), 16 * 64 + 128 + 9 * 64 + 128 + 64 * 24 + 48);
  EXPECT_EQ(shape(b(torch::randn({2, 16, 32, 32}))), (Shape{2, 24, 16, 16}));
  EXPECT_EQ(shape(b(torch::randn({2, 16, 31, 31}))), (Shape{2, 24, 16, 16}));
}

TEST(MBConv, NoExpansionSkipsTheFirstConv) {
  Chain b = ml::mbconv({3, 3}, 32, 32, 16, swish);
  EXPECT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0]->repr(), "Conv((3, 3), 32 => 32, pad=1, groups=32, bias=false)");
}

TEST(MBConv, SqueezeExciteOnTheExpandedPlanes) {
  // EfficientNet-B0's second block: 16 → 96 → 24, SE from 96 to 4 planes (reduction 24).
  Chain b = ml::mbconv({3, 3}, 16, 96, 24, swish, {.stride = 2, .reduction = 24, .se_gate_activation = sigmoid});
  ASSERT_EQ(b.size(), 7u);
  EXPECT_EQ(b[4]->repr(), "SkipConnection(Chain(AdaptiveMeanPool((1, 1)), Conv((1, 1), 96 => 4, swish), "
                          "Conv((1, 1), 4 => 96, σ)), .*)");
  // torchvision efficientnet_b0 features[2][0]: 6,004 parameters.
  EXPECT_EQ(parameter_count(b), 6004);
  Chain hard = ml::mbconv({5, 5}, 16, 96, 24, hardswish, {.reduction = 4, .se_activation = relu});
  EXPECT_EQ(hard[4]->repr(), "SkipConnection(Chain(AdaptiveMeanPool((1, 1)), Conv((1, 1), 96 => 24, relu), "
                             "Conv((1, 1), 24 => 96, hardσ)), .*)");
}

TEST(MBConv, RejectsOtherStrides) {
  expect_error<std::invalid_argument>([] { ml::mbconv({3, 3}, 8, 16, 8, relu, {.stride = 3}); }, {"mbconv", "stride", "3"});
  expect_error<std::invalid_argument>([] { ml::fused_mbconv({3, 3}, 8, 16, 8, relu, {.stride = 0}); }, {"fused_mbconv", "stride"});
}

TEST(FusedMBConv, ExpandedAndUnexpanded) {
  Chain expanded = ml::fused_mbconv({3, 3}, 24, 96, 48, swish, {.stride = 2});
  EXPECT_EQ(reprs(expanded), (Strings{"Conv((3, 3), 24 => 96, pad=1, stride=2, bias=false)", "BatchNorm(96, swish)",
                                      "Conv((1, 1), 96 => 48, bias=false)", "BatchNorm(48)"}));
  EXPECT_EQ(shape(expanded(torch::randn({1, 24, 8, 8}))), (Shape{1, 48, 4, 4}));
  Chain plain = ml::fused_mbconv({3, 3}, 24, 24, 24, swish);
  EXPECT_EQ(reprs(plain), (Strings{"Conv((3, 3), 24 => 24, pad=1, bias=false)", "BatchNorm(24, swish)"}));
  Chain widen = ml::fused_mbconv({3, 3}, 24, 24, 32, swish);
  EXPECT_EQ(reprs(widen), (Strings{"Conv((3, 3), 24 => 32, pad=1, bias=false)", "BatchNorm(32, swish)"}));
}

TEST(InvertedResidual, SkipOnlyWhenShapesAllow) {
  Layer same = ml::invertedresidual({3, 3}, 16, 64, 16, relu, {.stochastic_depth_prob = 0.2});
  auto skip = same.as<SkipConnectionImpl>();
  ASSERT_TRUE(skip);
  auto inner = skip->layer().as<ChainImpl>();
  EXPECT_EQ((*inner)[inner->size() - 1]->repr(), "StochasticDepth(0.2, :row)");
  EXPECT_FALSE(ml::invertedresidual({3, 3}, 16, 64, 16, relu, {.block = {.stride = 2}}).as<SkipConnectionImpl>());
  EXPECT_FALSE(ml::invertedresidual({3, 3}, 16, 64, 24, relu).as<SkipConnectionImpl>());
  EXPECT_TRUE(ml::invertedresidual({3, 3}, 16, 16, 16, relu, {.fused = true}).as<SkipConnectionImpl>());
}

TEST(InvertedResidual, TestModeOutputIsInputPlusBlock) {
  Layer block = ml::invertedresidual({3, 3}, 8, 32, 8, relu6, {.block = {.reduction = 4}, .stochastic_depth_prob = 0.5});
  testmode(block);
  Tensor x = torch::randn({2, 8, 6, 6});
  auto inner = block.as<SkipConnectionImpl>()->layer().as<ChainImpl>();
  Tensor branch = Chain(std::vector<Layer>(inner->begin(), inner->end() - 1))(x);
  EXPECT_TRUE(close(block(x), x + branch));
}

TEST(InvertedResidual, GradientsMatchFiniteDifferences) {
  // Double precision, batch statistics: the whole block including SE and the skip.
  expect_layer_gradients(ml::invertedresidual({3, 3}, 4, 8, 4, flux::tanh, {.block = {.reduction = 2}}), torch::randn({2, 4, 4, 4}),
                         1e-5);
  expect_layer_gradients(ml::fused_mbconv({3, 3}, 3, 6, 4, flux::tanh), torch::randn({2, 3, 4, 4}), 1e-5);
}
