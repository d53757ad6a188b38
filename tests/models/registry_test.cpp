// The registry: create_model, list_models, model_info and the Model handle.
#include <metalhead/metalhead.h>
#include <metalhead/placeholders.h>

#include <cstdlib>
#include <sstream>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;

TEST(Registry, ListsTorchvisionAndTimmNames) {
  auto names = metalhead::list_models();
  for (const char* n : {"resnet50", "wide_resnet50_2", "resnext101_64x4d", "vgg16_bn", "squeezenet1_1", "densenet161",
                        "alexnet", "seresnet50", "seresnext50_32x4d", "res2net50_26w_4s", "res2next50",
                        "googlenet", "inception_v3", "inception_v4", "inception_resnet_v2", "legacy_xception"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  auto resnets = metalhead::list_models("resnet1");
  EXPECT_EQ(resnets, (std::vector<std::string>{"resnet101", "resnet152", "resnet18", "seresnet101", "seresnet152",
                                               "seresnet18", "wide_resnet101_2"}));
}

TEST(Registry, UnknownNamesSuggestNeighbours) {
  expect_error<std::invalid_argument>([] { metalhead::create_model("resnet51"); }, {"unknown model 'resnet51'", "resnet50"});
  expect_error<std::invalid_argument>([] { metalhead::create_model("zzz"); }, {"unknown model 'zzz'", "list_models"});
}

TEST(Registry, AliasesGiveTheSameEntry) {
  EXPECT_EQ(metalhead::model_info("res2next50_4w_4s_8x").name, "res2next50");
  EXPECT_EQ(metalhead::model_info("xception").name, "legacy_xception");
  EXPECT_EQ(metalhead::model_info("inception_v3").input_size, (std::vector<int64_t>{299, 299}));
  EXPECT_EQ(metalhead::model_info("resnet50").family, "ResNet");
  EXPECT_EQ(metalhead::model_info("resnet50").source, "torchvision");
}

TEST(Registry, ModelHandleWorksWithFluxFunctions) {
  metalhead::Model m = metalhead::create_model("resnet18", {.inchannels = 1, .nclasses = 10});
  // torchvision's resnet18 with 10 classes, less the first conv's two missing input channels.
  EXPECT_EQ(parameter_count(m), reference_params("torchvision", "resnet18@10") - 2 * 7 * 7 * 64);
  testmode(m);
  Tensor x = torch::randn({2, 1, 64, 64});
  Tensor y;
  {
    torch::InferenceMode guard;
    y = m(x);
    EXPECT_TRUE(torch::equal(metalhead::classifier(m)(metalhead::backbone(m)(x)), y));
  }
  EXPECT_EQ(shape(y), (Shape{2, 10}));
  std::string printed_model = printed(m);
  EXPECT_EQ(printed_model.rfind("ResNet(", 0), 0u);
  EXPECT_NE(printed_model.find("# Total: "), std::string::npos);
  expect_error<std::invalid_argument>([&] { m(torch::randn({2, 3, 64, 64})); }, {"ResNet", "[N, 1, H, W]", "[2, 3, 64, 64]"});
}

TEST(Registry, PretrainWithoutWeightsSaysWhere) {
  ::setenv("METALHEAD_WEIGHTS", "/nonexistent/metalhead-weights", 1);
  expect_error<std::runtime_error>([] { metalhead::create_model("resnet18", {.pretrain = true}); },
                                   {"ResNet", "pretrain", "/nonexistent/metalhead-weights/resnet18.safetensors"});
  ::unsetenv("METALHEAD_WEIGHTS");
}

// The configuration tables hold activations copied from flux's globals; copied during
// static initialisation they would be empty (the order across files is unspecified)
// and print as `BatchNorm(32, )`. Every model's activations must have their names.
TEST(Registry, EveryActivationHasItsName) {
  for (const auto& name : metalhead::list_models()) {
    std::ostringstream os;
    os << *metalhead::placeholder_model(metalhead::model_info(name)).ptr();
    EXPECT_EQ(os.str().find(", )"), std::string::npos) << name;
    EXPECT_EQ(os.str().find("(, "), std::string::npos) << name;
  }
}
