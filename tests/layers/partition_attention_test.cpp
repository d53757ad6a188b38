// MaxViT's RelativePositionAttention against a hand-built reference, and PartitionAttention's
// two groupings: blocks of neighbours ("window") and tokens spread over the map ("grid").
#include <metalhead/layers.h>

#include "flux/testing.h"

#include <cmath>
#include <set>

using namespace flux;
namespace ml = metalhead::layers;

namespace {

TEST(RelativePositionAttention, IsAttentionWithTheBiasAndTorchvisionsScale) {
  torch::manual_seed(0);
  ml::RelativePositionAttention a(8, 4, 2);  // two heads of 4, 2 × 2 patches
  torch::NoGradGuard g;
  EXPECT_EQ(shape(a->relative_position_bias_table), (Shape{9, 2}));
  EXPECT_EQ(shape(a->relative_position_index), (Shape{4, 4}));
  a->relative_position_bias_table.copy_(torch::randn({9, 2}));
  Tensor x = torch::randn({2, 3, 4, 8});
  auto qkv = torch::linear(x, a->to_qkv->weight, a->to_qkv->bias).chunk(3, -1);
  auto heads = [](const Tensor& t) { return t.reshape({2, 3, 4, 2, 4}).permute({0, 1, 3, 2, 4}); };
  // The bias between tokens i = (hi, wi) and j: row (hi − hj + 1)·3 + (wi − wj + 1).
  auto bias = torch::empty({2, 4, 4});
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      bias.select(1, i).select(1, j).copy_(a->relative_position_bias_table[(i / 2 - j / 2 + 1) * 3 + (i % 2 - j % 2 + 1)]);
    }
  }
  // The scale is the width's, 8^−½, not a head's.
  auto w = torch::softmax(torch::matmul(heads(qkv[0]), heads(qkv[1]).transpose(-1, -2)) / std::sqrt(8.0) + bias, -1);
  auto want = torch::linear(torch::matmul(w, heads(qkv[2])).permute({0, 1, 3, 2, 4}).reshape({2, 3, 4, 8}),
                            a->merge->weight, a->merge->bias);
  EXPECT_TRUE(close(a(x), want, 1e-4, 1e-5));
  expect_error<std::invalid_argument>([&] { a(torch::randn({1, 1, 9, 8})); }, {"RelativePositionAttention", "[N, G, 4, 8]"});
}

// The positions of a 4 × 4 map whose outputs change when the input at (r, c) does.
std::set<std::pair<int64_t, int64_t>> reach(ml::PartitionAttention& p, int64_t r, int64_t c) {
  torch::NoGradGuard g;
  torch::manual_seed(1);
  Tensor x = torch::randn({1, 8, 4, 4});
  Tensor y = p(x);
  Tensor x2 = x.clone();
  x2.select(2, r).select(2, c).add_(torch::randn({1, 8}));  // not constant: LayerNorm would remove that
  Tensor d = (p(x2) - y).abs().sum(1)[0];
  std::set<std::pair<int64_t, int64_t>> out;
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      if (d[i][j].item<double>() > 1e-4) out.insert({i, j});
    }
  }
  return out;
}

TEST(PartitionAttention, WindowsGroupNeighboursAndTheGridSpreadsOverTheMap) {
  torch::manual_seed(2);
  ml::PartitionAttention window(8, 4, 2, "window"), grid(8, 4, 2, "grid");
  testmode(window);
  testmode(grid);
  using Set = std::set<std::pair<int64_t, int64_t>>;
  // Windows of 2 × 2 neighbours: (1, 2) shares its window with (0, 2), (0, 3), (1, 3).
  EXPECT_EQ(reach(window, 1, 2), (Set{{0, 2}, {0, 3}, {1, 2}, {1, 3}}));
  // A 2 × 2 grid over the 4 × 4 map: (1, 2) groups with the tokens 2 apart.
  EXPECT_EQ(reach(grid, 1, 2), (Set{{1, 0}, {1, 2}, {3, 0}, {3, 2}}));
  torch::NoGradGuard g;
  EXPECT_EQ(shape(window(torch::randn({2, 8, 6, 4}))), (Shape{2, 8, 6, 4}));
  expect_error<std::invalid_argument>([&] { window(torch::randn({1, 8, 5, 4})); }, {"PartitionAttention(window)", "multiples"});
  expect_error<std::invalid_argument>([] { ml::PartitionAttention(8, 4, 2, "diagonal"); }, {"window", "grid", "diagonal"});
}

}  // namespace
