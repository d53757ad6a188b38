// PatchEmbedding, ViPosEmbedding and ClassTokens.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(PatchEmbedding, ViTDefaultsGiveTokens) {
  Chain pe = ml::PatchEmbedding();
  EXPECT_EQ(pe->repr(), "Chain(Conv((16, 16), 3 => 768, stride=16), flatten_spatial, identity)");
  // torchvision vit_b_16's conv_proj: 3·16·16·768 + 768.
  EXPECT_EQ(parameter_count(pe), 590'592);
  EXPECT_EQ(shape(pe(torch::randn({1, 3, 224, 224}))), (Shape{1, 196, 768}));
}

TEST(PatchEmbedding, TokensAreThePatchesTimesTheKernel) {
  Chain pe = ml::PatchEmbedding({8, 12}, {.inchannels = 2, .patch_size = {4, 4}, .embedplanes = 5});
  auto conv = pe[0].as<ConvImpl>();
  Tensor x = torch::randn({2, 2, 8, 12});
  // Patches in row-major order (2 rows of 3), each flattened as (c, i, j): unfold's layout.
  Tensor patches = at::im2col(x, {4, 4}, {1, 1}, {0, 0}, {4, 4});  // [2, 2·16, 6]
  Tensor expected = (torch::matmul(conv->weight.view({5, -1}), patches) + conv->bias.view({1, 5, 1})).transpose(1, 2);
  EXPECT_TRUE(close(pe(x), expected, 1e-5, 1e-5));
}

TEST(PatchEmbedding, NormFlattenAndRefusals) {
  Chain normed = ml::PatchEmbedding({32, 32}, {.patch_size = {8, 8}, .embedplanes = 16, .norm_layer = ml::layer_norm()});
  EXPECT_EQ(normed[2]->repr(), "LayerNorm(16)");
  EXPECT_EQ(shape(normed(torch::randn({2, 3, 32, 32}))), (Shape{2, 16, 16}));
  Chain grid = ml::PatchEmbedding({32, 32}, {.patch_size = {8, 8}, .embedplanes = 16, .flatten = false});
  EXPECT_EQ(shape(grid(torch::randn({2, 3, 32, 32}))), (Shape{2, 16, 4, 4}));
  expect_error<std::invalid_argument>([] { ml::PatchEmbedding({225, 224}); }, {"PatchEmbedding", "[225, 224]", "divisible", "[16, 16]"});
  expect_layer_gradients(ml::PatchEmbedding({4, 4}, {.inchannels = 1, .patch_size = {2, 2}, .embedplanes = 3}),
                         torch::randn({2, 1, 4, 4}));
}

TEST(ViPosEmbedding, AddsALearnedVectorPerPatch) {
  std::vector<int64_t> seen;
  ml::ViPosEmbedding pos(8, 5, {.init = [&](at::IntArrayRef d) {
                                  seen.assign(d.begin(), d.end());
                                  return torch::arange(40, torch::kFloat).view({8, 5});
                                }});
  EXPECT_EQ(seen, (Shape{8, 5}));  // Flux's (embedsize, npatches)
  EXPECT_EQ(shape(pos->vectors), (Shape{5, 8}));
  // Flux's vectors[e, p] is ours [p, e].
  EXPECT_EQ(pos->vectors[2][3].item<float>(), 3 * 5 + 2);
  Tensor x = torch::randn({3, 5, 8});
  EXPECT_TRUE(close(pos(x), x + pos->vectors));
  EXPECT_EQ(parameter_count(pos), 40);
  expect_error<std::invalid_argument>([&] { pos(torch::randn({3, 6, 8})); }, {"ViPosEmbedding(8, 5)", "[3, 6, 8]"});
  expect_layer_gradients(ml::ViPosEmbedding(3, 2), torch::randn({2, 2, 3}));
}

TEST(ClassTokens, PrependsTheToken) {
  ml::ClassTokens ct(4, {.init = [](at::IntArrayRef d) { return torch::full(d, 7.0); }});
  Tensor x = torch::randn({2, 3, 4});
  Tensor y = ct(x);
  EXPECT_EQ(shape(y), (Shape{2, 4, 4}));
  EXPECT_TRUE(torch::equal(y.slice(1, 1), x));
  EXPECT_TRUE(torch::equal(y.select(1, 0), torch::full({2, 4}, 7.0)));
  EXPECT_EQ(parameter_count(ml::ClassTokens(768)), 768);
  EXPECT_EQ(ml::ClassTokens(768)(torch::randn({1, 196, 768})).sum(1).sizes(), (Shape{1, 768}));
  expect_layer_gradients(ml::ClassTokens(3, {.init = flux::randn32}), torch::randn({2, 2, 3}));
}
