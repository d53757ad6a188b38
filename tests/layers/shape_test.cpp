// swapdims, seconddimmean, channel_shuffle, channel_chunk, flatten_chains and the connections.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(Swapdims, PermutesInTorchOrder) {
  Layer s = ml::swapdims({0, 2, 1});
  Tensor x = torch::randn({2, 3, 4});
  EXPECT_TRUE(torch::equal(s(x), x.transpose(1, 2)));
  EXPECT_EQ(s->repr(), "swapdims((0, 2, 1))");
  expect_error<std::invalid_argument>([&] { s(torch::randn({2, 3})); }, {"swapdims", "rank 3", "[2, 3]"});
}

TEST(Seconddimmean, AveragesTheTokens) {
  Tensor x = torch::randn({2, 5, 3});
  EXPECT_TRUE(close(ml::seconddimmean()(x), (x.sum(1) / 5)));
}

TEST(ChannelShuffle, ReadsTheGroupsColumnByColumn) {
  // Channel c holds the value c: shuffling 6 channels in 2 groups reads the 2×3 grid
  // (0 1 2 / 3 4 5) column by column.
  Tensor x = torch::arange(6, torch::kFloat).reshape({1, 6, 1, 1}).expand({2, 6, 2, 3}).contiguous();
  Tensor y = ml::channel_shuffle(2)(x);
  EXPECT_EQ(shape(y), (Shape{2, 6, 2, 3}));
  const std::vector<float> want = {0, 3, 1, 4, 2, 5};
  for (int64_t c = 0; c < 6; ++c) EXPECT_TRUE((y.select(1, c) == want[c]).all().item<bool>()) << c;
  // Three groups: (0 1 / 2 3 / 4 5) read by columns.
  Tensor z = ml::channel_shuffle(3)(x);
  const std::vector<float> want3 = {0, 2, 4, 1, 3, 5};
  for (int64_t c = 0; c < 6; ++c) EXPECT_TRUE((z.select(1, c) == want3[c]).all().item<bool>()) << c;
  EXPECT_EQ(ml::channel_shuffle(2)->repr(), "channel_shuffle(2)");
  expect_error<std::invalid_argument>([&] { ml::channel_shuffle(4)(x); }, {"channel_shuffle(4)", "multiple of 4", "[2, 6, 2, 3]"});
  expect_error<std::invalid_argument>([] { ml::channel_shuffle(0); }, {"channel_shuffle", "positive"});
}

TEST(ChannelChunk, TakesOneSliceOfTheChannels) {
  Tensor x = torch::randn({2, 6, 3, 3});
  EXPECT_TRUE(torch::equal(ml::channel_chunk(2, 0)(x), x.chunk(2, 1)[0]));
  EXPECT_TRUE(torch::equal(ml::channel_chunk(3, 2)(x), x.chunk(3, 1)[2]));
  expect_error<std::invalid_argument>([&] { ml::channel_chunk(4, 0)(x); }, {"channel_chunk(4, 0)", "multiple of 4"});
  expect_error<std::invalid_argument>([] { ml::channel_chunk(2, 2); }, {"channel_chunk", "index"});
}

TEST(FlattenChains, ListsTheLeavesInOrder) {
  Chain inner(Dense({2, 3}), relu);
  Chain outer(std::vector<Layer>{inner, Dense({3, 4})});
  Chain nested(std::vector<Layer>{outer, softmax});
  auto leaves = ml::flatten_chains(nested);
  ASSERT_EQ(leaves.size(), 4u);
  EXPECT_EQ(leaves[0]->repr(), "Dense(2 => 3)");
  EXPECT_EQ(leaves[1]->repr(), "relu");
  EXPECT_EQ(leaves[2]->repr(), "Dense(3 => 4)");
  EXPECT_EQ(leaves[3]->repr(), "softmax");
  EXPECT_EQ(ml::flatten_chains(Dense({1, 1})).size(), 1u);
}

TEST(Connections, CatChannelsTimesAddactActadd) {
  Tensor a = torch::randn({2, 3, 4, 4}), b = torch::randn({2, 5, 4, 4});
  EXPECT_TRUE(torch::equal(ml::cat_channels({a, b}), torch::cat({a, b}, 1)));
  Parallel inception(ml::cat_channels, Conv({1, 1}, {3, 2}), Conv({3, 3}, {3, 4}, identity, {.pad = 1}));
  EXPECT_EQ(shape(inception(a)), (Shape{2, 6, 4, 4}));
  expect_error<std::invalid_argument>([&] { ml::cat_channels({torch::randn({3})}); }, {"cat_channels", "[3]"});
  Tensor c = torch::randn({2, 3, 4, 4});
  EXPECT_TRUE(torch::equal(ml::times({a, c}), a * c));
  EXPECT_TRUE(close(ml::addact()({a, c}), torch::relu(a + c)));
  EXPECT_TRUE(close(ml::actadd(flux::tanh)({a, c}), torch::tanh(a) + torch::tanh(c)));
  EXPECT_EQ(ml::addact().name(), "addact(relu)");
  SkipConnection res(Conv({3, 3}, {3, 3}, identity, {.pad = 1}), ml::addact());
  EXPECT_GE(res(a).min().item<double>(), 0.0);
}
