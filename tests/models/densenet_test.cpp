// DenseNet against torchvision, and Metalhead's growth-rate-32 DenseNet-161.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(DenseNet, RegistryCountsEqualTorchvision) {
  SkipInit skip;  // counting needs no random draws
  for (const char* name : {"densenet121", "densenet161", "densenet169", "densenet201"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
  }
  EXPECT_EQ(parameter_count(mh::create_model("densenet121", {.nclasses = 10})),
            reference_params("torchvision", "densenet121@10"));
}

TEST(DenseNet, MetalheadConfigurations) {
  SkipInit skip;  // counting needs no random draws
  EXPECT_EQ(parameter_count(mh::DenseNet(121)), reference_params("torchvision", "densenet121"));
  EXPECT_EQ(parameter_count(mh::DenseNet(161)), reference_params("metalhead", "densenet161_k32"));
  expect_error<std::invalid_argument>([] { mh::DenseNet(100); }, {"DenseNet", "config 100", "121, 161, 169, 201"});
}

TEST(DenseNet, LayersAppendTheirFeatures) {
  Layer layer = mh::dense_bottleneck(16, 8);
  testmode(layer);
  Tensor x = torch::randn({2, 16, 5, 5});
  Tensor y = layer(x);
  EXPECT_EQ(shape(y), (Shape{2, 24, 5, 5}));
  EXPECT_TRUE(torch::equal(y.slice(1, 0, 16), x));  // the input first, as torchvision concatenates
  EXPECT_EQ(shape(mh::transition(24, 12)(y)), (Shape{2, 12, 2, 2}));
}

TEST(DenseNet, Shapes) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::DenseNet(121, {.inchannels = c, .nclasses = 10});
    testmode(m);
    torch::InferenceMode guard;
    EXPECT_EQ(shape(m(torch::randn({2, c, 64, 64}))), (Shape{2, 10}));
  }
  mh::Model m = mh::create_model("densenet121");
  testmode(m);
  torch::InferenceMode guard;
  Tensor x = torch::randn({1, 3, 224, 224});
  EXPECT_EQ(shape(mh::backbone(m)(x)), (Shape{1, 1024, 7, 7}));
  EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), m(x)));
}
