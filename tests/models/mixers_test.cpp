// MLPMixer, ResMLP and gMLP against timm's MlpMixer: parameter counts, shapes, and each
// block's forward against torch's functional ops.
#include <flux/flux.h>
#include <metalhead/layers.h>
#include <metalhead/models/mixers.h>
#include <metalhead/registry.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

namespace {

void expect_timm_counts(const std::vector<std::string>& names) {
  SkipInit skip;  // counting needs no random draws
  for (const auto& name : names) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("timm", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})), reference_params("timm", name + "@10")) << name;
  }
}

// The first Conv of a mixer: the patch embedding's.
std::shared_ptr<ConvImpl> patch_conv(const mh::Model& m) {
  return mh::backbone(m)[0].as<ChainImpl>()->operator[](0).as<ConvImpl>();
}

std::shared_ptr<ChainImpl> branch(const Layer& skip) { return skip.as<SkipConnectionImpl>()->layer().as<ChainImpl>(); }
std::shared_ptr<DenseImpl> dense(const Layer& l) { return l.as<DenseImpl>(); }

void randomise(const Layer& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.normal_();
}

// mlp_block(x) with torch's ops: fc2(gelu(fc1(x))).
Tensor mlp(const std::shared_ptr<ChainImpl>& c, const Tensor& x) {
  auto fc1 = dense((*c)[0]), fc2 = dense((*c)[2]);
  return torch::linear(torch::gelu(torch::linear(x, fc1->weight, fc1->bias)), fc2->weight, fc2->bias);
}

}  // namespace

TEST(MLPMixer, CountsEqualTimm) {
  expect_timm_counts({"mixer_s16_224", "mixer_s32_224", "mixer_b16_224", "mixer_b32_224", "mixer_l16_224", "mixer_l32_224"});
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::MLPMixer("base")), reference_params("timm", "mixer_b16_224"));
  EXPECT_EQ(parameter_count(mh::MLPMixer("small", {.patch_size = {32, 32}})), reference_params("timm", "mixer_s32_224"));
  // Metalhead's :huge, which timm does not ship, built from timm's MlpMixer class.
  EXPECT_EQ(parameter_count(mh::MLPMixer("huge")), reference_params("metalhead", "mixer_h16_224"));
  EXPECT_EQ(parameter_count(mh::create_model("mixer_h16_224", {.nclasses = 10})),
            reference_params("metalhead", "mixer_h16_224@10"));
}

TEST(ResMLP, CountsEqualTimm) {
  expect_timm_counts({"resmlp_12_224", "resmlp_24_224", "resmlp_36_224", "resmlp_big_24_224"});
  SkipInit skip;
  // Metalhead's sizes, built from timm's MlpMixer with ResBlock and Affine.
  for (std::string size : {"small", "base", "large", "huge"}) {
    EXPECT_EQ(parameter_count(mh::ResMLP(size)), reference_params("metalhead", "resmlp_" + size)) << size;
    EXPECT_EQ(parameter_count(mh::ResMLP(size, {.nclasses = 10})), reference_params("metalhead", "resmlp_" + size + "@10"));
  }
}

TEST(gMLP, CountsEqualTimm) {
  expect_timm_counts({"gmlp_ti16_224", "gmlp_s16_224", "gmlp_b16_224"});
  SkipInit skip;
  EXPECT_EQ(parameter_count(mh::gMLP("tiny")), reference_params("timm", "gmlp_ti16_224"));
}

TEST(Mixers, ShapesOnSmallImages) {
  struct Case {
    std::function<mh::Model(const mh::MixerModelOptions&)> build;
    std::vector<int64_t> patch;
    int64_t npatches, planes;
  };
  const std::vector<Case> cases = {
      {[](const auto& o) { return mh::MLPMixer("small", o); }, {16, 16}, 16, 512},
      {[](const auto& o) { return mh::MLPMixer("small", o); }, {32, 32}, 4, 512},
      {[](const auto& o) { return mh::ResMLP("12", o); }, {16, 16}, 16, 384},
      {[](const auto& o) { return mh::gMLP("tiny", o); }, {16, 16}, 16, 128},
  };
  for (int64_t c : {1, 3}) {
    for (const auto& k : cases) {
      mh::Model m = k.build({.imsize = {64, 64}, .patch_size = k.patch, .inchannels = c, .nclasses = 10});
      torch::InferenceMode guard;
      Tensor x = torch::randn({2, c, 64, 64});
      EXPECT_EQ(shape(mh::backbone(m)(x)), (Shape{2, k.npatches, k.planes})) << m->type_name;
      EXPECT_EQ(shape(m(x)), (Shape{2, 10})) << m->type_name;
    }
  }
  // A rectangular image: 64 × 32 in 16 × 16 patches is 4 · 2 tokens.
  mh::Model m = mh::gMLP("tiny", {.imsize = {64, 32}, .nclasses = 10});
  torch::InferenceMode guard;
  EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 64, 32}))), (Shape{1, 8, 128}));
  EXPECT_EQ(shape(m(torch::randn({1, 3, 64, 32}))), (Shape{1, 10}));
}

