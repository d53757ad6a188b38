// VGG: torchvision's counts for the registry names, Metalhead's for VGG(depth).
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(VGG, RegistryCountsEqualTorchvision) {
  SkipInit skip;  // counting needs no random draws
  for (int depth : {11, 13, 16, 19}) {
    for (std::string suffix : {"", "_bn"}) {
      const std::string name = "vgg" + std::to_string(depth) + suffix;
      EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    }
  }
  EXPECT_EQ(parameter_count(mh::create_model("vgg16", {.nclasses = 10})), reference_params("torchvision", "vgg16@10"));
}

TEST(VGG, MetalheadHasNoConvBiasNextToBatchNorm) {
  SkipInit skip;  // counting needs no random draws
  for (int depth : {11, 13, 16, 19}) {
    EXPECT_EQ(parameter_count(mh::VGG(depth, {.batchnorm = true})),
              reference_params("metalhead", "vgg" + std::to_string(depth) + "_bn_nobias"));
  }
  EXPECT_EQ(parameter_count(mh::VGG(16)), reference_params("torchvision", "vgg16"));
}

TEST(VGG, ShapesAtSmallAndDefaultSizes) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::create_model("vgg11_bn", {.inchannels = c, .nclasses = 10});
    testmode(m);
    torch::InferenceMode guard;
    EXPECT_EQ(shape(m(torch::randn({2, c, 32, 32}))), (Shape{2, 10}));
    mh::Model small = mh::VGG(11, {.inchannels = c, .nclasses = 10, .imsize = {32, 32}});
    EXPECT_EQ(shape(small(torch::randn({2, c, 32, 32}))), (Shape{2, 10}));
  }
  mh::Model m = mh::VGG(11);
  testmode(m);
  torch::InferenceMode guard;
  Tensor x = torch::randn({1, 3, 224, 224});
  EXPECT_EQ(shape(m(x)), (Shape{1, 1000}));
  EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), m(x)));
}

TEST(VGG, RefusesUnknownDepthAndWrongInput) {
  expect_error<std::invalid_argument>([] { mh::VGG(12); }, {"VGG", "depth 12", "11, 13, 16, 19"});
  mh::Model m = mh::create_model("vgg11");
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 4, 32, 32})); }, {"VGG", "[N, 3, H, W]"});
}
