// WindowAttention and PatchMerging against hand-built references: one window is plain
// multi-head attention plus the per-offset bias, shifted windows do not mix the rolled
// regions, V2's cosine attention and continuous bias, and the 2×2 patch order.
#include <metalhead/layers.h>

#include "flux/testing.h"

#include <cmath>

using namespace flux;
namespace ml = metalhead::layers;

namespace {

// softmax(q kᵀ/√d + bias) v per head on [B, T, C] tokens, from the layer's own tensors.
Tensor reference_attention(ml::WindowAttentionImpl& a, const Tensor& tokens, const Tensor& bias) {
  const int64_t B = tokens.size(0), T = tokens.size(1), C = tokens.size(2), h = a.nheads, d = C / h;
  auto qkv = torch::linear(tokens, a.qkv->weight, a.qkv->bias).view({B, T, 3, h, d});
  auto q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2), v = qkv.select(2, 2).transpose(1, 2);
  auto w = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(d)) + bias, -1);
  return torch::linear(torch::matmul(w, v).transpose(1, 2).reshape({B, T, C}), a.proj->weight, a.proj->bias);
}

TEST(WindowAttention, OneWindowIsAttentionWithTheRelativePositionBias) {
  torch::manual_seed(0);
  ml::WindowAttention a(8, 2, {3, 3});
  torch::NoGradGuard g;
  EXPECT_EQ(shape(a->relative_position_bias_table), (Shape{25, 2}));
  a->relative_position_bias_table.copy_(torch::randn({25, 2}));
  // The bias between tokens i = (hi, wi) and j = (hj, wj): row (hi − hj + 2)·5 + (wi − wj + 2).
  auto bias = torch::empty({2, 9, 9});
  for (int64_t i = 0; i < 9; ++i) {
    for (int64_t j = 0; j < 9; ++j) {
      const int64_t row = (i / 3 - j / 3 + 2) * 5 + (i % 3 - j % 3 + 2);
      bias.select(1, i).select(1, j).copy_(a->relative_position_bias_table[row]);
    }
  }
  EXPECT_TRUE(close(a->relative_position_bias(), bias));
  Tensor x = torch::randn({2, 3, 3, 8});
  Tensor want = reference_attention(*a, x.reshape({2, 9, 8}), bias).reshape({2, 3, 3, 8});
  EXPECT_TRUE(close(a(x), want, 1e-4, 1e-5));
  // A shift along sides one window covers is dropped: the same result.
  ml::WindowAttention s(8, 2, {3, 3}, {.shift = {1, 1}});
  for (auto& [p, q] : std::vector<std::pair<Tensor, Tensor>>{{s->qkv->weight, a->qkv->weight}, {s->qkv->bias, a->qkv->bias},
                                                             {s->proj->weight, a->proj->weight}, {s->proj->bias, a->proj->bias},
                                                             {s->relative_position_bias_table, a->relative_position_bias_table}}) {
    p.copy_(q);
  }
  EXPECT_TRUE(close(s(x), want, 1e-4, 1e-5));
}

TEST(WindowAttention, WindowsAreIndependentAndPaddingIsCutOff) {
  torch::manual_seed(1);
  ml::WindowAttention a(4, 1, {2, 2});
  torch::NoGradGuard g;
  // A 3×3 map is padded to 4×4: four windows. Changing the bottom-right token changes only
  // its window's outputs (the bottom-right one: itself, the padding is dropped).
  Tensor x = torch::randn({1, 3, 3, 4});
  Tensor y = a(x);
  EXPECT_EQ(shape(y), (Shape{1, 3, 3, 4}));
  Tensor x2 = x.clone();
  x2.select(1, 2).select(1, 2).add_(1.0);
  Tensor d = (a(x2) - y).abs().sum(-1);
  EXPECT_GT(d[0][2][2].item<double>(), 0);
  EXPECT_EQ(d[0].slice(0, 0, 2).sum().item<double>(), 0);  // rows 0, 1
  EXPECT_EQ(d[0][2].slice(0, 0, 2).sum().item<double>(), 0);
  // Top-left window by hand: tokens (0,0) (0,1) (1,0) (1,1).
  Tensor tl = torch::stack({x[0][0][0], x[0][0][1], x[0][1][0], x[0][1][1]}).unsqueeze(0);
  Tensor want = reference_attention(*a, tl, a->relative_position_bias().unsqueeze(0));
  EXPECT_TRUE(close(torch::stack({y[0][0][0], y[0][0][1], y[0][1][0], y[0][1][1]}), want[0], 1e-4, 1e-5));
}

TEST(WindowAttention, ShiftedWindowsDoNotMixTheRolledRegions) {
  torch::manual_seed(2);
  // 4×4 map, 2×2 windows, shift 1: rolled up and left, the bottom-right window holds the
  // tokens (3,3), (3,0), (0,3), (0,0) of the input, four regions of the roll: none
  // attends to another, so each of them is its own value's projection.
  ml::WindowAttention a(4, 1, {2, 2}, {.shift = {1, 1}});
  torch::NoGradGuard g;
  Tensor x = torch::randn({1, 4, 4, 4});
  Tensor y = a(x);
  for (auto [r, c] : {std::pair<int64_t, int64_t>{3, 3}, {3, 0}, {0, 3}, {0, 0}}) {
    Tensor t = x[0][r][c];
    Tensor v = torch::linear(t, a->qkv->weight.slice(0, 8, 12), a->qkv->bias.slice(0, 8, 12));
    EXPECT_TRUE(close(y[0][r][c], torch::linear(v, a->proj->weight, a->proj->bias), 1e-4, 1e-5)) << r << c;
  }
  // Tokens (1,1) (1,2) (2,1) (2,2) share the top-left rolled window and one region:
  // plain attention among them.
  Tensor w = torch::stack({x[0][1][1], x[0][1][2], x[0][2][1], x[0][2][2]}).unsqueeze(0);
  Tensor want = reference_attention(*a, w, a->relative_position_bias().unsqueeze(0))[0];
  EXPECT_TRUE(close(torch::stack({y[0][1][1], y[0][1][2], y[0][2][1], y[0][2][2]}), want, 1e-4, 1e-5));
}

