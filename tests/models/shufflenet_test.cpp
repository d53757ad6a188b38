// ShuffleNet V2 against torchvision 0.14: parameter counts, shapes, the unit's split and
// shuffle, and its refusals.
#include <metalhead/metalhead.h>
#include <metalhead/models/shufflenet.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

namespace {

TEST(ShuffleNetv2, CountsEqualTorchvision) {
  SkipInit skip;
  for (const char* w : {"x0_5", "x1_0", "x1_5", "x2_0"}) {
    const std::string name = std::string("shufflenet_v2_") + w;
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})), reference_params("torchvision", name + "@10"))
        << name;
  }
  EXPECT_EQ(parameter_count(mh::ShuffleNetv2(2.0)), reference_params("torchvision", "shufflenet_v2_x2_0"));
  EXPECT_EQ(mh::ShuffleNetv2(0.5)->row, "shufflenet_v2_x0_5");
}

TEST(ShuffleNetv2, ShapesForOneAndThreeChannels) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::ShuffleNetv2(1.0, {.inchannels = c, .nclasses = 10});
    EXPECT_EQ(shape(run(m, torch::randn({2, c, 64, 64}))), (Shape{2, 10})) << "inchannels " << c;
  }
  mh::Model m = mh::ShuffleNetv2(0.5);
  testmode(m);
  torch::InferenceMode guard;
  // Stem, max pool, three stages, the last conv.
  EXPECT_EQ(mh::backbone(m).size(), 6u);
  EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 224, 224}))), (Shape{1, 1024, 7, 7}));
}

TEST(ShuffleNetv2, AStrideOneUnitPassesHalfItsChannelsToTheEvenOutputs) {
  // cat(x1, f(x2)) shuffled in two groups: output channel 2i is input channel i.
  Layer u = mh::shufflenetv2_unit(8, 8, 1);
  testmode(u);
  torch::NoGradGuard no_grad;
  Tensor x = torch::randn({2, 8, 6, 6});
  Tensor y = u(x);
  EXPECT_EQ(shape(y), (Shape{2, 8, 6, 6}));
  EXPECT_TRUE(torch::equal(y.slice(1, 0, 8, 2), x.slice(1, 0, 4)));
  // The odd outputs are the branch's, which end in a relu.
  EXPECT_TRUE((y.slice(1, 1, 8, 2) >= 0).all().item<bool>());
  // Stride 2: both branches see the whole input and halve the size.
  Layer d = mh::shufflenetv2_unit(8, 16, 2);
  testmode(d);
  EXPECT_EQ(shape(d(x)), (Shape{2, 16, 3, 3}));
}

TEST(ShuffleNetv2, Refusals) {
  expect_error<std::invalid_argument>([] { mh::shufflenetv2_unit(8, 16, 1); }, {"shufflenetv2_unit", "keeps its width"});
  expect_error<std::invalid_argument>([] { mh::shufflenetv2_unit(8, 15, 2); }, {"shufflenetv2_unit", "even"});
  expect_error<std::invalid_argument>([] { mh::shufflenetv2(0.75); }, {"shufflenetv2", "0.75", "1.5"});
  expect_error<std::invalid_argument>([] { mh::build_shufflenetv2({4, 8, 4}, {24, 116, 232, 464}); },
                                      {"build_shufflenetv2", "5 for 3 stages", "got 4"});
}

}  // namespace
