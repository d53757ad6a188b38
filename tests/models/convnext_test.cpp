// ConvNeXt against torchvision (tiny … large) and timm (xlarge): counts, shapes, the
// block's arithmetic, the stochastic depth schedule and gradients.
#include <metalhead/metalhead.h>
#include <metalhead/models/convnext.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(ConvNeXt, CountsEqualTorchvisionAndTimm) {
  SkipInit skip;  // counting needs no random draws
  for (const char* config : {"tiny", "small", "base", "large"}) {
    const std::string name = std::string("convnext_") + config;
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})), reference_params("torchvision", name + "@10"));
    EXPECT_EQ(mh::model_info(name).source, "torchvision");
  }
  EXPECT_EQ(parameter_count(mh::create_model("convnext_xlarge")), reference_params("timm", "convnext_xlarge"));
  EXPECT_EQ(parameter_count(mh::create_model("convnext_xlarge", {.nclasses = 10})),
            reference_params("timm", "convnext_xlarge@10"));
  EXPECT_EQ(parameter_count(mh::ConvNeXt("tiny")), reference_params("torchvision", "convnext_tiny"));
  EXPECT_EQ(parameter_count(mh::ConvNeXt("xlarge", {.nclasses = 10})), reference_params("timm", "convnext_xlarge@10"));
}

TEST(ConvNeXt, OutputShapesForOneAndThreeChannels) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::ConvNeXt("tiny", {.inchannels = c, .nclasses = 10});
    EXPECT_EQ(shape(run(m, torch::randn({2, c, 64, 64}))), (Shape{2, 10})) << "inchannels " << c;
  }
  // A small custom model: the stem divides by 4, each downsampling by 2.
  mh::Model tiny("ConvNeXt", mh::build_convnext({1, 1}, {8, 16}, {.inchannels = 1, .nclasses = 5}), 1);
  testmode(tiny);
  torch::InferenceMode guard;
  EXPECT_EQ(shape(mh::backbone(tiny)(torch::randn({2, 1, 40, 40}))), (Shape{2, 16, 5, 5}));
  EXPECT_EQ(mh::backbone(tiny).size(), 4u);  // stem, stage 1, downsampling, stage 2
}

TEST(ConvNeXt, DefaultInputSizeOnce) {
  mh::Model m = mh::ConvNeXt("tiny");
  testmode(m);
  torch::InferenceMode guard;
  Tensor features = mh::backbone(m)(torch::randn({1, 3, 224, 224}));
  EXPECT_EQ(shape(features), (Shape{1, 768, 7, 7}));
  EXPECT_EQ(shape(mh::classifier(m)(features)), (Shape{1, 1000}));
  EXPECT_EQ(mh::backbone(m).size(), 8u);  // torchvision's `features`: stem, 4 stages, 3 downsamplings
}

TEST(ConvNeXt, BlockComputesTorchvisionsArithmetic) {
  torch::manual_seed(0);
  const int64_t c = 8;
  Layer tv = mh::convnextblock(c, 0.0, 0.5);
  Layer tm = mh::convnextblock(c, 0.0, 0.5, mh::LayerScaleLayout::timm);
  auto p = tv->parameters();  // conv w, b; norm w, b; fc1 w, b; fc2 w, b; layer scale
  auto q = tm->parameters();
  ASSERT_EQ(p.size(), 9u);
  ASSERT_EQ(q.size(), 9u);
  EXPECT_EQ(shape(p[8]), (Shape{c, 1, 1}));  // torchvision's layer_scale
  EXPECT_EQ(shape(q[8]), (Shape{c}));        // timm's gamma
  EXPECT_EQ(shape(p[0]), (Shape{c, 1, 7, 7}));
  EXPECT_EQ(shape(p[4]), (Shape{4 * c, c}));
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < 9; ++i) {
      p[i].copy_(torch::randn_like(p[i]));
      q[i].copy_(p[i].reshape(q[i].sizes()));
    }
  }
  testmode(tv);
  testmode(tm);
  torch::InferenceMode guard;
  Tensor x = torch::randn({2, c, 9, 9});
  Tensor y = torch::conv2d(x, p[0], p[1], 1, 3, 1, c).permute({0, 2, 3, 1});
  y = torch::layer_norm(y, {c}, p[2], p[3], 1e-6);
  y = torch::linear(torch::gelu(torch::linear(y, p[4], p[5])), p[6], p[7]).permute({0, 3, 1, 2});
  Tensor expected = p[8] * y + x;
  EXPECT_TRUE(close(tv(x), expected, 1e-4, 1e-5));
  EXPECT_TRUE(close(tm(x), expected, 1e-4, 1e-5));
  // layerscale_init ≤ 0 switches the scale off, as Metalhead's LayerScale.
  EXPECT_EQ(mh::convnextblock(c, 0.0, 0.0)->parameters().size(), 8u);
}

