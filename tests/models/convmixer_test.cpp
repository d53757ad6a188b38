// ConvMixer against timm (convmixer_1536_20, convmixer_768_32, convmixer_1024_20_ks9_p14)
// and Metalhead's "large": counts, shapes, the block's arithmetic and gradients.
#include <metalhead/metalhead.h>
#include <metalhead/models/convmixer.h>

#include "flux/testing.h"
#include "reference.h"


using namespace flux;
namespace mh = metalhead;

TEST(ConvMixer, CountsEqualTimm) {
  SkipInit skip;  // counting needs no random draws
  for (const char* name : {"convmixer_1536_20", "convmixer_768_32", "convmixer_1024_20_ks9_p14"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("timm", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})),
              reference_params("timm", std::string(name) + "@10")) << name;
    EXPECT_EQ(mh::model_info(name).source, "timm");
  }
  EXPECT_EQ(parameter_count(mh::ConvMixer("base")), reference_params("timm", "convmixer_1536_20"));
  EXPECT_EQ(parameter_count(mh::ConvMixer("small", {.nclasses = 10})), reference_params("timm", "convmixer_768_32@10"));
}

TEST(ConvMixer, MetalheadLargeMatchesItsReference) {
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::ConvMixer("large")), reference_params("metalhead", "convmixer_1024_20_ks9_p7"));
  EXPECT_EQ(parameter_count(mh::create_model("convmixer_large", {.nclasses = 10})),
            reference_params("metalhead", "convmixer_1024_20_ks9_p7@10"));
  EXPECT_EQ(mh::model_info("convmixer_large").name, "convmixer_1024_20_ks9_p7");
  EXPECT_EQ(mh::model_info("convmixer_large").source, "Metalhead");
  EXPECT_EQ(mh::model_info("convmixer_base").name, "convmixer_1536_20");
  EXPECT_EQ(mh::model_info("convmixer_small").name, "convmixer_768_32");
}

TEST(ConvMixer, OutputShapesForOneAndThreeChannels) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::ConvMixer("small", {.inchannels = c, .nclasses = 10});
    EXPECT_EQ(shape(run(m, torch::randn({2, c, 64, 64}))), (Shape{2, 10})) << "inchannels " << c;
    torch::InferenceMode guard;
    EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, c, 64, 64}))), (Shape{1, 768, 9, 9}));  // 64 ÷ 7 patches
  }
  mh::Model m("ConvMixer", mh::convmixer(16, 2, {.kernel_size = {4, 4}, .patch_size = {2, 2}, .dropout_prob = 0.1,
                                                 .inchannels = 1, .nclasses = 5}), 1);
  EXPECT_EQ(shape(run(m, torch::randn({2, 1, 11, 11}))), (Shape{2, 5}));
  EXPECT_EQ(mh::backbone(m).size(), 4u);  // Metalhead's layout: Conv, BatchNorm, then the blocks
}

TEST(ConvMixer, DefaultInputSizeOnce) {
  mh::Model m = mh::create_model("convmixer_1024_20_ks9_p14");  // the least compute at 224×224
  testmode(m);
  torch::InferenceMode guard;
  Tensor features = mh::backbone(m)(torch::randn({1, 3, 224, 224}));
  EXPECT_EQ(shape(features), (Shape{1, 1024, 16, 16}));
  EXPECT_EQ(shape(mh::classifier(m)(features)), (Shape{1, 1000}));
}

TEST(ConvMixer, BlocksComputeTimmsArithmetic) {
  // timm: stem conv → act → BN; block: x + BN(act(depthwise conv, padding "same")), then
  // 1×1 conv → act → BN. An even kernel checks where "same" puts the extra pixel.
  torch::manual_seed(0);
  const int64_t c = 6;
  for (const Activation& act : {flux::gelu_erf, flux::relu}) {
    flux::Chain m = mh::convmixer(c, 1, {.kernel_size = {4, 4}, .patch_size = {3, 3}, .activation = act, .nclasses = 4});
    auto p = m->parameters();  // conv w, b, then BatchNorm β, γ (Flux's order), three times; Dense w, b
    ASSERT_EQ(p.size(), 14u);
    {
      torch::NoGradGuard no_grad;
      for (auto& t : p) t.copy_(torch::randn_like(t));
    }
    testmode(m);
    torch::InferenceMode guard;
    auto bn = [](const Tensor& x, const Tensor& w, const Tensor& b) {
      return torch::batch_norm(x, w, b, torch::zeros({x.size(1)}), torch::ones({x.size(1)}), false, 0.1, 1e-5, false);
    };
    Tensor x = torch::randn({2, 3, 15, 15});
    Tensor h = bn(act(torch::conv2d(x, p[0], p[1], 3)), p[3], p[2]);
    h = h + bn(act(torch::conv2d(h, p[4], p[5], 1, "same", 1, c)), p[7], p[6]);
    h = bn(act(torch::conv2d(h, p[8], p[9])), p[11], p[10]);
    Tensor expected = torch::linear(h.mean({2, 3}), p[12], p[13]);
    EXPECT_TRUE(close(m(x), expected, 1e-4, 1e-5)) << act.name();
  }
  SkipInit skip;
  auto stem_activation = [](const mh::Model& m) { return mh::backbone(m)[0].as<ConvImpl>()->activation.name(); };
  EXPECT_EQ(stem_activation(mh::ConvMixer("small")), "relu");  // timm's convmixer_768_32
  EXPECT_EQ(stem_activation(mh::ConvMixer("base")), "gelu_erf");
  EXPECT_EQ(stem_activation(mh::create_model("convmixer_1024_20_ks9_p14")), "gelu_erf");
}

TEST(ConvMixer, GradientsReachTheStem) {
  mh::Model m = mh::ConvMixer("small", {.nclasses = 3});
  m(torch::randn({2, 3, 28, 28})).sum().backward();
  auto stem_conv = mh::backbone(m)[0].as<ConvImpl>();
  ASSERT_TRUE(stem_conv->weight.grad().defined());
  EXPECT_GT(stem_conv->weight.grad().abs().sum().item<double>(), 0.0);
}

TEST(ConvMixer, RefusesUnknownConfigurationsAndWrongInput) {
  expect_error<std::invalid_argument>([] { mh::ConvMixer("medium"); },
                                      {"ConvMixer", "config \"medium\"", "\"base\", \"small\", \"large\""});
  expect_error<std::invalid_argument>([] { mh::convmixer(0, 20); }, {"convmixer", "planes and depth", "0 and 20"});
  expect_error<std::invalid_argument>([] { mh::convmixer(64, 2, {.kernel_size = {3}}); }, {"convmixer", "kernel_size", "(3,)"});
  expect_error<std::runtime_error>([] { mh::ConvMixer("base", {.pretrain = true}); }, {"ConvMixer", "pretrain"});
  expect_error<std::invalid_argument>([] { mh::create_model("convmixer_huge"); }, {"convmixer_huge", "convmixer_1536_20"});
  SkipInit skip;
  mh::Model m = mh::ConvMixer("small");
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 4, 32, 32})); }, {"ConvMixer", "[N, 3, H, W]", "[1, 4, 32, 32]"});
}