TEST(Mixers, FullSizeForward) {
  torch::InferenceMode guard;
  for (const char* name : {"mixer_s16_224", "resmlp_12_224", "gmlp_ti16_224"}) {
    mh::Model m = mh::create_model(name);
    EXPECT_EQ(shape(m(torch::randn({1, 3, 224, 224}))), (Shape{1, 1000})) << name;
  }
}

TEST(Mixers, GradientsReachThePatchEmbedding) {
  for (const mh::Model& m : {mh::Model(mh::MLPMixer("small", {.imsize = {32, 32}, .nclasses = 3})),
                             mh::Model(mh::ResMLP("12", {.imsize = {32, 32}, .nclasses = 3})),
                             mh::Model(mh::gMLP("tiny", {.imsize = {32, 32}, .nclasses = 3}))}) {
    m(torch::randn({2, 3, 32, 32})).sum().backward();
    auto conv = patch_conv(m);
    ASSERT_TRUE(conv) << m->type_name;
    ASSERT_TRUE(conv->weight.grad().defined()) << m->type_name;
    EXPECT_GT(conv->weight.grad().abs().sum().item<double>(), 0.0) << m->type_name;
  }
}

TEST(Mixers, HeadsAreNormMeanDense) {
  SkipInit skip;
  // A Dropout slot even at rate 0 (Metalhead has none without head_dropout_prob): the
  // Dense keeps its name with or without one (issue 17's stable names).
  EXPECT_EQ(reprs(mh::classifier(mh::MLPMixer("small", {.nclasses = 10}))),
            (Strings{"LayerNormV2(512)", "seconddimmean", "Dropout(0.0)", "Dense(512 => 10)"}));
  EXPECT_EQ(reprs(mh::classifier(mh::gMLP("tiny", {.nclasses = 10}))),
            (Strings{"LayerNormV2(128)", "seconddimmean", "Dropout(0.0)", "Dense(128 => 10)"}));
  // ResMLP's head normalises with timm's Affine, alpha and beta of shape [1, 1, D].
  auto head = mh::classifier(mh::ResMLP("12", {.nclasses = 10}));
  EXPECT_EQ(reprs(head), (Strings{"Scale(1, 1, 384)", "seconddimmean", "Dropout(0.0)", "Dense(384 => 10)"}));
  EXPECT_EQ(shape(head[0].as<ScaleImpl>()->bias), (Shape{1, 1, 384}));
  EXPECT_EQ(mh::classifier(mh::MLPMixer("small"))[0].as<mh::layers::LayerNormV2Impl>()->eps, 1e-6);
  auto with_dropout = mh::mlpmixer([](int64_t p, int64_t n, double) -> Layer { return mh::mixerblock(p, n); }, {32, 32},
                                   {.embedplanes = 16, .depth = 1, .head_dropout_prob = 0.1, .nclasses = 5});
  EXPECT_EQ(reprs(Chain(with_dropout[1].as<ChainImpl>())),
            (Strings{"LayerNormV2(16)", "seconddimmean", "Dropout(0.1)", "Dense(16 => 5)"}));
}