TEST(ConvNeXt, LayerNorm2dIsTorchsLayerNormOverChannels) {
  mh::LayerNorm2d ln(5);
  {
    torch::NoGradGuard no_grad;
    ln->weight.copy_(torch::randn({5}));
    ln->bias.copy_(torch::randn({5}));
  }
  Tensor x = torch::randn({2, 5, 3, 4}) * 3 + 1;
  Tensor mu = x.mean(1, true), var = x.var(1, false, true);
  Tensor expected = (x - mu) / torch::sqrt(var + 1e-6) * ln->weight.view({1, 5, 1, 1}) + ln->bias.view({1, 5, 1, 1});
  EXPECT_TRUE(close(ln(x), expected, 1e-4, 1e-5));
  EXPECT_NE(printed(ln).find("LayerNorm2d(5)"), std::string::npos);
  EXPECT_NE(printed(ln).find("# 10 parameters"), std::string::npos);
  expect_error<std::invalid_argument>([&] { ln(torch::randn({2, 4, 3, 3})); }, {"LayerNorm2d(5)", "[N, 5, H, W]", "[2, 4, 3, 3]"});
}

TEST(ConvNeXt, StochasticDepthGrowsToTheBuildersRate) {
  SkipInit skip;
  auto rates = [](const flux::Chain& model) {
    std::vector<double> out;
    for (const auto& stage : (*model)[0].as<ChainImpl>()->layers()) {
      auto blocks = stage.as<ChainImpl>();
      if (!blocks || !(*blocks)[0].as<SkipConnectionImpl>()) continue;  // stem and downsamplings
      for (const auto& b : *blocks) {
        auto f = b.as<SkipConnectionImpl>()->layer().as<ChainImpl>();
        out.push_back(f->layers().back().as<mh::layers::StochasticDepthImpl>()->p);
      }
    }
    return out;
  };
  std::vector<double> tiny = rates(mh::convnext("tiny"));  // torchvision: 0.1 · i / 17
  ASSERT_EQ(tiny.size(), 18u);
  for (size_t i = 0; i < tiny.size(); ++i) EXPECT_DOUBLE_EQ(tiny[i], 0.1 * static_cast<double>(i) / 17.0) << i;
  EXPECT_DOUBLE_EQ(rates(mh::convnext("base")).back(), 0.5);
  EXPECT_DOUBLE_EQ(rates(mh::convnext("small", {.stochastic_depth_prob = 0.2})).back(), 0.2);
  EXPECT_DOUBLE_EQ(rates(mh::convnext("xlarge")).back(), 0.0);
  EXPECT_DOUBLE_EQ(rates(mh::build_convnext({2, 2}, {8, 16})).back(), 0.0);  // Metalhead's default
}

TEST(ConvNeXt, GradientsReachTheStem) {
  mh::Model m = mh::ConvNeXt("tiny", {.nclasses = 3});
  m(torch::randn({2, 3, 32, 32})).sum().backward();
  auto stem_conv = mh::backbone(m)[0].as<ChainImpl>()->operator[](0).as<ConvImpl>();
  ASSERT_TRUE(stem_conv->weight.grad().defined());
  EXPECT_GT(stem_conv->weight.grad().abs().sum().item<double>(), 0.0);
}

TEST(ConvNeXt, RefusesUnknownConfigurationsAndWrongInput) {
  expect_error<std::invalid_argument>([] { mh::ConvNeXt("huge"); },
                                      {"ConvNeXt", "config \"huge\"", "\"tiny\", \"small\", \"base\", \"large\", \"xlarge\""});
  expect_error<std::invalid_argument>([] { mh::convnext("atto"); }, {"convnext", "\"atto\"", "\"tiny\""});
  expect_error<std::invalid_argument>([] { mh::build_convnext({3, 3}, {96}); }, {"build_convnext", "2 depths", "1 planes"});
  expect_error<std::invalid_argument>([] { mh::build_convnext({3, 0}, {8, 16}); }, {"build_convnext", "depth 0", "stage 2"});
  expect_error<std::runtime_error>([] { mh::ConvNeXt("tiny", {.pretrain = true}); }, {"ConvNeXt", "pretrain"});
  expect_error<std::invalid_argument>([] { mh::create_model("convnext_huge"); }, {"convnext_huge", "convnext_tiny"});
  SkipInit skip;
  mh::Model m = mh::ConvNeXt("tiny");
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 1, 32, 32})); }, {"ConvNeXt", "[N, 3, H, W]", "[1, 1, 32, 32]"});
}
