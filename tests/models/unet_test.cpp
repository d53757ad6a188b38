// UNet (Metalhead's, on a ResNet-18 encoder) against a hand count and a torch construction.
#include <metalhead/metalhead.h>
#include <metalhead/models/unet.h>

#include "flux/testing.h"
#include "reference.h"


using namespace flux;
namespace mh = metalhead;

namespace {

struct Combine {
  int64_t in, out;
  bool operator==(const Combine&) const = default;
};

// The first conv of every unet_block's combine layer, outermost block first. A block is
// [SkipConnection(Chain(Chain(down, Chain(child...)), upsample), join), relu, combine].
void combines(const Chain& u, std::vector<Combine>& out) {
  for (size_t i = 0; i < u.size(); ++i) {
    auto skip = (*u)[i].as<SkipConnectionImpl>();
    if (!skip) continue;
    auto combine = (*u)[i + 2].as<ChainImpl>();
    auto conv = (*(*combine)[0].as<ChainImpl>())[0].as<ConvImpl>();
    out.push_back({conv->in_channels(), conv->out_channels()});
    auto m_child = (*skip->layer().as<ChainImpl>())[0].as<ChainImpl>();
    combines(Chain((*m_child)[1].as<ChainImpl>()), out);
  }
}

}  // namespace

TEST(UNet, CountsEqualHandDerivation) {
  // No SkipInit: building a UNet runs its backbone once, which a SkipInit model (meta weights
  // beside filled norm layers) cannot do.
  // ResNet-18 without fc: 11,689,512 − 513,000 = 11,176,512. Decoder blocks (inplanes,
  // midplanes → outplanes), each a 1×1 conv to 4·mid + BN(4·mid), BN(inplanes) on the skip,
  // 3×3 (in+mid → out) + BN, 3×3 (out → out) + BN:
  //   (256, 512 → 256) 1,052,672 + 512 + 2,360,320 = 3,413,504
  //   (128, 256 → 128)   264,192 + 256 +   590,336 =   854,784
  //   ( 64, 128 →  64)    66,560 + 128 +   147,712 =   214,400
  //   ( 64,  64 →  64)    16,896 + 128 +   110,848 =   127,872
  //   (  3,  64 →   3)    16,896 +   6 +     1,902 =    18,804
  // final: basicblock(3, 3) 174 + 1×1 conv 9 + BN 6 = 189. Total 15,806,065.
  const int64_t hand = 11'176'512 + 3'413'504 + 854'784 + 214'400 + 127'872 + 18'804 + 189;
  EXPECT_EQ(hand, 15'806'065);
  EXPECT_EQ(reference_params("metalhead", "unet"), hand);
  EXPECT_EQ(parameter_count(mh::UNet({.imsize = {64, 64}})), hand);  // the structure is the same at 64
  EXPECT_EQ(parameter_count(mh::create_model("unet", {.nclasses = 3})), hand);
  EXPECT_EQ(parameter_count(mh::create_model("unet", {.nclasses = 10})), reference_params("metalhead", "unet@10"));
  EXPECT_EQ(parameter_count(mh::create_model("unet", {.inchannels = 1, .nclasses = 10})),
            reference_params("metalhead", "unet_in1@10"));
}

TEST(UNet, DecoderMirrorsResNet18Stages) {
  mh::Model m = mh::UNet({.imsize = {64, 64}});
  // One block per halving (stem conv, max pool, stages 2-4), each back to its input's planes.
  std::vector<Combine> found;
  combines(mh::backbone(m), found);
  EXPECT_EQ(found, (std::vector<Combine>{{3 + 64, 3}, {64 + 64, 64}, {64 + 128, 64}, {128 + 256, 128}, {256 + 512, 256}}));
  EXPECT_EQ(mh::backbone(m).size(), 3u);  // the outermost block: skip, relu, combine
  EXPECT_EQ(printed(m).rfind("UNet(", 0), 0u);
  const auto& info = mh::model_info("unet");
  EXPECT_EQ(info.family, "UNet");
  EXPECT_EQ(info.source, "Metalhead");
  EXPECT_EQ(info.input_size, (std::vector<int64_t>{256, 256}));
}

TEST(UNet, OutputKeepsInputSize) {
  for (int64_t c : {1, 3}) {
    mh::Model m = mh::UNet({.imsize = {64, 64}, .inchannels = c, .outplanes = 10});
    testmode(m);
    torch::InferenceMode guard;
    EXPECT_EQ(shape(m(torch::randn({2, c, 64, 64}))), (Shape{2, 10, 64, 64}));
    EXPECT_EQ(shape(m(torch::randn({1, c, 96, 128}))), (Shape{1, 10, 96, 128}));
    EXPECT_EQ(shape(m(torch::randn({1, c, 32, 32}))), (Shape{1, 10, 32, 32}));
  }
}

