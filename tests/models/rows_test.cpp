// High-level types know their registry row: the row's pretrained weights load by tensor
// names and shapes (a new head for other classes, timm's first-conv adaptation for other
// channels), and a configuration no row has, or one whose architecture differs, says so.
#include <flux/init.h>
#include <gtest/gtest.h>
#include <metalhead/metalhead.h>
#include <metalhead/weights.h>
#include <metalhead/weights/safetensors.h>

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace {

TEST(Rows, HighLevelTypesKnowTheirRow) {
  flux::SkipInit skip;  // placeholders: building costs nothing
  using namespace metalhead;
  EXPECT_EQ(ResNet(50)->row, "resnet50");
  EXPECT_EQ(WideResNet(101)->row, "wide_resnet101_2");
  EXPECT_EQ(ResNeXt(101, {.cardinality = 64, .base_width = 4})->row, "resnext101_64x4d");
  EXPECT_EQ(ResNeXt(50, {.cardinality = 16})->row, "");
  EXPECT_EQ(SEResNeXt(50)->row, "seresnext50_32x4d");
  EXPECT_EQ(Res2Net(50, {.scale = 8, .base_width = 26})->row, "res2net50_26w_8s");
  EXPECT_EQ(VGG(16)->row, "vgg16");
  EXPECT_EQ(VGG(16, {.batchnorm = true})->row, "");  // Metalhead's: no conv bias next to BatchNorm
  EXPECT_EQ(DenseNet(161, {.growth_rate = 48})->row, "densenet161");
  EXPECT_EQ(DenseNet(161)->row, "");
  EXPECT_EQ(ViT("base")->row, "vit_b_16");
  EXPECT_EQ(ViT("base", {.patch_size = {32, 32}})->row, "vit_b_32");
  EXPECT_EQ(ViT("base", {.pool = TokenPool::mean})->row, "");
  EXPECT_EQ(MobileNetv3("large")->row, "mobilenet_v3_large");
  EXPECT_EQ(MNASNet("B1", {}, 0.5)->row, "mnasnet0_5");
  EXPECT_EQ(EfficientNetv2("xlarge")->row, "tf_efficientnetv2_xl");
  EXPECT_EQ(MLPMixer("small", {.patch_size = {32, 32}})->row, "mixer_s32_224");
  EXPECT_EQ(ResMLP("big_24")->row, "resmlp_big_24_224");
  EXPECT_EQ(gMLP("tiny")->row, "gmlp_ti16_224");
  EXPECT_EQ(SqueezeNet()->row, "squeezenet1_1");
  EXPECT_EQ(create_model("xception")->row, "legacy_xception");  // an alias: the canonical row
  EXPECT_EQ(create_model("vgg16")->row, "vgg16");
}

class PretrainedDir : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) / "metalhead-rows-weights";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    setenv("METALHEAD_WEIGHTS", dir_.c_str(), 1);
  }
  void TearDown() override { unsetenv("METALHEAD_WEIGHTS"); }
  fs::path dir_;
};

TEST_F(PretrainedDir, AHighLevelTypeLoadsItsRowsFile) {
  // torchvision's alexnet (an adaptive pool), saved under torchvision's names; Metalhead's
  // AlexNet (no pool: the same at 224) loads it.
  torch::manual_seed(0);
  auto source = metalhead::create_model("alexnet");
  metalhead::save_weights(source, dir_ / "alexnet.safetensors", {.naming = metalhead::Naming::torchvision});
  const auto theirs = metalhead::named_tensors(source);

  auto same = metalhead::AlexNet({.pretrain = true});
  const auto ours = metalhead::named_tensors(same);
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(torch::equal(ours[i].second, theirs[i].second)) << ours[i].first;

  // Ten classes: the backbone and hidden layers loaded, the logits layer new.
  auto ten = metalhead::AlexNet({.nclasses = 10, .pretrain = true});
  const auto t = metalhead::named_tensors(ten);
  for (size_t i = 0; i + 2 < t.size(); ++i) EXPECT_TRUE(torch::equal(t[i].second, theirs[i].second)) << t[i].first;
  EXPECT_EQ(t.back().second.size(0), 10);

  // One channel: timm's adaptation, the RGB filters summed.
  auto grey = metalhead::AlexNet({.inchannels = 1, .pretrain = true});
  const auto g = metalhead::named_tensors(grey);
  EXPECT_TRUE(torch::allclose(g[0].second, theirs[0].second.sum(1, true)));
  // Five: the RGB filters repeated (r g b r g) and scaled by 3/5.
  auto five = metalhead::AlexNet({.inchannels = 5, .pretrain = true});
  const auto w = theirs[0].second;
  const auto expected = torch::cat({w, w.slice(1, 0, 2)}, 1) * (3.0 / 5.0);
  EXPECT_TRUE(torch::allclose(metalhead::named_tensors(five)[0].second, expected));
}

TEST_F(PretrainedDir, AnotherConfigurationSaysHowItDiffers) {
  // torchvision's vgg11_bn is there, but Metalhead's VGG-BN has no conv bias: the error says so.
  metalhead::weights::write_safetensors(dir_ / "vgg11_bn.safetensors", {{"features.0.weight", torch::zeros({64, 3, 3, 3})}});
  try {
    metalhead::VGG(11, {.batchnorm = true, .pretrain = true});
    FAIL() << "loaded";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no conv bias"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("create_model(\"vgg11_bn\")"), std::string::npos) << e.what();
  }
  // A file of the row's name whose tensors are another architecture's: refused by name.
  metalhead::weights::write_safetensors(dir_ / "resnet18.safetensors", {{"conv1.weight", torch::zeros({64, 3, 5, 5})}});
  EXPECT_THROW(metalhead::ResNet(18, {.pretrain = true}), std::runtime_error);
  // No row at all.
  try {
    metalhead::ResNeXt(50, {.cardinality = 16, .pretrain = true});
    FAIL() << "loaded";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no registry model has this configuration"), std::string::npos) << e.what();
  }
  try {
    metalhead::GoogLeNet({.pretrain = true});
    FAIL() << "loaded";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("create_model(\"googlenet\")"), std::string::npos) << e.what();
  }
}

}  // namespace
