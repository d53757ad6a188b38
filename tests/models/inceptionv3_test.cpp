// Inception v3: torchvision's inception_v3 without the auxiliary head.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(Inceptionv3, CountsEqualTorchvisionWithoutAux) {
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::Inceptionv3()), reference_params("torchvision", "inception_v3_noaux"));
  EXPECT_EQ(parameter_count(mh::create_model("inception_v3")), reference_params("torchvision", "inception_v3_noaux"));
  EXPECT_EQ(parameter_count(mh::create_model("inception_v3", {.nclasses = 10})),
            reference_params("torchvision", "inception_v3_noaux@10"));
}

TEST(Inceptionv3, BlocksKeepTorchvisionsShapes) {
  Tensor x = torch::randn({1, 288, 35, 35});
  Layer b = mh::inceptionv3_b(288);
  testmode(b);
  EXPECT_EQ(shape(b(x)), (Shape{1, 768, 17, 17}));
  Layer c = mh::inceptionv3_c(768, 128);
  testmode(c);
  EXPECT_EQ(shape(c(torch::randn({1, 768, 17, 17}))), (Shape{1, 768, 17, 17}));
  Layer e = mh::inceptionv3_e(1280);
  testmode(e);
  EXPECT_EQ(shape(e(torch::randn({1, 1280, 8, 8}))), (Shape{1, 2048, 8, 8}));
}

TEST(Inceptionv3, ShapesAtTheMinimumAndDefaultSizes) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::Inceptionv3({.inchannels = c, .nclasses = 10});
    testmode(m);
    torch::InferenceMode guard;
    EXPECT_EQ(shape(m(torch::randn({2, c, 75, 75}))), (Shape{2, 10}));
  }
  mh::Model m = mh::create_model("inception_v3");
  testmode(m);
  torch::InferenceMode guard;
  Tensor x = torch::randn({1, 3, 299, 299});
  EXPECT_EQ(shape(mh::backbone(m)(x)), (Shape{1, 2048, 8, 8}));
  EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), m(x)));
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 2, 75, 75})); }, {"Inceptionv3", "[N, 3, H, W]"});
}
