// Pretrained configs (issue 17): every registry row has one; timm's and torchvision's
// numbers for the models whose preprocessing differs from ImageNet's usual; preprocess
// follows a config. tests/cli/pretrained_cfg_torchvision.py checks every torchvision row
// against Debian's torchvision.
#include <metalhead/data/images.h>
#include <metalhead/metalhead.h>

#include "flux/testing.h"

namespace {

using metalhead::PretrainedCfg;

}  // namespace

TEST(PretrainedCfg, EveryRowHasOne) {
  for (const auto& info : metalhead::registered_models()) {
    SCOPED_TRACE(info.name);
    const PretrainedCfg& c = info.pretrained;
    ASSERT_EQ(c.input_size.size(), 3u);
    EXPECT_EQ(c.input_size[0], 3);
    EXPECT_GT(c.crop_pct, 0.5);
    EXPECT_LE(c.crop_pct, 1.0);
    // timm's rule: the resize is ⌊H / crop_pct⌋ (torchvision's own numbers agree to a pixel).
    EXPECT_NEAR(static_cast<double>(c.resize), c.input_size[1] / c.crop_pct, 1.0);
    EXPECT_TRUE(c.interpolation == "bilinear" || c.interpolation == "bicubic") << c.interpolation;
    EXPECT_TRUE(c.naming == "torchvision" || c.naming == "timm" || c.naming == "Metalhead") << c.naming;
    EXPECT_EQ(c.naming == "torchvision", info.source == "torchvision");
    for (int i = 0; i < 3; ++i) {
      EXPECT_GT(c.mean[i], 0.3);
      EXPECT_LT(c.mean[i], 0.6);
      EXPECT_GT(c.std[i], 0.2);
      EXPECT_LE(c.std[i], 0.5);
    }
    EXPECT_EQ(c.num_classes, 1000);
  }
}

TEST(PretrainedCfg, TimmsInceptionStatisticsAndCrops) {
  // timm's inception_v4.tf_in1k and legacy_xception.tf_in1k: Inception mean = std = 0.5,
  // 299², bicubic; crop 0.875 and 0.8975.
  const PretrainedCfg& v4 = metalhead::pretrained_cfg("inception_v4");
  EXPECT_EQ(v4.weights, "inception_v4.tf_in1k");
  EXPECT_EQ(v4.input_size, (std::vector<int64_t>{3, 299, 299}));
  EXPECT_EQ(v4.mean, (std::array<double, 3>{0.5, 0.5, 0.5}));
  EXPECT_EQ(v4.std, (std::array<double, 3>{0.5, 0.5, 0.5}));
  EXPECT_EQ(v4.interpolation, "bicubic");
  EXPECT_DOUBLE_EQ(v4.crop_pct, 0.875);
  const PretrainedCfg& x = metalhead::pretrained_cfg("xception");  // an alias
  EXPECT_EQ(x.weights, "legacy_xception.tf_in1k");
  EXPECT_DOUBLE_EQ(x.crop_pct, 0.8975);
  EXPECT_EQ(x.resize, 333);  // ⌊299 / 0.8975⌋
  // torchvision's: inception_v3 resizes to 342 and crops 299; resnet50's V2 weights 232 → 224.
  EXPECT_EQ(metalhead::pretrained_cfg("inception_v3").resize, 342);
  EXPECT_EQ(metalhead::pretrained_cfg("resnet50").resize, 232);
  EXPECT_EQ(metalhead::pretrained_cfg("resnet50").weights, "ResNet50_Weights.IMAGENET1K_V2");
  EXPECT_EQ(metalhead::pretrained_cfg("resnet50").classifier, "fc");
  expect_error<std::invalid_argument>([] { metalhead::pretrained_cfg("resnet51"); }, {"unknown model 'resnet51'"});
}

TEST(PretrainedCfg, PreprocessFollowsTheConfig) {
  namespace md = metalhead::data;
  // A uniform grey image: every output value is (v/255 − mean) / std, hand-computed.
  const auto grey = torch::full({3, 300, 400}, 128, torch::kByte);
  const auto v4 = md::preprocess(grey, metalhead::pretrained_cfg("inception_v4"));
  EXPECT_EQ(v4.sizes(), (torch::IntArrayRef{3, 299, 299}));
  EXPECT_NEAR(v4.min().item<double>(), (128 / 255.0 - 0.5) / 0.5, 1e-6);
  EXPECT_NEAR(v4.max().item<double>(), (128 / 255.0 - 0.5) / 0.5, 1e-6);
  // The centre crop of the resize: columns 0..399 of value = column index keep their order,
  // and the crop is centred (the resize makes the shorter side 333, the longer 444).
  auto ramp = torch::arange(400, torch::kFloat).div(400 / 255.0).floor().to(torch::kByte).expand({3, 300, 400}).contiguous();
  const auto c = md::preprocess(ramp, metalhead::pretrained_cfg("legacy_xception"));
  EXPECT_EQ(c.sizes(), (torch::IntArrayRef{3, 299, 299}));
  const double left = c[0][150][0].item<double>() * 0.5 + 0.5, right = c[0][150][298].item<double>() * 0.5 + 0.5;
  // The crop keeps columns 72..371 of 444, i.e. source columns ~65..335 of 400.
  EXPECT_NEAR(left * 255, 72.5 / 444 * 400 * 255 / 400, 2.0);
  EXPECT_NEAR(right * 255, 370.5 / 444 * 400 * 255 / 400, 2.0);
  // Squash: straight to [H, W]; one channel where the config has one.
  PretrainedCfg squash = metalhead::pretrained_cfg("resnet18");
  squash.squash = true;
  squash.input_size = {1, 20, 30};
  const auto s = md::preprocess(grey, squash);
  EXPECT_EQ(s.sizes(), (torch::IntArrayRef{1, 20, 30}));
  EXPECT_NEAR(s.max().item<double>(), (128 / 255.0 - 0.485) / 0.229, 1e-5);
  PretrainedCfg bad = squash;
  bad.interpolation = "nearest";
  expect_error<std::invalid_argument>([&] { md::preprocess(grey, bad); }, {"preprocess", "bilinear or bicubic", "nearest"});
  bad = squash;
  bad.input_size = {3, 0, 4};
  expect_error<std::invalid_argument>([&] { md::preprocess(grey, bad); }, {"preprocess", "input_size"});
}

namespace {

TEST(PretrainedCfg, ClassNamesOfEachRow) {
  for (const auto& info : metalhead::registered_models()) {
    if (info.family == "UNet") continue;
    SCOPED_TRACE(info.name);
    const auto& names = metalhead::class_names(info.pretrained);
    ASSERT_EQ(static_cast<int64_t>(names.size()), info.pretrained.num_classes);
  }
  const auto& names = metalhead::class_names(metalhead::pretrained_cfg("resnet50"));
  EXPECT_EQ(names[0], "tench");          // torchvision's ImageNet-1k order
  EXPECT_EQ(names[281], "tabby");
  EXPECT_THROW(metalhead::class_names(metalhead::pretrained_cfg("unet")), std::invalid_argument);
}

}  // namespace
