// SqueezeNet 1.0 and 1.1 against torchvision.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(SqueezeNet, CountsEqualTorchvision) {
  SkipInit skip;  // counting needs no random draws
  EXPECT_EQ(parameter_count(mh::SqueezeNet()), reference_params("torchvision", "squeezenet1_1"));
  for (const char* name : {"squeezenet1_0", "squeezenet1_1"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})),
              reference_params("torchvision", std::string(name) + "@10"));
  }
}

TEST(SqueezeNet, PoolsRoundUpAsTorchvision) {
  // torchvision's ceil_mode pools: 224 → 111 → 55 → 27 → 13 for v1.1; an odd 225 too.
  mh::Model m = mh::SqueezeNet();
  testmode(m);
  torch::InferenceMode guard;
  EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 224, 224}))), (Shape{1, 512, 13, 13}));
  // 113 → 56 by a 3×3/2 conv; a ceil pool gives 28 (a floor pool 27), then 14 and 7.
  EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 113, 113}))), (Shape{1, 512, 7, 7}));
  EXPECT_EQ(shape(mh::fire(64, 16, 64, 64)(torch::randn({1, 64, 5, 5}))), (Shape{1, 128, 5, 5}));
}

TEST(SqueezeNet, Shapes) {
  for (int64_t c : {1, 3}) {
    for (const char* name : {"squeezenet1_0", "squeezenet1_1"}) {
      mh::Model m = mh::create_model(name, {.inchannels = c, .nclasses = 10});
      testmode(m);
      torch::InferenceMode guard;
      EXPECT_EQ(shape(m(torch::randn({2, c, 64, 64}))), (Shape{2, 10})) << name;
    }
  }
  expect_error<std::invalid_argument>([] { mh::squeezenet({.version = "2.0"}); }, {"squeezenet", "\"2.0\"", "\"1.1\""});
}
