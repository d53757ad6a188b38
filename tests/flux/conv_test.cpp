// Conv, CrossCor, ConvTranspose and DepthwiseConv. Seed examples use a batch of 2
// where the docstrings have 50 (Julia's 100×100×3×50 is our [2, 3, 100, 100]).
#include "testing.h"

using namespace flux;

TEST(Conv, SeedExampleOutputSizes) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  Conv layer({5, 5}, {3, 7}, relu, {.bias = false});
  EXPECT_EQ(parameter_count(layer), 5 * 5 * 3 * 7);  // 525
  EXPECT_EQ(shape(layer(xs)), (Shape{2, 7, 96, 96}));
  EXPECT_EQ(shape(Conv({5, 5}, {3, 7}, identity, {.stride = 2})(xs)), (Shape{2, 7, 48, 48}));
  EXPECT_EQ(shape(Conv({5, 5}, {3, 7}, identity, {.stride = 2, .pad = SamePad{}})(xs)), (Shape{2, 7, 50, 50}));
  // Julia pad (20, 10, 0, 0) pads W by 20 and 10: ours lists H first.
  EXPECT_EQ(shape(Conv({1, 1}, {3, 7}, identity, {.pad = {0, 0, 20, 10}})(xs)), (Shape{2, 7, 100, 130}));
  // floor((100 - 4·4 - 1) / 2) + 1 = 42
  EXPECT_EQ(shape(Conv({5, 5}, {3, 7}, identity, {.stride = 2, .dilation = 4})(xs)), (Shape{2, 7, 42, 42}));
}

TEST(Conv, SeedExampleSingleChannelToSixteen) {
  Conv c({2, 2}, {1, 16}, relu);
  EXPECT_EQ(c->repr(), "Conv((2, 2), 1 => 16, relu)");
  EXPECT_EQ(shape(c(torch::rand({2, 1, 10, 10}))), (Shape{2, 16, 9, 9}));
  EXPECT_GE(c(torch::randn({1, 1, 4, 4})).min().item<double>(), 0.0);
}

TEST(DepthwiseConv, SeedExampleParametersAndSizes) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  auto lay = DepthwiseConv({5, 5}, {3, 6}, relu, {.bias = false});
  EXPECT_EQ(parameter_count(lay), 5 * 5 * 6);  // 150: one input channel per group
  EXPECT_EQ(lay->repr(), "Conv((5, 5), 3 => 6, relu, groups=3, bias=false)");
  EXPECT_EQ(shape(lay->weight), (Shape{6, 1, 5, 5}));
  EXPECT_EQ(shape(lay(xs)), (Shape{2, 6, 96, 96}));
  EXPECT_EQ(shape(DepthwiseConv({5, 5}, {3, 9}, identity, {.stride = 2, .pad = 2})(xs)), (Shape{2, 9, 50, 50}));
}

TEST(DepthwiseConv, ActsOnEachChannelSeparately) {
  Conv d = DepthwiseConv({3, 3}, {2, 2}, identity, {.pad = 1, .bias = false});
  Tensor x = torch::randn({1, 2, 5, 5});
  Tensor w = d->weight;  // [2, 1, 3, 3], torch orientation
  Tensor expected = torch::cat({torch::conv2d(x.slice(1, 0, 1), w.slice(0, 0, 1), {}, 1, 1),
                                torch::conv2d(x.slice(1, 1, 2), w.slice(0, 1, 2), {}, 1, 1)}, 1);
  EXPECT_TRUE(close(d(x), expected));
}

TEST(ConvTranspose, SeedExampleOutputSizes) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  ConvTranspose t({5, 5}, {3, 7}, relu);
  EXPECT_EQ(printed(t), "ConvTranspose((5, 5), 3 => 7, relu)  # 532 parameters");
  EXPECT_EQ(shape(t(xs)), (Shape{2, 7, 104, 104}));                                      // 99 + 4 + 1
  EXPECT_EQ(shape(ConvTranspose({5, 5}, {3, 7}, identity, {.stride = 2})(xs)), (Shape{2, 7, 203, 203}));  // 198 + 5
  EXPECT_EQ(shape(ConvTranspose({5, 5}, {3, 7}, identity, {.stride = 3, .pad = SamePad{}})(xs)), (Shape{2, 7, 300, 300}));
}

