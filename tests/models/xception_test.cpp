// Xception against timm's legacy_xception.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(Xception, CountsEqualTimm) {
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::Xception()), reference_params("timm", "legacy_xception"));
  EXPECT_EQ(parameter_count(mh::create_model("xception", {.nclasses = 10})), reference_params("timm", "legacy_xception@10"));
}

TEST(Xception, BlocksAndShapes) {
  Layer block = mh::xception_block(64, 128, 2, {.stride = 2, .start_with_relu = false});
  auto body = block.as<ParallelImpl>()->operator[](1).as<ChainImpl>();
  EXPECT_EQ((*body)[0]->repr(), "Chain(Conv((3, 3), 64 => 64, pad=1, groups=64, bias=false), Conv((1, 1), 64 => 128, bias=false))");
  testmode(block);
  EXPECT_EQ(shape(block(torch::randn({1, 64, 9, 9}))), (Shape{1, 128, 5, 5}));
  Layer middle = mh::xception_block(728, 728, 3);
  EXPECT_EQ(middle.as<ParallelImpl>()->operator[](0)->repr(), "identity");
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::Xception({.inchannels = c, .nclasses = 10});
    testmode(m);
    torch::InferenceMode guard;
    Tensor x = torch::randn({2, c, 64, 64});
    EXPECT_EQ(shape(m(x)), (Shape{2, 10}));
    EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), m(x)));
  }
  mh::Model m = mh::create_model("legacy_xception");
  testmode(m);
  torch::InferenceMode guard;
  EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 299, 299}))), (Shape{1, 2048, 10, 10}));
}
