// MobileNetv1/v2/v3, MNASNet, EfficientNet and EfficientNetv2: one table-driven builder,
// checked against torchvision's and timm's parameter counts, shapes and gradients.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

namespace {

const std::vector<std::string> torchvision_names = {
    "mobilenet_v2",    "mobilenet_v3_small", "mobilenet_v3_large", "mnasnet0_5",       "mnasnet0_75",
    "mnasnet1_0",      "mnasnet1_3",         "efficientnet_b0",    "efficientnet_b1",  "efficientnet_b2",
    "efficientnet_b3", "efficientnet_b4",    "efficientnet_b5",    "efficientnet_b6",  "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"};
const std::vector<std::string> timm_names = {"mobilenetv1_100", "semnasnet_100", "mnasnet_small", "efficientnet_b8",
                                             "tf_efficientnetv2_xl"};

}  // namespace

TEST(MobileNets, CountsEqualTorchvision) {
  SkipInit skip;  // counting needs no random draws
  for (const auto& name : torchvision_names) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})), reference_params("torchvision", name + "@10"))
        << name;
  }
}

TEST(MobileNets, CountsEqualTimm) {
  SkipInit skip;
  for (const auto& name : timm_names) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("timm", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})), reference_params("timm", name + "@10")) << name;
  }
  // The same architectures under timm's names.
  EXPECT_EQ(parameter_count(mh::create_model("mnasnet_100")), reference_params("timm", "mnasnet_100"));
  for (const char* name : {"efficientnet_b0", "efficientnet_b3", "efficientnet_b7"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("timm", name)) << name;
  }
  for (const char* s : {"s", "m", "l"}) {
    EXPECT_EQ(parameter_count(mh::create_model(std::string("efficientnet_v2_") + s)),
              reference_params("timm", std::string("tf_efficientnetv2_") + s));
  }
}

TEST(MobileNets, HighLevelTypesAreTheRegistryModels) {
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::MobileNetv1()), reference_params("timm", "mobilenetv1_100"));
  EXPECT_EQ(parameter_count(mh::MobileNetv2()), reference_params("torchvision", "mobilenet_v2"));
  EXPECT_EQ(parameter_count(mh::MobileNetv3("large")), reference_params("torchvision", "mobilenet_v3_large"));
  EXPECT_EQ(parameter_count(mh::MNASNet("B1", {}, 0.75)), reference_params("torchvision", "mnasnet0_75"));
  EXPECT_EQ(parameter_count(mh::EfficientNet("b0")), 5288548);  // torchvision's documented count
  EXPECT_EQ(parameter_count(mh::EfficientNetv2("small")), 21458488);
  EXPECT_EQ(mh::model_info("efficientnet_b3").input_size, (std::vector<int64_t>{300, 300}));
  EXPECT_EQ(mh::model_info("tf_efficientnetv2_s").name, "efficientnet_v2_s");
}

TEST(MobileNets, OutputShapesForOneAndThreeChannels) {
  for (int64_t c : {1, 3}) {
    for (const char* name : {"mobilenetv1_100", "mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5", "mnasnet_small",
                             "semnasnet_100", "efficientnet_b0", "efficientnet_v2_s"}) {
      mh::Model m = mh::create_model(name, {.inchannels = c, .nclasses = 10});
      EXPECT_EQ(shape(run(m, torch::randn({2, c, 64, 64}))), (Shape{2, 10})) << name;
    }
  }
}

TEST(MobileNets, OneFullSizeForwardEach) {
  // Every family at its default size; the backbone's overall stride is 32.
  for (const char* name : {"mobilenet_v3_large", "efficientnet_b0"}) {
    mh::Model m = mh::create_model(name);
    const int64_t s = mh::model_info(name).input_size[0];
    EXPECT_EQ(shape(run(m, torch::randn({1, 3, s, s}))), (Shape{1, 1000})) << name;
  }
  mh::Model small = mh::MobileNetv3("small");
  testmode(small);
  torch::InferenceMode guard;
  EXPECT_EQ(shape(mh::backbone(small)(torch::randn({1, 3, 224, 224}))), (Shape{1, 576, 7, 7}));
}

TEST(MobileNets, TablesBecomeTorchvisionsBlocks) {
  SkipInit skip;
  // MobileNetv2: stem conv, BatchNorm, relu6 with pad 1 (the Chain keeps their order).
  flux::Chain v2 = mh::mobilenetv2();
  flux::Chain stem(v2[0].as<ChainImpl>()->layers());
  EXPECT_EQ(reprs(stem)[0], "Conv((3, 3), 3 => 32, pad=1, stride=2, bias=false)");
  // EfficientNet-b0: 16 blocks, stochastic depth 0.2·k/16 on the blocks with a skip.
  std::vector<double> probs;
  flux::Chain b0 = mh::efficientnet("b0");
  for (const auto& l : b0[0].as<ChainImpl>()->layers()) {
    if (auto stage = l.as<ChainImpl>()) {
      for (const auto& b : stage->layers()) {
        if (auto skip = b.as<SkipConnectionImpl>()) {
          auto inner = skip->layer().as<ChainImpl>();
          probs.push_back(inner->layers().back().as<mh::layers::StochasticDepthImpl>()->p);
        }
      }
    }
  }
  EXPECT_EQ(probs.size(), 9u);  // 16 blocks, 7 of them change shape
  EXPECT_NEAR(probs.front(), 0.2 * 2 / 16, 1e-12);
  EXPECT_NEAR(probs.back(), 0.2 * 14 / 16, 1e-12);
  // MobileNetv3-large's head: conv to 960, then Dense 960 => 1280 (hardswish), Dropout, Dense.
  flux::Chain v3 = mh::mobilenetv3("large");
  EXPECT_EQ(reprs(flux::Chain(v3[1].as<ChainImpl>()->layers())),
            (Strings{"AdaptiveMeanPool((1, 1))", "Flux.flatten", "Dense(960 => 1280, hardswish)", "Dropout(0.2)",
                     "Dense(1280 => 1000)"}));
}

TEST(MobileNets, GradientsReachTheStem) {
  for (const char* name : {"mobilenet_v3_small", "efficientnet_v2_s"}) {
    mh::Model m = mh::create_model(name, {.nclasses = 3});
    Tensor x = torch::randn({2, 3, 32, 32});
    m(x).sum().backward();
    auto stem_conv = mh::backbone(m)[0].as<ConvImpl>();
    ASSERT_TRUE(stem_conv) << name;
    ASSERT_TRUE(stem_conv->weight.grad().defined()) << name;
    EXPECT_GT(stem_conv->weight.grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST(MobileNets, RefusesUnknownConfigurations) {
  expect_error<std::invalid_argument>([] { mh::MobileNetv3("medium"); }, {"mobilenetv3", "\"medium\"", "\"large\""});
  expect_error<std::invalid_argument>([] { mh::MNASNet("C1"); }, {"mnasnet", "\"C1\"", "\"B1\""});
  expect_error<std::invalid_argument>([] { mh::EfficientNet("b9"); }, {"efficientnet", "\"b9\"", "\"b0\""});
  expect_error<std::invalid_argument>([] { mh::EfficientNetv2("tiny"); }, {"efficientnetv2", "\"tiny\"", "\"small\""});
  expect_error<std::invalid_argument>([] { mh::build_invresmodel({}, {}); }, {"build_invresmodel", "no stages"});
}