TEST(CrossCor, SeedExampleOutputSizes) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  CrossCor c({5, 5}, {3, 6}, relu, {.bias = false});
  EXPECT_EQ(printed(c), "CrossCor((5, 5), 3 => 6, relu, bias=false)  # 450 parameters");
  EXPECT_EQ(shape(c(xs)), (Shape{2, 6, 96, 96}));
  // Julia pad (2, 0): W padded by 2 each side, H not. floor((100 + 0 - 5) / 3) + 1 = 32, floor((104 - 5) / 3) + 1 = 34
  EXPECT_EQ(shape(CrossCor({5, 5}, {3, 7}, identity, {.stride = 3, .pad = {0, 2}})(xs)), (Shape{2, 7, 32, 34}));
}

TEST(Conv, IsATrueConvolution) {
  // An impulse through a true convolution reproduces the kernel unflipped.
  Tensor k = torch::arange(9, torch::kFloat32).reshape({1, 1, 3, 3});
  Conv c(k, false);
  Tensor impulse = torch::zeros({1, 1, 5, 5});
  impulse[0][0][2][2] = 1;
  Tensor y = c(impulse);  // [1, 1, 3, 3]
  EXPECT_TRUE(torch::equal(y, k));
  EXPECT_TRUE(torch::equal(c->flux_weight(), k));
  // The stored parameter is torch's orientation: the flipped kernel.
  EXPECT_TRUE(torch::equal(c->weight, k.flip({2, 3})));
}

TEST(Conv, MatchesTorchWithAFlippedKernel) {
  Tensor w = torch::randn({6, 2, 3, 2}), b = torch::randn({6}), x = torch::randn({2, 4, 7, 6});
  Conv c(w, b, identity, {.stride = {2, 1}, .dilation = {1, 2}, .groups = 2});
  Tensor expected = torch::conv2d(x, w.flip({2, 3}), b, Shape{2, 1}, Shape{0, 0}, Shape{1, 2}, 2);
  EXPECT_TRUE(torch::allclose(c(x), expected, 1e-5, 1e-5));
  CrossCor cc(w.slice(1, 0, 1).repeat({1, 4, 1, 1}), b);
  EXPECT_TRUE(torch::allclose(cc(x), torch::conv2d(x, w.slice(1, 0, 1).repeat({1, 4, 1, 1}), b), 1e-5, 1e-5));
}

TEST(Conv, SamePadPutsTheOddPixelFirst) {
  Tensor w = torch::randn({1, 1, 2, 2}), x = torch::randn({1, 1, 4, 4});
  CrossCor c(w, false, identity, {.pad = SamePad{}});
  EXPECT_EQ(c->pad(), (Shape{1, 0, 1, 0}));
  Tensor padded = torch::constant_pad_nd(x, {1, 0, 1, 0});  // left 1, right 0, top 1, bottom 0
  EXPECT_TRUE(torch::allclose(c(x), torch::conv2d(padded, w), 1e-6, 1e-6));
  EXPECT_EQ(Conv({4}, {1, 1}, identity, {.pad = SamePad{}, .dilation = 2})->pad(), (Shape{3, 3}));
  EXPECT_EQ(Conv({4}, {1, 1}, identity, {.pad = SamePad{}})->pad(), (Shape{2, 1}));
}

TEST(Conv, SamePadKeepsSizeWithStrideOne) {
  for (int64_t k : {1, 2, 3, 4, 5}) {
    Conv c({k, k}, {2, 3}, identity, {.pad = SamePad{}});
    EXPECT_EQ(shape(c(torch::rand({1, 2, 9, 8}))), (Shape{1, 3, 9, 8}));
  }
}

TEST(Conv, OneAndThreeDimensions) {
  EXPECT_EQ(shape(Conv({3}, {2, 4})(torch::rand({2, 2, 10}))), (Shape{2, 4, 8}));
  EXPECT_EQ(shape(Conv({3, 3, 3}, {2, 4}, identity, {.pad = 1})(torch::rand({1, 2, 5, 6, 7}))), (Shape{1, 4, 5, 6, 7}));
  EXPECT_EQ(Conv({3}, {2, 4})->repr(), "Conv((3,), 2 => 4)");
}

