// The Swin Transformer (V1 and V2) against torchvision 0.14: parameter counts, shapes at
// sizes that are not whole windows, torchvision's stochastic depth schedule, the V2 block's
// post-norm, and the channels-last feature maps.
#include <metalhead/features.h>
#include <metalhead/metalhead.h>
#include <metalhead/models/swin.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

namespace {

TEST(SwinTransformer, CountsEqualTorchvision) {
  SkipInit skip;
  for (const char* name : {"swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})),
              reference_params("torchvision", std::string(name) + "@10"))
        << name;
  }
  EXPECT_EQ(mh::SwinTransformer("v2_small")->row, "swin_v2_s");
  EXPECT_EQ(mh::model_info("swin_tiny_patch4_window7_224").name, "swin_t");
}

TEST(SwinTransformer, AnyImageSizePadsToWholeWindows) {
  // 64 → 16 × 16 patches, padded to 21 × 21 for 7 × 7 windows; 8 × 8, 4 × 4 and 2 × 2 later
  // are covered by one window, which drops the shift.
  for (const char* config : {"tiny", "v2_tiny"}) {
    mh::Model m = mh::SwinTransformer(config, {.nclasses = 10});
    EXPECT_EQ(shape(run(m, torch::randn({2, 3, 64, 64}))), (Shape{2, 10})) << config;
    EXPECT_EQ(shape(run(m, torch::randn({1, 3, 100, 76}))), (Shape{1, 10})) << config;
  }
  mh::Model one = mh::SwinTransformer("tiny", {.inchannels = 1, .nclasses = 3});
  EXPECT_EQ(shape(run(one, torch::randn({1, 1, 32, 32}))), (Shape{1, 3}));
}

TEST(SwinTransformer, TorchvisionsStochasticDepthSchedule) {
  // swin_t: 12 blocks, two branches each, p·i/11 with p = 0.2.
  auto p = drop_paths(mh::create_model("swin_t"));
  ASSERT_EQ(p.size(), 24u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_NEAR(p[2 * i], 0.2 * static_cast<double>(i) / 11, 1e-12) << i;
    EXPECT_EQ(p[2 * i + 1], p[2 * i]);
  }
  p = drop_paths(mh::create_model("swin_b", {.drop_path_rate = 0.1}));
  EXPECT_NEAR(p.back(), 0.1, 1e-12);
  EXPECT_NEAR(p[2], 0.1 / 23, 1e-12);
}

TEST(SwinTransformer, TheV2BlockNormalisesAfterEachBranch) {
  torch::manual_seed(0);
  Layer v1 = mh::swin_block(8, 2, {2, 2});
  Layer v2 = mh::swin_block(8, 2, {2, 2}, {.v2 = true});
  // With every LayerNorm's scale and shift at 0 (and the Dense biases not), V2's branches
  // add nothing: the identity; V1's still do (their norms come first).
  torch::NoGradGuard g;
  for (const auto& l : {v1, v2}) {
    for (const auto& m : l->modules()) {
      if (auto n = dynamic_cast<mh::layers::LayerNormV2Impl*>(m.get())) {
        n->weight.zero_();
        n->bias.zero_();
      }
      if (auto d = dynamic_cast<flux::DenseImpl*>(m.get()); d && d->bias.defined()) d->bias.fill_(0.5);
    }
    testmode(l);
  }
  Tensor x = torch::randn({1, 4, 4, 8});
  EXPECT_TRUE(torch::allclose(v2(x), x));
  EXPECT_FALSE(torch::allclose(v1(x), x));
}

TEST(SwinTransformer, FeatureMapsAreChannelsFirst) {
  mh::Model m = mh::SwinTransformer("tiny");
  testmode(m);
  torch::NoGradGuard g;
  auto maps = mh::features(m)(torch::randn({1, 3, 64, 64}));
  ASSERT_EQ(maps.size(), 4u);
  EXPECT_EQ(shape(maps[0]), (Shape{1, 96, 16, 16}));
  EXPECT_EQ(shape(maps[3]), (Shape{1, 768, 2, 2}));
  EXPECT_THROW(mh::UNet(m, {.imsize = {64, 64}}), std::invalid_argument);  // a UNet needs NCHW stages
}

TEST(SwinTransformer, Refusals) {
  expect_error<std::invalid_argument>([] { mh::swin_transformer("huge"); }, {"swin_transformer", "huge", "v2_tiny"});
  expect_error<std::invalid_argument>([] { mh::build_swin_transformer(96, {2, 2}, {3, 6, 12}); },
                                      {"build_swin_transformer", "2 depths and 3 nheads"});
  expect_error<std::invalid_argument>([] { mh::build_swin_transformer(96, {2, 2}, {5, 6}); },
                                      {"stage 1", "96 planes divisible"});
}

}  // namespace