TEST(WindowAttention, CosineAttentionWithAContinuousBias) {
  torch::manual_seed(3);
  ml::WindowAttention a(8, 2, {3, 3}, {.cosine = true});
  torch::NoGradGuard g;
  EXPECT_EQ(shape(a->logit_scale), (Shape{2, 1, 1}));
  EXPECT_NEAR(a->logit_scale[1][0][0].item<double>(), std::log(10.0), 1e-6);
  // The coordinates: 8·Δ/(window − 1) = ±4, ±8 → sign · log2(1 + |t|) / 3.
  auto table = a->relative_coords_table;
  EXPECT_EQ(shape(table), (Shape{1, 5, 5, 2}));
  EXPECT_NEAR(table[0][0][0][0].item<double>(), -std::log2(9.0) / 3, 1e-6);
  EXPECT_NEAR(table[0][3][1][1].item<double>(), -std::log2(5.0) / 3, 1e-6);
  EXPECT_EQ(table[0][2][2][0].item<double>(), 0);
  a->logit_scale.copy_(torch::tensor({1.0f, 6.0f}).view({2, 1, 1}));  // the second is clamped to log 100
  Tensor x = torch::randn({1, 3, 3, 8});
  // By hand: cos(q, k) · scale + 16σ(mlp(coords)[index]), without a key bias.
  const int64_t T = 9;
  auto bias_table = a->cpb_mlp->forward(table).view({-1, 2});
  auto bias = 16 * torch::sigmoid(bias_table.index_select(0, a->relative_position_index).view({T, T, 2}).permute({2, 0, 1}));
  auto qb = a->qkv->bias.clone();
  qb.slice(0, 8, 16).zero_();
  auto qkv = torch::linear(x.reshape({1, T, 8}), a->qkv->weight, qb).view({1, T, 3, 2, 4});
  auto q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2), v = qkv.select(2, 2).transpose(1, 2);
  auto cos = torch::matmul(q / q.norm(2, -1, true), (k / k.norm(2, -1, true)).transpose(-1, -2));
  auto scale = torch::tensor({std::exp(1.0), 100.0}).to(torch::kFloat).view({1, 2, 1, 1});
  auto w = torch::softmax(cos * scale + bias, -1);
  auto want = torch::linear(torch::matmul(w, v).transpose(1, 2).reshape({1, T, 8}), a->proj->weight, a->proj->bias);
  EXPECT_TRUE(close(a(x), want.reshape({1, 3, 3, 8}), 1e-4, 1e-5));
}

TEST(WindowAttention, Refusals) {
  expect_error<std::invalid_argument>([] { ml::WindowAttention(10, 3, {7, 7}); }, {"WindowAttention(10, 3)", "multiple of nheads"});
  expect_error<std::invalid_argument>([] { ml::WindowAttention(6, 3, {7, 7}, {.shift = {7, 0}}); }, {"shift < window"});
  expect_error<std::invalid_argument>([] { ml::WindowAttention(6, 3, {1, 1}, {.cosine = true}); }, {"2 × 2"});
  ml::WindowAttention a(6, 3, {2, 2});
  expect_error<std::invalid_argument>([&] { a(torch::randn({1, 6, 4, 4})); }, {"WindowAttention", "[N, H, W, 6]"});
}

TEST(PatchMerging, ConcatenatesTheTwoByTwoPatchInTorchvisionsOrder) {
  torch::manual_seed(4);
  ml::PatchMerging m(2);
  torch::NoGradGuard g;
  EXPECT_EQ(shape(m->reduction->weight), (Shape{4, 8}));
  EXPECT_EQ(m->reduction->bias.defined(), false);
  // A 3×3 map pads to 4×4; output (0, 0) merges (0,0), (1,0), (0,1), (1,1).
  Tensor x = torch::randn({1, 3, 3, 2});
  Tensor y = m(x);
  EXPECT_EQ(shape(y), (Shape{1, 2, 2, 4}));
  Tensor patch = torch::cat({x[0][0][0], x[0][1][0], x[0][0][1], x[0][1][1]});
  Tensor want = torch::linear(torch::layer_norm(patch, {8}, m->norm->weight, m->norm->bias, 1e-5), m->reduction->weight);
  EXPECT_TRUE(close(y[0][0][0], want, 1e-4, 1e-5));
  // Output (1, 1): (2,2) and three padded zeros.
  Tensor last = torch::cat({x[0][2][2], torch::zeros({6})});
  EXPECT_TRUE(close(y[0][1][1], torch::linear(torch::layer_norm(last, {8}, m->norm->weight, m->norm->bias, 1e-5),
                                              m->reduction->weight), 1e-4, 1e-5));
  // V2 reduces first, then normalises 2·planes.
  ml::PatchMerging v2(2, {.postnorm = true});
  Tensor z = v2(x);
  EXPECT_TRUE(close(z[0][0][0], torch::layer_norm(torch::linear(patch, v2->reduction->weight), {4}, v2->norm->weight,
                                                  v2->norm->bias, 1e-5), 1e-4, 1e-5));
}

}  // namespace
