// UNet (Metalhead's, on a ResNet-18 encoder) against a hand count and a torch construction;
// the U built from an encoder's feature stages against the one a probe finds.
#include <flux/conv.h>
#include <metalhead/features.h>
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
  // From the stages: 32 does not divide 100.
  expect_error<std::invalid_argument>([] { mh::UNet({.imsize = {100, 100}}); },
                                      {"unet(ResNet)", "imsize [100, 100]", "downsampling 32"});
  // From a probe: 100 → 50 → 25 → 13: the second stage's first block does not halve 25 exactly.
  expect_error<std::invalid_argument>([] { mh::unet(mh::backbone(mh::ResNet(18)), {.imsize = {100, 100}}); },
                                      {"unet", "layer 5", "Parallel", "25×25 to 13×13", "divisible by 32"});
  expect_error<std::invalid_argument>([] { mh::UNet({.imsize = {64}}); }, {"unet", "imsize [64]"});
  // The backbone's stem wants 3 channels.
  expect_error<std::invalid_argument>(
      [] { mh::unet(mh::backbone(mh::ResNet(18)), {.imsize = {64, 64}, .inchannels = 1}); },
      {"unet", "[1, 1, 64, 64]", "layer 0", "Conv"});
  expect_error<std::invalid_argument>([] { mh::unet(mh::ResNet(18), {.imsize = {64, 64}, .inchannels = 1}); },
                                      {"unet(ResNet)", "inchannels 1", "takes 3"});
  // Token stages are no maps to decode.
  expect_error<std::invalid_argument>([] { mh::UNet(mh::ViT("tiny"), {.imsize = {224, 224}}); },
                                      {"unet(ViT)", "tokens", "convolutional"});

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

TEST(UNet, UnderSkipInitCounts) {
  // From the stages, no forward runs, so a SkipInit model counts as the real one.
  {
    SkipInit skip;
    EXPECT_EQ(parameter_count(mh::UNet({.imsize = {64, 64}})), reference_params("metalhead", "unet"));
  }
  // A probe cannot run a mix of meta weights and filled norm layers; the message says so.
  SkipInit skip;
  try {
    EXPECT_EQ(parameter_count(mh::UNet(mh::backbone(mh::ResNet(18)), {.imsize = {64, 64}})),
              reference_params("metalhead", "unet"));
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("SkipInit"), std::string::npos) << e.what();
  }
}

TEST(UNet, StagesGiveTheProbedU) {
  // On ResNet-18 the stage outputs are the inputs of the halving layers, so the two
  // constructions are one network: the same tensors in the same order, and, with the
  // decoder's tensors copied across, the same output.
  mh::Model encoder = mh::ResNet(18);
  Chain probed = mh::unet(mh::backbone(encoder), {.imsize = {64, 64}, .outplanes = 2});
  Chain staged = mh::unet(encoder, {.imsize = {64, 64}, .outplanes = 2});
  auto a = probed->parameters(), b = staged->parameters();
  auto abuf = probed->buffers(), bbuf = staged->buffers();
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(abuf.size(), bbuf.size());
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].sizes(), b[i].sizes()) << "parameter " << i;
      b[i].copy_(a[i]);
    }
    for (size_t i = 0; i < abuf.size(); ++i) bbuf[i].copy_(abuf[i]);
  }
  std::vector<Combine> pc, sc;
  combines(Chain((*probed)[0].as<ChainImpl>()), pc);
  combines(Chain((*staged)[0].as<ChainImpl>()), sc);
  EXPECT_EQ(pc, sc);
  testmode(probed);
  testmode(staged);
  torch::InferenceMode guard;
  const Tensor x = torch::randn({2, 3, 64, 96});
  EXPECT_TRUE(torch::allclose(probed(x), staged(x), 1e-5, 1e-5));
}

TEST(UNet, OnAnyEncodersStages) {
  torch::InferenceMode guard;
  // EfficientNet-B0: stages at 2, 4, 8, 16, 32 (the skips 3, 16, 24, 40, 112 planes).
  mh::Model eff = mh::UNet(mh::EfficientNet("b0"), {.imsize = {64, 64}, .outplanes = 2});
  testmode(eff);
  EXPECT_EQ(shape(eff(torch::randn({1, 3, 64, 64}))), (Shape{1, 2, 64, 64}));
  std::vector<Combine> found;
  combines(mh::backbone(eff), found);
  EXPECT_EQ(found, (std::vector<Combine>{{3 + 16, 3}, {16 + 24, 16}, {24 + 40, 24}, {40 + 112, 40}, {112 + 320, 112}}));
  // VGG-11's first stage is at full size: it runs before the U, whose top skip it is.
  mh::Model vgg = mh::UNet(mh::VGG(11), {.imsize = {64, 64}, .outplanes = 2});
  testmode(vgg);
  EXPECT_EQ(shape(vgg(torch::randn({1, 3, 64, 64}))), (Shape{1, 2, 64, 64}));
  found.clear();
  combines(Chain(mh::backbone(vgg)), found);
  EXPECT_EQ(found.front(), (Combine{64 + 128, 64}));
  EXPECT_EQ(found.size(), 5u);
}

TEST(UNet, StageFactorsOtherThanTwo) {
  // A hand-made encoder: a 4×4 patchify (stride 4) to 8 planes, then a stride-2 conv to 16.
  mh::Model tiny("Tiny", Chain(Conv({4, 4}, {3, 8}, identity, {.stride = 4}), Conv({2, 2}, {8, 16}, identity, {.stride = 2})),
             Chain(flatten), 3);
  tiny->features.stages = {{8, 4, "layers.0.0"}, {16, 8, "layers.0.1"}};
  // encoder 392 + 528; block (8, 16 → 8, r 2): 1×1 16→64 + BN 1,152, BN(8) 16, 3×3 24→8 + BN
  // 1,744, 3×3 8→8 + BN 592; block (3, 8 → 3, r 4): 1×1 8→128 + BN 1,280, BN(3) 6, 3×3 11→3
  // + BN 303, 3×3 3→3 + BN 87; final basicblock(3, 3) 174, 1×1 3→2 + BN 10.
  mh::Model u = mh::UNet(tiny, {.imsize = {32, 32}, .outplanes = 2});
  EXPECT_EQ(parameter_count(u), 920 + 3'504 + 1'676 + 184);
  testmode(u);
  torch::InferenceMode guard;
  EXPECT_EQ(shape(u(torch::randn({1, 3, 32, 32}))), (Shape{1, 2, 32, 32}));
  expect_error<std::invalid_argument>([&] { u(torch::zeros({1, 3, 36, 36})); }, {"UNet", "divisible by 8"});
  // fdownscale 1: the factor-4 level gets no block.
  Chain quarter = mh::unet(tiny, {.imsize = {32, 32}, .outplanes = 2, .fdownscale = 1});
  testmode(quarter);
  EXPECT_EQ(shape(quarter(torch::randn({1, 3, 32, 32}))), (Shape{1, 2, 8, 8}));
  // A stage that does not downsample by a whole factor.
  tiny->features.stages = {{8, 4, "layers.0.0"}, {16, 6, "layers.0.1"}};
  expect_error<std::invalid_argument>([&] { mh::UNet(tiny, {.imsize = {48, 48}}); },
                                      {"unet(Tiny)", "stage 1", "reduction 6 after 4", "whole factor"});
}
