// GoogLeNet: torchvision's without aux heads for the registry, Metalhead's for the type.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

namespace {

// (in, 1x1, red3, 3x3, red5, 5x5, pool_proj) of the nine blocks.
const int64_t kBlocks[9][7] = {{192, 64, 96, 128, 16, 32, 32},     {256, 128, 128, 192, 32, 96, 64},
                               {480, 192, 96, 208, 16, 48, 64},    {512, 160, 112, 224, 24, 64, 64},
                               {512, 128, 128, 256, 24, 64, 64},   {512, 112, 144, 288, 32, 64, 64},
                               {528, 256, 160, 320, 32, 128, 128}, {832, 256, 160, 320, 32, 128, 128},
                               {832, 384, 192, 384, 48, 128, 128}};

}  // namespace

TEST(GoogLeNet, RegistryEqualsTorchvisionWithoutAux) {
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::create_model("googlenet")), reference_params("torchvision", "googlenet_noaux"));
  EXPECT_EQ(parameter_count(mh::create_model("googlenet", {.nclasses = 10})),
            reference_params("torchvision", "googlenet_noaux@10"));
}

TEST(GoogLeNet, MetalheadCountsByHand) {
  SkipInit skip;
  // From torchvision's count: every conv trades its BatchNorm (2 per channel) for a bias
  // (1 per channel), and the third branch's 3×3 becomes a 5×5 (16 more weights per pair).
  int64_t channels = 64 + 64 + 192, wider = 0;
  for (const auto& b : kBlocks) {
    channels += b[1] + b[2] + b[3] + b[4] + b[5] + b[6];
    wider += 16 * b[4] * b[5];
  }
  const int64_t tv = reference_params("torchvision", "googlenet_noaux");
  EXPECT_EQ(parameter_count(mh::GoogLeNet()), tv - channels + wider);
  EXPECT_EQ(parameter_count(mh::GoogLeNet({.batchnorm = true, .bias = false})), tv + wider);
}

TEST(GoogLeNet, ShapesAndComposition) {
  for (int64_t c : {1, 3}) {
    for (bool registry : {false, true}) {
      mh::Model m = registry ? mh::create_model("googlenet", {.inchannels = c, .nclasses = 10})
                             : mh::Model(mh::GoogLeNet({.inchannels = c, .nclasses = 10}));
      testmode(m);
      torch::InferenceMode guard;
      EXPECT_EQ(shape(m(torch::randn({2, c, 64, 64}))), (Shape{2, 10}));
    }
  }
  mh::Model m = mh::create_model("googlenet");
  testmode(m);
  torch::InferenceMode guard;
  Tensor x = torch::randn({1, 3, 224, 224});
  EXPECT_EQ(shape(mh::backbone(m)(x)), (Shape{1, 1024, 7, 7}));
  EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), m(x)));
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 1, 64, 64})); }, {"GoogLeNet", "[N, 3, H, W]"});
}