TEST(MixerBlocks, MixerBlockIsTimmsMixerBlock) {
  // x + mlp_tokens(norm1(x)ᵀ)ᵀ, then + mlp_channels(norm2(x)), token MLP 4 => ⌊0.5·8⌋.
  Chain block = mh::mixerblock(8, 4);
  randomise(block);
  auto b1 = branch(block[0]), b2 = branch(block[1]);
  auto n1 = b1->operator[](0).as<mh::layers::LayerNormV2Impl>(), n2 = b2->operator[](0).as<mh::layers::LayerNormV2Impl>();
  ASSERT_TRUE(n1 && n2);
  EXPECT_EQ(n1->eps, 1e-6);
  auto tokens = b1->operator[](2).as<ChainImpl>();
  EXPECT_EQ(shape(dense((*tokens)[0])->weight), (Shape{4, 4}));
  EXPECT_EQ(shape(dense((*branch(block[1]))[1].as<ChainImpl>()->operator[](0))->weight), (Shape{32, 8}));
  torch::NoGradGuard no_grad;
  Tensor x = torch::randn({2, 4, 8});
  Tensor y = x + mlp(tokens, torch::layer_norm(x, {8}, n1->weight, n1->bias, 1e-6).transpose(1, 2)).transpose(1, 2);
  y = y + mlp(b2->operator[](1).as<ChainImpl>(), torch::layer_norm(y, {8}, n2->weight, n2->bias, 1e-6));
  EXPECT_TRUE(close(block(x), y, 1e-4, 1e-4));
}

TEST(MixerBlocks, ResMixerBlockIsTimmsResBlock) {
  // x + ls1 · linear_tokens(affine1(x)ᵀ)ᵀ, then + ls2 · mlp(affine2(x)).
  Chain block = mh::resmixerblock(8, 4, {.layerscale_init = 1e-5});
  auto b1 = branch(block[0]), b2 = branch(block[1]);
  auto a1 = b1->operator[](0).as<ScaleImpl>(), a2 = b2->operator[](0).as<ScaleImpl>();
  auto ls1 = b1->operator[](4).as<ScaleImpl>(), ls2 = b2->operator[](2).as<ScaleImpl>();
  ASSERT_TRUE(a1 && a2 && ls1 && ls2);
  EXPECT_EQ(shape(a1->scale), (Shape{1, 1, 8}));
  EXPECT_EQ(shape(ls1->scale), (Shape{8}));
  EXPECT_FALSE(ls1->bias.defined());
  EXPECT_TRUE(torch::allclose(ls1->scale, torch::full({8}, 1e-5)));
  randomise(block);
  auto tok = dense((*b1)[2]);
  torch::NoGradGuard no_grad;
  Tensor x = torch::randn({2, 4, 8});
  Tensor t = torch::linear((a1->scale * x + a1->bias).transpose(1, 2), tok->weight, tok->bias).transpose(1, 2);
  Tensor y = x + ls1->scale * t;
  y = y + ls2->scale * mlp(b2->operator[](1).as<ChainImpl>(), a2->scale * y + a2->bias);
  EXPECT_TRUE(close(block(x), y, 1e-4, 1e-4));
}

TEST(MixerBlocks, SpatialGatingBlockIsTimmsSpatialGatingBlock) {
  // x + fc2(sgu(gelu(fc1(norm(x))))), sgu(h) = u ⊙ proj(norm(v)ᵀ)ᵀ for h = [u v].
  auto block = mh::spatialgatingblock(8, 4);
  auto b = block->layer().as<ChainImpl>();
  auto norm = (*b)[0].as<mh::layers::LayerNormV2Impl>();
  auto gated = (*b)[1].as<ChainImpl>();
  auto sgu = (*gated)[2].as<mh::layers::SpatialGatingUnitImpl>();
  ASSERT_TRUE(norm && sgu);
  auto gate_norm = sgu->norm.as<mh::layers::LayerNormV2Impl>();
  ASSERT_TRUE(gate_norm);
  EXPECT_EQ(norm->eps, 1e-6);
  EXPECT_EQ(gate_norm->eps, 1e-5);  // timm's SpatialGatingUnit uses nn.LayerNorm's default
  EXPECT_EQ(shape(sgu->proj->weight), (Shape{4, 4}));
  EXPECT_TRUE(torch::allclose(sgu->proj->bias, torch::ones({4})));
  EXPECT_LT(sgu->proj->weight.abs().max().item<double>(), 1e-5);
  randomise(Layer(block));
  auto fc1 = dense((*gated)[0]), fc2 = dense((*gated)[3]);
  EXPECT_EQ(shape(fc1->weight), (Shape{32, 8}));
  EXPECT_EQ(shape(fc2->weight), (Shape{8, 16}));
  torch::NoGradGuard no_grad;
  Tensor x = torch::randn({2, 4, 8});
  Tensor h = torch::gelu(torch::linear(torch::layer_norm(x, {8}, norm->weight, norm->bias, 1e-6), fc1->weight, fc1->bias));
  auto uv = h.chunk(2, -1);
  Tensor v = torch::layer_norm(uv[1], {16}, gate_norm->weight, gate_norm->bias, 1e-5);
  v = torch::linear(v.transpose(1, 2), sgu->proj->weight, sgu->proj->bias).transpose(1, 2);
  Tensor y = x + torch::linear(uv[0] * v, fc2->weight, fc2->bias);
  EXPECT_TRUE(close(block(x), y, 1e-4, 1e-4));
}