TEST(UNet, Options) {
  Chain encoder = mh::backbone(mh::ResNet(18));
  torch::InferenceMode guard;
  // fdownscale: the first halving gets no block, so the output is half the size.
  Chain half = mh::unet(encoder, {.imsize = {64, 64}, .outplanes = 2, .fdownscale = 1});
  testmode(half);
  EXPECT_EQ(shape(half(torch::zeros({1, 3, 64, 64}))), (Shape{1, 2, 32, 32}));
  // A middle block at the bottom of the U adds exactly its parameters.
  Chain plain = mh::unet(encoder, {.imsize = {64, 64}, .outplanes = 2});
  Chain middle = mh::unet(encoder, {.imsize = {64, 64}, .outplanes = 2, .middle = mh::unet_middle_block});
  testmode(middle);
  EXPECT_EQ(parameter_count(middle) - parameter_count(plain), 9 * 512 * 1024 + 2 * 1024 + 9 * 1024 * 512 + 2 * 512);
  EXPECT_EQ(shape(middle(torch::zeros({1, 3, 64, 64}))), (Shape{1, 2, 64, 64}));
}

TEST(UNet, AcceptsOtherBackbones) {
  // Metalhead's UNet() default: a DenseNet-121 encoder (transitions halve by mean pools).
  mh::Model m = mh::UNet(mh::backbone(mh::DenseNet(121)), {.imsize = {32, 32}, .outplanes = 2});
  testmode(m);
  torch::InferenceMode guard;
  EXPECT_EQ(shape(m(torch::randn({1, 3, 32, 32}))), (Shape{1, 2, 32, 32}));
}

TEST(UNet, RefusesSizesTheBackboneDoesNotDivide) {
  // 100 → 50 → 25 → 13: the second stage's first block does not halve 25 exactly.
  expect_error<std::invalid_argument>([] { mh::UNet({.imsize = {100, 100}}); },
                                      {"unet", "layer 5", "Parallel", "25×25 to 13×13", "divisible by 32"});
  expect_error<std::invalid_argument>([] { mh::UNet({.imsize = {64}}); }, {"unet", "imsize [64]"});
  // The backbone's stem wants 3 channels.
  expect_error<std::invalid_argument>(
      [] { mh::unet(mh::backbone(mh::ResNet(18)), {.imsize = {64, 64}, .inchannels = 1}); },
      {"unet", "[1, 1, 64, 64]", "layer 0", "Conv"});

  mh::Model m = mh::UNet({.imsize = {64, 64}});
  torch::InferenceMode guard;
  expect_error<std::invalid_argument>([&] { m(torch::zeros({1, 3, 48, 48})); },
                                      {"UNet", "divisible by 32", "[1, 3, 48, 48]"});
  expect_error<std::invalid_argument>([&] { m(torch::zeros({1, 1, 64, 64})); }, {"UNet", "[N, 3, H, W]", "[1, 1, 64, 64]"});
  // The low-level Chain has no such check; its skip join names the cause.
  Chain u = mh::unet(mh::backbone(mh::ResNet(18)), {.imsize = {64, 64}});
  expect_error<std::invalid_argument>([&] { u(torch::zeros({1, 3, 48, 48})); }, {"unet_block", "differ in size", "divisible"});
}

TEST(UNet, GradientsReachTheFirstConv) {
  Chain encoder = mh::backbone(mh::ResNet(18));
  mh::Model m = mh::UNet(encoder, {.imsize = {64, 64}, .outplanes = 2});  // shares the encoder's layers
  m(torch::randn({2, 3, 64, 64})).sum().backward();
  auto stem_conv = encoder[0].as<ChainImpl>()->operator[](0).as<ConvImpl>();
  ASSERT_TRUE(stem_conv->weight.grad().defined());
  EXPECT_GT(stem_conv->weight.grad().abs().sum().item<double>(), 0.0);
}

TEST(UNet, FullSizeForward) {
  mh::Model m = mh::create_model("unet", {.nclasses = 3});
  testmode(m);
  torch::InferenceMode guard;
  EXPECT_EQ(shape(m(torch::randn({1, 3, 256, 256}))), (Shape{1, 3, 256, 256}));
}

TEST(UNet, UnderSkipInitCountsOrSaysWhy) {
  // A UNet's construction runs its backbone. Under SkipInit that works when every tensor is
  // meta; a mix of meta weights and filled norm layers cannot run, and the message says so.
  SkipInit skip;
  try {
    EXPECT_EQ(parameter_count(mh::UNet({.imsize = {64, 64}})), reference_params("metalhead", "unet"));
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("SkipInit"), std::string::npos) << e.what();
  }
}
