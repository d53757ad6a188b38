// ViT against torchvision's and timm's counts, and torchvision's forward written with torch's ops.
#include <metalhead/models/vit.h>
#include <metalhead/registry.h>

#include <torch/nn/modules/activation.h>

#include <chrono>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

namespace {

// torchvision's VisionTransformer.forward (timm's with global_pool='avg' for the mean pool)
// from torch's ops and its MultiheadAttention, on the parameters of `m` taken in
// torchvision's order: conv_proj, class_token, pos_embedding, per block ln_1,
// self_attention.in_proj, out_proj, ln_2, mlp.0, mlp.3, then encoder.ln, heads.head.
Tensor torchvision_forward(const Chain& m, const Tensor& x, int64_t patch, int64_t nheads, mh::TokenPool pool) {
  auto p = m->parameters();
  size_t i = 0;
  auto next = [&] { return p.at(i++); };
  Tensor conv_w = next(), conv_b = next(), cls = next(), pos = next();
  const int64_t N = x.size(0), D = conv_w.size(0);
  Tensor t = torch::conv2d(x, conv_w, conv_b, patch).reshape({N, D, -1}).permute({0, 2, 1});
  t = torch::cat({cls.expand({N, -1, -1}), t}, 1) + pos.unsqueeze(0);
  while (p.size() - i > 4) {
    Tensor ln1_w = next(), ln1_b = next(), in_w = next(), in_b = next(), out_w = next(), out_b = next();
    Tensor ln2_w = next(), ln2_b = next(), fc1_w = next(), fc1_b = next(), fc2_w = next(), fc2_b = next();
    torch::nn::MultiheadAttention mha(torch::nn::MultiheadAttentionOptions(D, nheads));
    mha->in_proj_weight.set_data(in_w.clone());
    mha->in_proj_bias.set_data(in_b.clone());
    mha->out_proj->weight.set_data(out_w.clone());
    mha->out_proj->bias.set_data(out_b.clone());
    Tensor h = torch::layer_norm(t, {D}, ln1_w, ln1_b, 1e-6).transpose(0, 1);  // C++ MHA is sequence first
    t = std::get<0>(mha->forward(h, h, h, {}, false)).transpose(0, 1) + t;
    Tensor y = torch::layer_norm(t, {D}, ln2_w, ln2_b, 1e-6);
    t = t + torch::linear(torch::gelu(torch::linear(y, fc1_w, fc1_b)), fc2_w, fc2_b);
  }
  Tensor ln_w = next(), ln_b = next(), head_w = next(), head_b = next();
  Tensor features = pool == mh::TokenPool::class_token
                        ? torch::layer_norm(t, {D}, ln_w, ln_b, 1e-6).select(1, 0)
                        : torch::layer_norm(t.slice(1, 1).mean(1), {D}, ln_w, ln_b, 1e-6);  // timm's fc_norm
  return torch::linear(features, head_w, head_b);
}

}  // namespace

TEST(ViT, CountsEqualTorchvisionAndTimm) {
  SkipInit skip;  // counting needs no random draws
  EXPECT_EQ(parameter_count(mh::ViT()), reference_params("torchvision", "vit_b_16"));
  for (const char* name : {"vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})),
              reference_params("torchvision", std::string(name) + "@10")) << name;
  }
  for (const char* name : {"vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224",
                           "vit_large_patch16_224"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("timm", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})),
              reference_params("timm", std::string(name) + "@10")) << name;
  }
  // timm's default vit_huge_patch14_224 is headless; with 1000 classes it is vit_h_14.
  EXPECT_EQ(parameter_count(mh::create_model("vit_huge_patch14_224")),
            reference_params("timm", "vit_huge_patch14_224@1000"));
}

TEST(ViT, GiantCountsUnderSkipInit) {
  // 1.0e9 and 1.8e9 parameters: under SkipInit the weights hold no values (meta tensors),
  // so building allocates next to nothing.
  SkipInit skip;
  for (const char* name : {"vit_giant_patch14_224", "vit_gigantic_patch14_224"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("timm", name)) << name;
    EXPECT_EQ(parameter_count(mh::create_model(name, {.nclasses = 10})),
              reference_params("timm", std::string(name) + "@10")) << name;
  }
}

TEST(ViT, MatchesTorchvisionForward) {
  for (auto pool : {mh::TokenPool::class_token, mh::TokenPool::mean}) {
    Chain m = mh::vit({16, 12}, {.inchannels = 2, .patch_size = {4}, .embedplanes = 24, .depth = 2, .nheads = 3,
                                 .pool = pool, .nclasses = 5});
    testmode(m);
    torch::InferenceMode guard;
    Tensor x = torch::randn({3, 2, 16, 12});
    EXPECT_TRUE(close(m(x), torchvision_forward(m, x, 4, 3, pool), 1e-4, 1e-5));
  }
}

