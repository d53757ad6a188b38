// RegNet X and Y against torchvision 0.14: the stages its design-space parameters give,
// parameter counts, shapes, the block's layers and its refusals.
#include <metalhead/metalhead.h>
#include <metalhead/models/regnet.h>

#include "flux/testing.h"
#include "reference.h"

#include <map>

using namespace flux;
namespace mh = metalhead;

namespace {

const std::vector<std::string> kConfigs = {"x_400mf", "x_800mf", "x_1_6gf", "x_3_2gf", "x_8gf",
                                           "x_16gf",  "x_32gf",  "y_400mf", "y_800mf", "y_1_6gf",
                                           "y_3_2gf", "y_8gf",   "y_16gf",  "y_32gf",  "y_128gf"};

TEST(RegNet, StagesEqualTorchvisionsQuantisation) {
  // torchvision 0.14's BlockParams.from_init_params(...) widths, depths and group widths
  // (Debian's python3-torchvision), for each builder's parameters.
  const std::map<std::string, std::vector<mh::RegNetStage>> torchvision = {
      {"x_16gf", {{256, 2, 128}, {512, 6, 128}, {896, 13, 128}, {2048, 1, 128}}},
      {"x_1_6gf", {{72, 2, 24}, {168, 4, 24}, {408, 10, 24}, {912, 2, 24}}},
      {"x_32gf", {{336, 2, 168}, {672, 7, 168}, {1344, 13, 168}, {2520, 1, 168}}},
      {"x_3_2gf", {{96, 2, 48}, {192, 6, 48}, {432, 15, 48}, {1008, 2, 48}}},
      {"x_400mf", {{32, 1, 16}, {64, 2, 16}, {160, 7, 16}, {400, 12, 16}}},
      {"x_800mf", {{64, 1, 16}, {128, 3, 16}, {288, 7, 16}, {672, 5, 16}}},
      {"x_8gf", {{80, 2, 80}, {240, 5, 120}, {720, 15, 120}, {1920, 1, 120}}},
      {"y_128gf", {{528, 2, 264}, {1056, 7, 264}, {2904, 17, 264}, {7392, 1, 264}}},
      {"y_16gf", {{224, 2, 112}, {448, 4, 112}, {1232, 11, 112}, {3024, 1, 112}}},
      {"y_1_6gf", {{48, 2, 24}, {120, 6, 24}, {336, 17, 24}, {888, 2, 24}}},
      {"y_32gf", {{232, 2, 232}, {696, 5, 232}, {1392, 12, 232}, {3712, 1, 232}}},
      {"y_3_2gf", {{72, 2, 24}, {216, 5, 24}, {576, 13, 24}, {1512, 1, 24}}},
      {"y_400mf", {{48, 1, 8}, {104, 3, 8}, {208, 6, 8}, {440, 6, 8}}},
      {"y_800mf", {{64, 1, 16}, {144, 3, 16}, {320, 8, 16}, {784, 2, 16}}},
      {"y_8gf", {{224, 2, 56}, {448, 4, 56}, {896, 10, 56}, {2016, 1, 56}}},
  };
  ASSERT_EQ(torchvision.size(), kConfigs.size());
  for (const auto& config : kConfigs) {
    EXPECT_EQ(mh::regnet_stages(mh::regnet_params(config)), torchvision.at(config)) << config;
  }
}

TEST(RegNet, CountsEqualTorchvision) {
  SkipInit skip;  // counting needs no random draws
  for (const auto& config : kConfigs) {
    const std::string name = "regnet_" + config;
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})), reference_params("torchvision", name + "@10"))
        << name;
    EXPECT_EQ(mh::model_info(name).source, "torchvision");
  }
  EXPECT_EQ(parameter_count(mh::RegNet("y_400mf")), reference_params("torchvision", "regnet_y_400mf"));
  EXPECT_EQ(mh::RegNet("y_400mf")->row, "regnet_y_400mf");
  EXPECT_EQ(mh::model_info("regnety_016").name, "regnet_y_1_6gf");  // timm's name, an alias
}

TEST(RegNet, ShapesFeaturesAndChannels) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::RegNet("x_400mf", {.inchannels = c, .nclasses = 10});
    EXPECT_EQ(shape(run(m, torch::randn({2, c, 64, 64}))), (Shape{2, 10})) << "inchannels " << c;
  }
  mh::Model m = mh::RegNet("y_400mf");
  testmode(m);
  torch::InferenceMode guard;
  EXPECT_EQ(mh::backbone(m).size(), 5u);  // stem and four stages
  EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 64, 64}))), (Shape{1, 440, 2, 2}));
}

TEST(RegNet, TheBlocksLayers) {
  // Y block 32 => 48 at stride 2, group width 8, SE 0.25: the SE squeezes to
  // round(0.25 · 32) = 8 channels of the 48-wide bottleneck; the 3×3 conv has 6 groups.
  Layer b = mh::regnet_block(32, 48, 2, 8, 1.0, 0.25);
  std::vector<Shape> shapes;
  for (const auto& p : b->named_parameters()) {
    if (p.key().find("weight") != std::string::npos && p.value().dim() == 4) shapes.push_back(shape(p.value()));
  }
  // The projection shortcut, then a, b, SE fc1, fc2, c.
  EXPECT_EQ(shapes, (std::vector<Shape>{{48, 32, 1, 1}, {48, 32, 1, 1}, {48, 8, 3, 3}, {8, 48, 1, 1}, {48, 8, 1, 1},
                                        {48, 48, 1, 1}}));
  testmode(b);
  {
    torch::NoGradGuard no_grad;
    EXPECT_EQ(shape(b(torch::randn({2, 32, 9, 9}))), (Shape{2, 48, 5, 5}));
  }
  // Same width and stride 1: an identity shortcut, so with f's last BatchNorm at zero
  // scale and shift the block is relu(x).
  Layer id = mh::regnet_block(16, 16, 1, 8);
  torch::Tensor last_bn_weight, last_bn_bias;
  for (const auto& p : id->named_parameters()) {
    if (p.value().dim() != 1) continue;
    if (p.key().find("weight") != std::string::npos) last_bn_weight = p.value();
    if (p.key().find("bias") != std::string::npos) last_bn_bias = p.value();
  }
  torch::NoGradGuard no_grad;
  last_bn_weight.zero_();
  last_bn_bias.zero_();
  testmode(id);
  Tensor x = torch::randn({2, 16, 5, 5});
  EXPECT_TRUE(close(id(x), torch::relu(x)));
}

TEST(RegNet, Refusals) {
  expect_error<std::invalid_argument>([] { mh::regnet_params("x_1gf"); }, {"regnet", "x_1gf", "x_400mf"});
  expect_error<std::invalid_argument>([] { mh::regnet_stages({.depth = 4, .w_0 = 20, .w_a = 8, .w_m = 2}); },
                                      {"regnet_stages", "multiple of 8", "w_0 20"});
  expect_error<std::invalid_argument>([] { mh::regnet_stages({.depth = 4, .w_0 = 24, .w_a = 8, .w_m = 1}); },
                                      {"regnet_stages", "w_m > 1"});
  expect_error<std::invalid_argument>([] { mh::regnet_block(16, 20, 1, 8); }, {"regnet_block", "20", "group width 8"});
  expect_error<std::invalid_argument>([] { mh::build_regnet(mh::regnet_params("x_400mf"), {.nclasses = 0}); },
                                      {"build_regnet", "nclasses"});
}

}  // namespace
