// create_model's timm keywords: nclasses 0, global_pool, drop_rate, drop_path_rate, imsize;
// none of them renames a tensor.
#include <flux/init.h>
#include <flux/mode.h>
#include <gtest/gtest.h>
#include <metalhead/features.h>
#include <metalhead/layers/drop.h>
#include <metalhead/metalhead.h>
#include <metalhead/weights.h>

#include "reference.h"

namespace {

std::vector<std::string> names(const metalhead::Model& m) {
  std::vector<std::string> out;
  for (const auto& [n, t] : metalhead::named_tensors(m)) out.push_back(n);
  return out;
}

TEST(CreateModel, NoClassesGivesPooledFeatures) {
  auto m = metalhead::create_model("resnet18", {.nclasses = 0});
  flux::testmode(*m);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 64, 64});
  EXPECT_TRUE(torch::allclose(m(x), metalhead::forward_features(m, x).mean({2, 3})));
  auto maps = metalhead::create_model("resnet18", {.nclasses = 0, .global_pool = "none"});
  flux::testmode(*maps);
  EXPECT_EQ(maps(x).sizes(), (std::vector<int64_t>{2, 512, 2, 2}));
  auto pooled_max = metalhead::create_model("resnet18", {.nclasses = 0, .global_pool = "max"});
  flux::testmode(*pooled_max);
  EXPECT_TRUE(torch::allclose(pooled_max(x), metalhead::forward_features(pooled_max, x).amax({2, 3})));
  EXPECT_THROW(metalhead::create_model("resnet18", {.global_pool = "none"}), std::invalid_argument);
  EXPECT_THROW(metalhead::create_model("resnet18", {.global_pool = "token"}), std::invalid_argument);
  EXPECT_THROW(metalhead::create_model("resnet18", {.nclasses = -1}), std::invalid_argument);
}

TEST(StableNames, OptionalLayersRenameNothing) {
  flux::SkipInit skip;
  namespace mh = metalhead;
  auto resnet = [](std::optional<double> dropout, std::optional<double> dropblock, std::optional<double> drop_path) {
    return mh::Model("ResNet", mh::resnet(mh::BlockType::basicblock, {2, 2, 2, 2},
                                          {.dropblock_prob = dropblock, .stochastic_depth_prob = drop_path,
                                           .dropout_prob = dropout}),
                     3);
  };
  const auto plain = names(resnet(std::nullopt, std::nullopt, std::nullopt));
  EXPECT_EQ(names(resnet(0.5, std::nullopt, std::nullopt)), plain);
  EXPECT_EQ(names(resnet(std::nullopt, 0.1, std::nullopt)), plain);
  EXPECT_EQ(names(resnet(std::nullopt, std::nullopt, 0.2)), plain);
  EXPECT_EQ(names(resnet(0.0, 0.0, 0.0)), plain);
  EXPECT_EQ(names(mh::Model("DenseNet", mh::densenet({6, 12, 24, 16}, {.dropout_prob = 0.2}), 3)),
            names(mh::Model("DenseNet", mh::densenet({6, 12, 24, 16}), 3)));
  EXPECT_EQ(names(mh::Model("ConvMixer", mh::convmixer(256, 2, {.dropout_prob = 0.2}), 3)),
            names(mh::Model("ConvMixer", mh::convmixer(256, 2), 3)));
  EXPECT_EQ(names(mh::MobileNetv1(1.0)), names(mh::Model("MobileNetv1", mh::mobilenetv1({.dropout_prob = 0.3}), 3)));
  // Metalhead's Xception (a Dropout in its head) and timm's legacy_xception (none): one naming.
  EXPECT_EQ(names(mh::Xception()), names(mh::create_model("legacy_xception")));
}

TEST(CreateModel, DropRateKeepsTheTensorNames) {
  for (const char* name : {"resnet18", "vit_tiny_patch16_224", "mixer_s32_224", "mobilenet_v3_small", "densenet121"}) {
    SCOPED_TRACE(name);
    const auto plain = metalhead::create_model(name);
    auto dropped = metalhead::create_model(name, {.drop_rate = 0.3});
    EXPECT_EQ(names(dropped), names(plain));
    EXPECT_NE(dropped->repr().find("Dropout(0.3)"), std::string::npos) << dropped->repr();
  }
  EXPECT_THROW(metalhead::create_model("resnet18", {.drop_rate = 1.5}), std::invalid_argument);
}

TEST(CreateModel, DropPathRateFollowsTheFamilysSchedule) {
  const auto plain = metalhead::create_model("resnet50");
  auto r = metalhead::create_model("resnet50", {.drop_path_rate = 0.1});
  EXPECT_EQ(names(r), names(plain));
  auto p = drop_paths(r);
  ASSERT_EQ(p.size(), 16u);  // one per block
  EXPECT_DOUBLE_EQ(p.front(), 0.0);
  EXPECT_DOUBLE_EQ(p.back(), 0.1);
  EXPECT_NEAR(p[8], 0.1 * 8 / 15, 1e-12);

  p = drop_paths(metalhead::create_model("convnext_tiny", {.drop_path_rate = 0.3}));
  ASSERT_EQ(p.size(), 18u);
  EXPECT_NEAR(p.back(), 0.3, 1e-12);
  EXPECT_NEAR(p[9], 0.3 * 9 / 17, 1e-12);  // torchvision's linear schedule, rescaled

  p = drop_paths(metalhead::create_model("mixer_s32_224", {.drop_path_rate = 0.1}));
  ASSERT_FALSE(p.empty());
  for (double v : p) EXPECT_DOUBLE_EQ(v, 0.1);  // timm's mixers: one rate for every block

  EXPECT_THROW(metalhead::create_model("vgg11", {.drop_path_rate = 0.1}), std::invalid_argument);
  EXPECT_THROW(metalhead::create_model("vit_tiny_patch16_224", {.drop_path_rate = 0.1}), std::invalid_argument);
}

TEST(CreateModel, ImsizeForTheFamiliesBuiltForOne) {
  auto vit = metalhead::create_model("vit_tiny_patch16_224", {.nclasses = 3, .imsize = {96, 64}});
  flux::testmode(*vit);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(vit(torch::randn({1, 3, 96, 64})).sizes(), (std::vector<int64_t>{1, 3}));
  const auto maps = metalhead::features(vit, {.out_indices = {11}})(torch::randn({1, 3, 96, 64}));
  EXPECT_EQ(maps[0].sizes(), (std::vector<int64_t>{1, 192, 6, 4}));
  auto mixer = metalhead::create_model("mixer_s32_224", {.nclasses = 3, .imsize = {64, 64}});
  flux::testmode(*mixer);
  EXPECT_EQ(mixer(torch::randn({1, 3, 64, 64})).sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_THROW(metalhead::create_model("resnet18", {.imsize = {64, 64}}), std::invalid_argument);
  EXPECT_THROW(metalhead::create_model("vit_tiny_patch16_224", {.imsize = {100, 100}}), std::invalid_argument);
}

}  // namespace
