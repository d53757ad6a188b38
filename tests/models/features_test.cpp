// The feature API: feature_info against timm's (tests/data/feature_info.json, read off
// timm 1.0's models), the maps' shapes, forward_features/forward_head against the
// model, and reset_classifier. The maps' values against torchvision's are in the
// parity suite.
#include <flux/mode.h>
#include <gtest/gtest.h>
#include <metalhead/features.h>
#include <metalhead/metalhead.h>
#include <metalhead/placeholders.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace {

using metalhead::FeatureInfo;

nlohmann::json feature_table() {
  std::ifstream in(std::string(METALHEAD_TEST_DATA) + "/feature_info.json");
  return nlohmann::json::parse(in);
}

TEST(FeatureInfo, EveryRegistryModelHasTimmsStages) {
  const auto table = feature_table();
  for (const auto& info : metalhead::registered_models()) {
    if (info.family == "UNet") continue;
    SCOPED_TRACE(info.name);
    ASSERT_TRUE(table.contains(info.name)) << "no reference stages for " << info.name;
    const auto model = metalhead::placeholder_model(info);
    const auto& stages = metalhead::feature_info(model);
    const auto& expected = table[info.name]["stages"];
    ASSERT_EQ(stages.size(), expected.size());
    for (size_t i = 0; i < stages.size(); ++i) {
      EXPECT_EQ(stages[i].channels, expected[i][0].get<int64_t>()) << "stage " << i;
      EXPECT_EQ(stages[i].reduction, expected[i][1].get<int64_t>()) << "stage " << i;
    }
  }
}

// The maps have the recorded channels, and H / reduction rows where the padding keeps
// sizes exact (a few rows off for the valid-padded Inceptions, Xception, AlexNet and
// SqueezeNet, as in torchvision and timm).
void check_maps(const std::string& name, int64_t size, int64_t slack) {
  SCOPED_TRACE(name);
  torch::manual_seed(0);
  auto model = metalhead::create_model(name);
  flux::testmode(*model);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, size, size});
  const auto maps = metalhead::features(model)(x);
  const auto& info = metalhead::feature_info(model);
  ASSERT_EQ(maps.size(), info.size());
  for (size_t i = 0; i < maps.size(); ++i) {
    ASSERT_EQ(maps[i].dim(), 4) << "stage " << i;
    EXPECT_EQ(maps[i].size(0), 2);
    EXPECT_EQ(maps[i].size(1), info[i].channels) << "stage " << i;
    const int64_t side = size / info[i].reduction;
    EXPECT_NEAR(maps[i].size(2), side, slack) << "stage " << i;
    EXPECT_EQ(maps[i].size(2), maps[i].size(3));
  }
  // forward_head(forward_features(x)) is the model.
  const auto f = metalhead::forward_features(model, x);
  EXPECT_TRUE(torch::allclose(metalhead::forward_head(model, f), model(x), 1e-5, 1e-5));
  EXPECT_EQ(metalhead::forward_head(model, f, /*pre_logits=*/true).size(1), metalhead::num_features(model));
}

TEST(Features, MapsOfEachFamily) {
  for (const auto& [name, size, slack] : std::vector<std::tuple<std::string, int64_t, int64_t>>{
           {"resnet18", 64, 0}, {"seresnet18", 64, 0}, {"res2net50_26w_4s", 64, 0}, {"densenet121", 64, 0},
           {"vgg11_bn", 64, 0}, {"alexnet", 128, 3}, {"squeezenet1_0", 64, 3}, {"squeezenet1_1", 64, 3},
           {"convnext_tiny", 64, 0}, {"efficientnet_b0", 64, 0}, {"efficientnet_v2_s", 64, 0},
           {"mobilenet_v2", 64, 0}, {"mobilenet_v3_large", 64, 0}, {"mobilenet_v3_small", 64, 0},
           {"mnasnet0_5", 64, 0}, {"mobilenetv1_100", 64, 0}, {"googlenet", 64, 3}, {"inception_v3", 75, 4},
           {"inception_v4", 75, 4}, {"inception_resnet_v2", 75, 4}, {"legacy_xception", 71, 4},
           {"vit_tiny_patch16_224", 224, 0}, {"mixer_s32_224", 224, 0}, {"resmlp_12_224", 224, 0},
           {"gmlp_ti16_224", 224, 0}, {"convmixer_768_32", 224, 0}}) {
    check_maps(name, size, slack);
  }
}

TEST(Features, OutIndicesSelectAndShareTheModel) {
  auto model = metalhead::create_model("resnet18");
  flux::testmode(*model);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 3, 64, 64});
  const auto all = metalhead::features(model)(x);
  const auto some = metalhead::features(model, {.out_indices = {4, 1}})(x);
  ASSERT_EQ(some.size(), 2u);
  EXPECT_TRUE(torch::equal(some[0], all[4]));
  EXPECT_TRUE(torch::equal(some[1], all[1]));
  EXPECT_EQ(metalhead::features(model, {.out_indices = {4, 1}}).info()[0].channels, 512);
  // Shared layers: a change to the model shows in the extractor.
  auto extractor = metalhead::features(model, {.out_indices = {0}});
  metalhead::backbone(model)->parameters().front().mul_(2);
  EXPECT_FALSE(torch::equal(extractor(x)[0], all[0]));

  EXPECT_THROW(metalhead::features(model, {.out_indices = {5}}), std::out_of_range);
  EXPECT_THROW(metalhead::features(model, {.out_indices = {-1}}), std::out_of_range);
  EXPECT_THROW(metalhead::features(model, {.out_indices = {1, 1}}), std::invalid_argument);
  EXPECT_THROW(metalhead::features(model)(torch::randn({1, 1, 64, 64})), std::invalid_argument);
}