TEST(ConvTranspose, IsTheAdjointOfConv) {
  // <Conv(x), y> == <x, ConvTranspose(y)> with the same Flux weight and no bias.
  Tensor w = torch::randn({3, 2, 3, 3}, torch::kFloat64);  // Conv: 2 => 3
  Conv c(w, false, identity, {.stride = 2, .pad = 1});
  c->to(torch::kFloat64);
  // Flux's ConvTranspose weight is (k, k, out, in) = [in, out, k, k]: the same array.
  ConvTranspose t(w, false, identity, {.stride = 2, .pad = 1});
  t->to(torch::kFloat64);
  Tensor x = torch::randn({1, 2, 7, 7}, torch::kFloat64);
  Tensor cx = c(x);
  Tensor y = torch::randn_like(cx);
  Tensor ty = t(y);
  ASSERT_EQ(shape(ty), shape(x));
  EXPECT_NEAR((cx * y).sum().item<double>(), (x * ty).sum().item<double>(), 1e-9);
}

TEST(ConvTranspose, AsymmetricPadAndOutpad) {
  Tensor x = torch::randn({1, 2, 5, 5});
  ConvTranspose full({3, 3}, {2, 2}, identity, {.stride = 2});
  ConvTranspose cropped(full->flux_weight(), full->bias, identity, {.stride = 2, .pad = {1, 0, 0, 2}});
  Tensor yf = full(x), yc = cropped(x);
  EXPECT_EQ(shape(yc), (Shape{1, 2, 10, 9}));
  EXPECT_TRUE(torch::allclose(yc, yf.slice(2, 1, 11).slice(3, 0, 9), 1e-5, 1e-5));
  EXPECT_EQ(shape(ConvTranspose({5, 5}, {3, 7}, identity, {.stride = 2, .outpad = 1})(torch::rand({1, 3, 100, 100}))),
            (Shape{1, 7, 204, 204}));
}

TEST(Conv, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(Conv({3, 3}, {2, 3}, flux::tanh, {.stride = 2, .pad = {1, 0, 0, 1}}), torch::randn({2, 2, 5, 5}));
  expect_layer_gradients(CrossCor({2}, {2, 2}), torch::randn({1, 2, 6}));
  expect_layer_gradients(ConvTranspose({3, 3}, {2, 3}, identity, {.stride = 2, .pad = {0, 1, 1, 0}}), torch::randn({1, 2, 3, 3}));
  expect_layer_gradients(DepthwiseConv({3, 3}, {2, 4}), torch::randn({1, 2, 5, 5}));
}

TEST(Conv, RefusesBadInputAndOptions) {
  Conv c({3, 3}, {3, 64});
  EXPECT_THROW(c(torch::rand({2, 4, 8, 8})), std::invalid_argument);
  expect_error<std::invalid_argument>([&] { c(torch::rand({2, 4, 8, 8})); },
                                      {"Conv((3, 3), 3 => 64)", "3 channels", "[2, 4, 8, 8]"});
  expect_error<std::invalid_argument>([&] { c(torch::rand({2, 3, 2, 8})); }, {"Conv((3, 3), 3 => 64)", "[2, 3, 2, 8]"});
  expect_error<std::invalid_argument>([&] { c(torch::rand({3, 8, 8})); }, {"[N, C, H, W]", "[3, 8, 8]"});
  expect_error<std::invalid_argument>([] { Conv({3, 3}, {4, 6}, identity, {.groups = 3}); }, {"groups (3)", "in (4)"});
  expect_error<std::invalid_argument>([] { Conv({3, 3}, {4, 6}, identity, {.pad = -1}); }, {"non-negative"});
  expect_error<std::invalid_argument>([] { DepthwiseConv({3, 3}, {3, 10}); }, {"multiple of in (3)"});
  expect_error<std::invalid_argument>([] { Conv({3, 3}, {3, 6}, identity, {.stride = {1, 2, 3}}); }, {"stride"});
}

TEST(Conv, PrintsItsOptionsInFluxOrder) {
  EXPECT_EQ(printed(Conv({5, 5}, {3, 7}, relu, {.bias = false})), "Conv((5, 5), 3 => 7, relu, bias=false)  # 525 parameters");
  EXPECT_EQ(Conv({5, 5}, {6, 9}, relu, {.stride = 2, .pad = 2, .dilation = 4, .groups = 3, .bias = false})->repr(),
            "Conv((5, 5), 6 => 9, relu, pad=2, stride=2, dilation=4, groups=3, bias=false)");
  EXPECT_EQ(Conv({2, 2}, {1, 1}, identity, {.pad = SamePad{}})->repr(), "Conv((2, 2), 1 => 1, pad=(1, 0, 1, 0))");
  EXPECT_EQ(Conv({3, 1}, {1, 1}, identity, {.pad = {1, 0}})->repr(), "Conv((3, 1), 1 => 1, pad=(1, 0))");
}