TEST(Mixers, Registry) {
  Strings mixers;  // "mixer_" also matches the convmixers
  for (const auto& n : mh::list_models("mixer_")) {
    if (n.rfind("mixer_", 0) == 0) mixers.push_back(n);
  }
  EXPECT_EQ(mixers, (Strings{"mixer_b16_224", "mixer_b32_224", "mixer_h16_224", "mixer_l16_224",
                                                  "mixer_l32_224", "mixer_s16_224", "mixer_s32_224"}));
  EXPECT_EQ(mh::list_models("resmlp"), (Strings{"resmlp_12_224", "resmlp_24_224", "resmlp_36_224", "resmlp_big_24_224"}));
  EXPECT_EQ(mh::list_models("gmlp"), (Strings{"gmlp_b16_224", "gmlp_s16_224", "gmlp_ti16_224"}));
  EXPECT_EQ(mh::model_info("mixer_b16_224").family, "MLPMixer");
  EXPECT_EQ(mh::model_info("mixer_h16_224").source, "Metalhead");
  EXPECT_EQ(mh::model_info("resmlp_big_24_224").family, "ResMLP");
  EXPECT_EQ(mh::model_info("gmlp_s16_224").family, "gMLP");
  EXPECT_EQ(mh::model_info("gmlp_s16_224").source, "timm");
}

TEST(Mixers, BadConfigurationsAndInputs) {
  expect_error<std::invalid_argument>([] { mh::MLPMixer("tiny"); }, {"MLPMixer", "\"tiny\"", "\"small\"", "\"huge\""});
  expect_error<std::invalid_argument>([] { mh::ResMLP("48"); }, {"ResMLP", "\"48\"", "\"12\"", "\"big_24\""});
  expect_error<std::invalid_argument>([] { mh::gMLP("large"); }, {"gMLP", "\"large\"", "\"tiny\"", "\"base\""});
  expect_error<std::invalid_argument>([] { mh::MLPMixer("small", {.imsize = {64, 60}}); },
                                      {"MLPMixer", "divisible", "[16, 16]", "[64, 60]"});
  expect_error<std::invalid_argument>([] { mh::ResMLP("big_24", {.imsize = {60, 60}}); }, {"ResMLP", "[8, 8]", "[60, 60]"});
  expect_error<std::invalid_argument>([] { mh::gMLP("tiny", {.imsize = {64}}); }, {"gMLP", "two values", "[64]"});
  expect_error<std::invalid_argument>(
      [] { mh::mlpmixer([](int64_t p, int64_t n, double) -> Layer { return mh::mixerblock(p, n); }, {64, 64}, {.depth = 0}); },
      {"mlpmixer", "positive", "depth"});
  expect_error<std::invalid_argument>([] { mh::spatialgatingblock(5, 4, {.mlp_ratio = 1.0}); },
                                      {"spatialgatingblock", "even", "5"});
  expect_error<std::runtime_error>([] { mh::MLPMixer("small", {.pretrain = true}); }, {"MLPMixer", "pretrain"});
  expect_error<std::invalid_argument>([] { mh::create_model("mixer_x16_224"); }, {"mixer_x16_224", "mixer_b16_224"});
  // Images of another size than the model's imsize, or other channels.
  mh::Model m = mh::MLPMixer("small", {.imsize = {32, 32}, .nclasses = 10});
  torch::InferenceMode guard;
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 3, 64, 64})); }, {"Dense(4 => 256", "got a tensor of shape"});
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 1, 32, 32})); }, {"[N, 3, H, W]", "[1, 1, 32, 32]"});
}
