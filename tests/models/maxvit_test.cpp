// MaxViT against torchvision 0.14's maxvit_t: parameter counts, shapes, the MBConv's
// shortcut, the stochastic depth schedule and the refusal of sizes the partitions do not fit.
#include <metalhead/metalhead.h>
#include <metalhead/models/maxvit.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

namespace {

TEST(MaxViT, CountsEqualTorchvision) {
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::create_model("maxvit_t")), reference_params("torchvision", "maxvit_t"));
  EXPECT_EQ(parameter_count(mh::create_model("maxvit_t", {.nclasses = 10})), reference_params("torchvision", "maxvit_t@10"));
  EXPECT_EQ(mh::MaxViT()->row, "maxvit_t");
}

TEST(MaxViT, ShapesAndSizes) {
  mh::Model m = mh::MaxViT("tiny", {.inchannels = 1, .nclasses = 10});
  EXPECT_EQ(shape(run(m, torch::randn({1, 1, 224, 224}))), (Shape{1, 10}));
  // 64 → stage maps of 16, 8, 4, 2: not multiples of the 7 × 7 partition.
  expect_error<std::invalid_argument>([&] { run(m, torch::randn({1, 1, 64, 64})); }, {"PartitionAttention", "multiples of the partition 7"});
  // A small custom MaxViT: partition 2 on a 32 × 32 image (maps 8, 4).
  mh::Model small("MaxViT", mh::build_maxvit(8, {32, 32}, {1, 1}, {.block = {.head_dim = 16, .partition = 2}, .nclasses = 3}), 3);
  EXPECT_EQ(shape(run(small, torch::randn({2, 3, 32, 32}))), (Shape{2, 3}));
}

TEST(MaxViT, TheMBConvShortcutAndTheSchedule) {
  // Stride 2: a 3×3/2 average pool and a biased 1×1 conv; same size and width: the identity.
  Layer down = mh::maxvit_mbconv(8, 16, {.stride = 2});
  Layer same = mh::maxvit_mbconv(16, 16);
  testmode(down);
  testmode(same);
  torch::NoGradGuard g;
  EXPECT_EQ(shape(down(torch::randn({1, 8, 7, 7}))), (Shape{1, 16, 4, 4}));
  int64_t convs = 0;
  for (const auto& p : down->named_parameters()) convs += p.value().dim() == 4;
  EXPECT_EQ(convs, 6);  // shortcut, a, b (depthwise), SE fc1, fc2, c
  // The last conv and BatchNorm shift at 0 zero f: the identity shortcut passes x.
  for (const auto& p : same->named_parameters()) {
    if (p.key().find("weight") != std::string::npos && p.value().dim() == 4 && p.value().size(1) == 64) p.value().zero_();
    if (p.value().dim() == 1 && p.value().size(0) == 16 && p.key().find("bias") != std::string::npos) p.value().zero_();
  }
  Tensor x = torch::randn({1, 16, 5, 5});
  EXPECT_TRUE(close(same(x), x));
  // maxvit_t: 11 layers, each with three stochastic depths, linspace(0, 0.2, 11).
  const std::vector<double> p = drop_paths(mh::create_model("maxvit_t"));
  ASSERT_EQ(p.size(), 33u);
  for (size_t i = 0; i < 11; ++i) EXPECT_NEAR(p[3 * i], 0.2 * static_cast<double>(i) / 10, 1e-12) << i;
}

}  // namespace