TEST(Conv, MatchesTorchWithAsymmetricPadding) {
  Tensor w = torch::randn({3, 2, 3, 2}), x = torch::randn({2, 2, 6, 5});
  Conv c(w, false, identity, {.pad = {2, 0, 1, 3}});  // top 2, bottom 0, left 1, right 3
  Tensor padded = torch::constant_pad_nd(x, {1, 3, 2, 0});
  EXPECT_TRUE(close(c(x), torch::conv2d(padded, w.flip({2, 3})), 1e-5, 1e-5));
  EXPECT_EQ(shape(c(x)), (Shape{2, 3, 6, 8}));
}

TEST(Conv, OutputSizeFollowsFluxsFormula) {
  // floor((I + lo + hi - d(k-1) - 1) / s) + 1
  for (int64_t I : {7, 8, 11}) {
    for (int64_t s : {1, 2, 3}) {
      for (int64_t d : {1, 2}) {
        Conv c({3}, {1, 1}, identity, {.stride = s, .pad = {1, 2}, .dilation = d});
        int64_t expected = (I + 1 + 2 - d * 2 - 1) / s + 1;
        EXPECT_EQ(c(torch::rand({1, 1, I})).size(2), expected) << I << " " << s << " " << d;
      }
    }
  }
}

TEST(Conv, BiasIsZeroByDefaultAndAddedPerChannel) {
  Conv c({1, 1}, {1, 2}, identity, {.init = [](at::IntArrayRef dims) { return torch::zeros(dims); }});
  EXPECT_TRUE(torch::equal(c->bias, torch::zeros({2})));
  Conv b(torch::zeros({2, 1, 1, 1}), torch::tensor({1.5, -2.0}));
  EXPECT_TRUE(torch::equal(b(torch::rand({1, 1, 2, 2})), torch::tensor({1.5f, -2.0f}).view({1, 2, 1, 1}).expand({1, 2, 2, 2})));
  expect_error<std::invalid_argument>([] { Conv(torch::zeros({2, 1, 1, 1}), torch::ones({3})); }, {"[2]", "[3]"});
}

TEST(Conv, GroupedParameterCount) {
  EXPECT_EQ(parameter_count(Conv({3, 3}, {4, 6}, identity, {.groups = 2})), 3 * 3 * 2 * 6 + 6);
  EXPECT_EQ(parameter_count(ConvTranspose({3, 3}, {4, 6}, identity, {.groups = 2})), 3 * 3 * 3 * 4 + 6);
}

TEST(ConvTranspose, MatchesTorchWithAFlippedKernel) {
  Tensor w = torch::randn({2, 3, 3, 2}), b = torch::randn({3}), x = torch::randn({1, 2, 4, 5});  // [in, out, kH, kW]
  ConvTranspose t(w, b, identity, {.stride = {2, 1}, .pad = 1, .dilation = {1, 2}});
  Tensor expected = torch::conv_transpose2d(x, w.flip({2, 3}), b, Shape{2, 1}, Shape{1, 1}, Shape{0, 0}, 1, Shape{1, 2});
  EXPECT_TRUE(close(t(x), expected, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(t->flux_weight(), w));
}

TEST(ConvTranspose, SamePadMultipliesTheSizeByTheStride) {
  for (int64_t s : {1, 2, 3}) {
    ConvTranspose t({4}, {1, 1}, identity, {.stride = s, .pad = SamePad{}});
    EXPECT_EQ(t(torch::rand({1, 1, 9})).size(2), 9 * s);
  }
}

TEST(ConvTranspose, PrintsOutpadLast) {
  EXPECT_EQ(ConvTranspose({3, 3}, {2, 2}, identity, {.stride = 2, .outpad = {1, 0}})->repr(),
            "ConvTranspose((3, 3), 2 => 2, stride=2, outpad=(1, 0))");
}

TEST(Conv, PrintsItsOptionsAsTuplesWhenTheyDiffer) {
  EXPECT_EQ(Conv({3, 3}, {1, 1}, identity, {.stride = {1, 2}})->repr(), "Conv((3, 3), 1 => 1, stride=(1, 2))");
  EXPECT_EQ(Conv({5, 5}, {3, 7}, identity, {.pad = SamePad{}})->repr(), "Conv((5, 5), 3 => 7, pad=2)");
  EXPECT_EQ(CrossCor({3}, {1, 2}, sigmoid)->repr(), "CrossCor((3,), 1 => 2, σ)");
}
