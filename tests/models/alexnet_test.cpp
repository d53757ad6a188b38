// AlexNet against torchvision.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(AlexNet, CountsEqualTorchvision) {
  SkipInit skip;  // counting needs no random draws
  EXPECT_EQ(parameter_count(mh::AlexNet()), reference_params("torchvision", "alexnet"));
  EXPECT_EQ(parameter_count(mh::create_model("alexnet", {.nclasses = 10})), reference_params("torchvision", "alexnet@10"));
}

TEST(AlexNet, Shapes) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::create_model("alexnet", {.inchannels = c, .nclasses = 10});
    testmode(m);
    torch::InferenceMode guard;
    EXPECT_EQ(shape(m(torch::randn({2, c, 64, 64}))), (Shape{2, 10}));  // torch's adaptive pool upsamples 1×1
  }
  mh::Model m = mh::AlexNet({.nclasses = 10});
  testmode(m);
  torch::InferenceMode guard;
  Tensor x = torch::randn({1, 3, 224, 224});
  EXPECT_EQ(shape(mh::backbone(m)(x)), (Shape{1, 256, 6, 6}));
  EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), m(x)));
}
