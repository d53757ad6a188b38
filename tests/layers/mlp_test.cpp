// mlp_block, gated_mlp_block and SpatialGatingUnit.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(MlpBlock, DenseDropoutDenseDropout) {
  Chain m = ml::mlp_block(768, 3072);
  EXPECT_EQ(m->repr(), "Chain(Dense(768 => 3072, gelu), Dropout(0.0), Dense(3072 => 768), Dropout(0.0))");
  // ViT-B's MLP: 2 · 768 · 3072 + 3072 + 768.
  EXPECT_EQ(parameter_count(m), 4'722'432);
  Chain small = ml::mlp_block(8, 16, 4, {.dropout_prob = 0.1, .activation = relu});
  EXPECT_EQ(small->repr(), "Chain(Dense(8 => 16, relu), Dropout(0.1), Dense(16 => 4), Dropout(0.1))");
  testmode(small);
  EXPECT_EQ(shape(small(torch::randn({2, 5, 8}))), (Shape{2, 5, 4}));
  expect_layer_gradients(ml::mlp_block(3, 4, {.activation = flux::tanh}), torch::randn({2, 3}));
}

TEST(GatedMlpBlock, GateHalvesThePlanes) {
  Chain m = ml::gated_mlp_block([](int64_t planes) { return ml::SpatialGatingUnit(planes, 9); }, 8, 16);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[3]->repr(), "Dense(8 => 8)");
  testmode(m);
  EXPECT_EQ(shape(m(torch::randn({2, 9, 8}))), (Shape{2, 9, 8}));
  Chain plain = ml::gated_mlp_block(nullptr, 8, 16, 4);
  EXPECT_EQ(plain->repr(), ml::mlp_block(8, 16, 4)->repr());
  expect_error<std::invalid_argument>([] { ml::gated_mlp_block([](int64_t p) { return Layer(Dense({p, p})); }, 8, 15); },
                                      {"gated_mlp_block", "even", "15"});
}

TEST(SpatialGatingUnit, MatchesHandComputation) {
  ml::SpatialGatingUnit sgu(6, 4);
  EXPECT_EQ(parameter_count(sgu), 2 * 3 + 4 * 4 + 4);  // LayerNorm(3) + Dense(4 => 4)
  // Starts near u .* v_normalised: weights in [0, 2ε), bias one.
  EXPECT_LT(sgu->proj->weight.abs().max().item<double>(), 2.5e-7);
  EXPECT_TRUE(torch::equal(sgu->proj->bias, torch::ones({4})));
  {
    torch::NoGradGuard no_grad;
    sgu->proj->weight.copy_(torch::randn({4, 4}));
  }
  Tensor x = torch::randn({2, 4, 6});
  Tensor u = x.slice(2, 0, 3), v = x.slice(2, 3, 6);
  // Flux's LayerNorm over the 3 planes: (v - μ) / (σ + 1e-5).
  Tensor vn = (v - v.mean(-1, true)) / (v.var(-1, false, true).sqrt() + 1e-5);
  // Mix across the 4 patches: out[n, t, c] = Σ_s W[t, s] vn[n, s, c] + b[t].
  Tensor mixed = torch::einsum("ts,nsc->ntc", {sgu->proj->weight, vn}) + sgu->proj->bias.view({1, 4, 1});
  EXPECT_TRUE(close(sgu(x), u * mixed, 1e-4, 1e-5));
  expect_error<std::invalid_argument>([&] { sgu(torch::randn({2, 5, 6})); }, {"SpatialGatingUnit", "[N, 4, 6]"});
  expect_layer_gradients(ml::SpatialGatingUnit(4, 3), torch::randn({2, 3, 4}), 1e-5);
}