TEST(ViT, Shapes) {
  for (int64_t c : {1, 3}) {
    // tiny through the mid-level function: 16 patches of 8×8 and the class token
    Chain tiny = mh::vit({32, 32}, {.inchannels = c, .patch_size = {8, 8}, .embedplanes = 192, .depth = 12,
                                    .nheads = 3, .nclasses = 10});
    testmode(tiny);
    mh::Model base = mh::ViT("base", {.imsize = {64}, .inchannels = c, .nclasses = 10});
    mh::Model mean = mh::ViT("tiny", {.imsize = {48, 32}, .patch_size = {16}, .pool = mh::TokenPool::mean,
                                      .inchannels = c, .nclasses = 10});
    testmode(base);
    testmode(mean);
    torch::InferenceMode guard;
    EXPECT_EQ(shape(tiny(torch::randn({2, c, 32, 32}))), (Shape{2, 10}));
    EXPECT_EQ(shape((*tiny)[0](torch::randn({2, c, 32, 32}))), (Shape{2, 192}));
    Tensor features = mh::backbone(base)(torch::randn({1, c, 64, 64}));  // one pass through the 86M weights
    EXPECT_EQ(shape(features), (Shape{1, 768}));
    EXPECT_EQ(shape(mh::classifier(base)(features)), (Shape{1, 10}));
    EXPECT_EQ(shape(mean(torch::randn({2, c, 48, 32}))), (Shape{2, 10}));
  }
  Chain encoder = mh::transformer_encoder(64, 2, 4);
  EXPECT_EQ(shape(encoder(torch::randn({2, 17, 64}))), (Shape{2, 17, 64}));
}

TEST(ViT, FullSizeForward) {
  mh::Model m = mh::create_model("vit_tiny_patch16_224");
  testmode(m);
  torch::InferenceMode guard;
  Tensor y = m(torch::randn({1, 3, 224, 224}));
  EXPECT_EQ(shape(y), (Shape{1, 1000}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
}

TEST(ViT, GradientsReachPatchEmbedding) {
  Chain m = mh::vit({16, 16}, {.patch_size = {4, 4}, .embedplanes = 32, .depth = 2, .nheads = 4, .nclasses = 10});
  Tensor conv_w = m->parameters().at(0);
  ASSERT_EQ(conv_w.dim(), 4);
  (m(torch::randn({2, 3, 16, 16})) * torch::randn({2, 10})).sum().backward();
  ASSERT_TRUE(conv_w.grad().defined());
  EXPECT_GT(conv_w.grad().abs().sum().item<double>(), 0);
}

TEST(ViT, RejectsBadConfigurations) {
  expect_error<std::invalid_argument>([] { mh::ViT("base", {.imsize = {30, 30}, .patch_size = {8, 8}}); },
                                      {"ViT", "image size [30, 30]", "patch size [8, 8]"});
  expect_error<std::invalid_argument>([] { mh::ViT("base", {.imsize = {224, 200}, .patch_size = {14}}); },
                                      {"ViT", "[224, 200]", "[14, 14]"});
  expect_error<std::invalid_argument>([] { mh::vit({30}, {.patch_size = {8}}); },
                                      {"vit", "image size [30, 30]", "patch size [8, 8]"});
  expect_error<std::invalid_argument>([] { mh::ViT("enormous"); }, {"ViT", "\"enormous\"", "\"tiny\"", "\"gigantic\""});
  expect_error<std::invalid_argument>([] { mh::ViT("base", {.imsize = {224, 224, 3}}); },
                                      {"ViT", "imsize", "[224, 224, 3]"});
  expect_error<std::invalid_argument>([] { mh::ViT("base", {.patch_size = {0}}); }, {"ViT", "patch_size", "[0]"});
  expect_error<std::invalid_argument>(
      [] { mh::vit({32}, {.patch_size = {8}, .embedplanes = 100, .nheads = 3}); }, {"100", "3"});
  expect_error<std::runtime_error>([] { mh::ViT("tiny", {.pretrain = true}); }, {"ViT", "pretrain"});
  Chain m = mh::vit({32}, {.patch_size = {8}, .embedplanes = 16, .depth = 1, .nheads = 2, .nclasses = 3});
  // an image of another size than the position embedding was made for
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 3, 48, 48})); }, {"ViPosEmbedding", "[1, 37, 16]"});
}

TEST(ViT, RegistryNames) {
  // list_models filters by substring: maxvit_t contains "vit_" too.
  std::vector<std::string> vits;
  for (const auto& n : mh::list_models("vit_")) {
    if (mh::model_info(n).family == "ViT") vits.push_back(n);
  }
  EXPECT_EQ(vits.size(), 9u);
  EXPECT_EQ(mh::list_models("vit_").size(), 10u);
  EXPECT_EQ(mh::model_info("vit_base_patch16_224").name, "vit_b_16");
  EXPECT_EQ(mh::model_info("vit_huge_patch14_224").name, "vit_h_14");
  EXPECT_EQ(mh::model_info("vit_gigantic_patch14_224").source, "timm");
  EXPECT_EQ(mh::model_info("vit_l_32").family, "ViT");
  SkipInit skip;
  mh::Model m = mh::create_model("vit_b_32", {.inchannels = 1});
  EXPECT_EQ(m->inchannels, 1);
}