TEST(Features, ViTBlocksAsMaps) {
  auto model = metalhead::create_model("vit_tiny_patch16_224");
  flux::testmode(*model);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 3, 224, 224});
  const auto tokens = metalhead::forward_features(model, x);
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{1, 197, 192}));
  // The last block's map is its patch tokens, row-major over the 14×14 grid.
  const auto last = metalhead::features(model, {.out_indices = {11}})(x)[0];
  ASSERT_EQ(last.sizes(), (std::vector<int64_t>{1, 192, 14, 14}));
  EXPECT_TRUE(torch::equal(last[0].select(1, 2).select(1, 5), tokens[0][1 + 2 * 14 + 5]));
}

TEST(Features, ForwardIntermediatesInOnePass) {
  // The stages' maps equal features()', and the final features forward_features',
  // so forward_head on them gives the model's logits.
  for (const std::string name : {"resnet18", "vit_tiny_patch16_224", "efficientnet_b0"}) {
    SCOPED_TRACE(name);
    auto model = metalhead::create_model(name);
    flux::testmode(*model);
    torch::NoGradGuard no_grad;
    const auto x = torch::randn({1, 3, 224, 224});
    const int64_t n = static_cast<int64_t>(metalhead::feature_info(model).size());
    const auto r = metalhead::forward_intermediates(model, x, {.indices = {1, -1}});
    const auto maps = metalhead::features(model, {.out_indices = {1, n - 1}})(x);
    ASSERT_EQ(r.intermediates.size(), 2u);
    for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(r.intermediates[i], maps[i])) << i;
    EXPECT_TRUE(torch::equal(r.features, metalhead::forward_features(model, x)));
    EXPECT_TRUE(torch::allclose(metalhead::forward_head(model, r.features), model(x), 1e-5, 1e-5));
    const auto only = metalhead::forward_intermediates(model, x, {.indices = {0}, .intermediates_only = true});
    EXPECT_FALSE(only.features.defined());
    EXPECT_TRUE(torch::equal(only.intermediates.at(0), metalhead::features(model, {.out_indices = {0}})(x)[0]));
    EXPECT_THROW(metalhead::forward_intermediates(model, x, {.indices = {n}}), std::out_of_range);
    EXPECT_THROW(metalhead::forward_intermediates(model, x, {.indices = {-n - 1}}), std::out_of_range);
  }
}

TEST(ResetClassifier, NewHeadsAndPools) {
  torch::manual_seed(0);
  auto model = metalhead::create_model("resnet18");
  flux::testmode(*model);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 64, 64});
  const auto f = metalhead::forward_features(model, x);  // [2, 512, 2, 2]

  metalhead::reset_classifier(model, 10);
  EXPECT_EQ(model(x).sizes(), (std::vector<int64_t>{2, 10}));
  metalhead::reset_classifier(model, 0);  // the pooled features
  EXPECT_TRUE(torch::allclose(model(x), f.mean({2, 3})));
  metalhead::reset_classifier(model, 0, "max");
  EXPECT_TRUE(torch::allclose(model(x), f.amax({2, 3})));
  metalhead::reset_classifier(model, 0, "avgmax");
  EXPECT_TRUE(torch::allclose(model(x), 0.5 * (f.mean({2, 3}) + f.amax({2, 3}))));
  metalhead::reset_classifier(model, 0, "none");
  EXPECT_TRUE(torch::allclose(model(x), f));
  metalhead::reset_classifier(model, 7, "avg");
  EXPECT_EQ(model(x).sizes(), (std::vector<int64_t>{2, 7}));

  // Refused, the model unchanged.
  const auto before = model(x);
  EXPECT_THROW(metalhead::reset_classifier(model, 5, "mean"), std::invalid_argument);
  EXPECT_THROW(metalhead::reset_classifier(model, 5, "none"), std::invalid_argument);
  EXPECT_THROW(metalhead::reset_classifier(model, -1), std::invalid_argument);
  EXPECT_TRUE(torch::equal(model(x), before));

  auto vgg = metalhead::create_model("vgg11");  // its head flattens: no pool to set
  EXPECT_THROW(metalhead::reset_classifier(vgg, 5, "max"), std::invalid_argument);
  metalhead::reset_classifier(vgg, 5);
  flux::testmode(*vgg);
  EXPECT_EQ(vgg(torch::randn({1, 3, 32, 32})).sizes(), (std::vector<int64_t>{1, 5}));
}

TEST(FeatureInfo, ABareChainHasNone) {
  metalhead::Model m("Custom", flux::Chain(flux::Conv({3, 3}, {3, 8})), flux::Chain(flux::flatten), 3);
  EXPECT_THROW(metalhead::feature_info(m), std::invalid_argument);
}

}  // namespace
