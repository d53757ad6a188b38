// Inception v4 and Inception-ResNet v2 against timm.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(Inceptionv4, CountsEqualTimm) {
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::Inceptionv4()), reference_params("timm", "inception_v4"));
  EXPECT_EQ(parameter_count(mh::create_model("inception_v4", {.nclasses = 10})), reference_params("timm", "inception_v4@10"));
  EXPECT_EQ(parameter_count(mh::InceptionResNetv2()), reference_params("timm", "inception_resnet_v2"));
  EXPECT_EQ(parameter_count(mh::create_model("inception_resnet_v2", {.nclasses = 10})),
            reference_params("timm", "inception_resnet_v2@10"));
}

TEST(Inceptionv4, ShapesAtTheMinimumSize) {
  for (int64_t c : {1, 3}) {
    for (const char* name : {"inception_v4", "inception_resnet_v2"}) {
      mh::Model m = mh::create_model(name, {.inchannels = c, .nclasses = 10});
      testmode(m);
      torch::InferenceMode guard;
      Tensor x = torch::randn({2, c, 75, 75});
      Tensor y = m(x);
      EXPECT_EQ(shape(y), (Shape{2, 10})) << name;
      EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), y)) << name;
    }
  }
  mh::Model m = mh::Inceptionv4();
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 1, 75, 75})); }, {"Inceptionv4", "[N, 3, H, W]"});
}

TEST(Inceptionv4, ResidualBlocksScaleTheBranch) {
  // With every weight of the projection zero, a block is relu(x) (or x without relu).
  Layer b = mh::block8(0.2, false);
  testmode(b);
  auto skip = b.as<SkipConnectionImpl>();
  ASSERT_TRUE(skip);
  auto branch = skip->layer().as<ChainImpl>();
  auto proj = (*branch)[1].as<ConvImpl>();
  {
    torch::NoGradGuard no_grad;
    proj->weight.zero_();
    proj->bias.fill_(1.0);
  }
  Tensor x = torch::randn({1, 2080, 3, 3});
  torch::InferenceMode guard;
  EXPECT_TRUE(close(b(x), x + 0.2));  // scale · bias added, no relu
  Layer relu_block = mh::block35(0.17);
  testmode(relu_block);
  EXPECT_GE(relu_block(torch::randn({1, 320, 5, 5})).min().item<double>(), 0.0);
}

TEST(Inceptionv4, DefaultSizeOnce) {
  for (const char* name : {"inception_v4", "inception_resnet_v2"}) {
    mh::Model m = mh::create_model(name);
    testmode(m);
    torch::InferenceMode guard;
    EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 299, 299}))), (Shape{1, 1536, 8, 8})) << name;
  }
}
