// Embedding, and the other dense-style layers: Bilinear and Scale.
#include "testing.h"

using namespace flux;

// ---------------------------------------------------------------- Embedding

TEST(Embedding, SeedExampleIndicesEqualOneHot) {
  Embedding model({1000, 4});
  EXPECT_EQ(model->repr(), "Embedding(1000 => 4)");
  Tensor idx = torch::tensor({0, 721, 52, 219, 2});  // Flux's 1-based [1, 722, 53, 220, 3]
  Tensor onehot = torch::nn::functional::one_hot(idx, 1000).to(torch::kFloat32);
  EXPECT_EQ(shape(model(idx)), (Shape{5, 4}));  // Julia 4×5
  EXPECT_TRUE(close(model(idx), model(onehot)));
  EXPECT_TRUE(close(model(idx), model(onehot.to(torch::kBool))));
}

TEST(Embedding, LooksUpRowsOfTheWeight) {
  Tensor w = torch::arange(12, torch::kFloat32).reshape({4, 3});  // vocabulary 4, embedding size 3
  Embedding e(w);
  EXPECT_EQ(e->repr(), "Embedding(4 => 3)");
  EXPECT_TRUE(torch::equal(e(torch::tensor({2, 0})), torch::tensor({{6.0f, 7.0f, 8.0f}, {0.0f, 1.0f, 2.0f}})));
  EXPECT_TRUE(torch::equal(e(torch::tensor(int64_t{1})), torch::tensor({3.0f, 4.0f, 5.0f})));
  Tensor grid = torch::tensor({{0, 1, 2}, {3, 3, 0}});
  Tensor y = e(grid);
  EXPECT_EQ(shape(y), (Shape{2, 3, 3}));
  EXPECT_TRUE(torch::equal(y[1][0], w[3]));
  EXPECT_TRUE(torch::equal(y, torch::nn::functional::embedding(grid, w)));
}

TEST(Embedding, RefusesOutOfRangeTokensAndWrongOneHots) {
  Embedding e(torch::zeros({4, 3}));
  expect_error<std::out_of_range>([&] { e(torch::tensor({4})); }, {"Embedding(4 => 3)", "[0, 4)", "4"});
  expect_error<std::out_of_range>([&] { e(torch::tensor({-1})); }, {"Embedding(4 => 3)", "-1"});
  expect_error<std::invalid_argument>([&] { e(torch::zeros({2, 5})); }, {"Embedding(4 => 3)", "[2, 5]"});
}

TEST(Embedding, DefaultInitIsStandardNormal) {
  torch::manual_seed(0);
  Embedding e({1000, 20});
  EXPECT_NEAR(e->weight.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(e->weight.std().item<double>(), 1.0, 0.02);
}

TEST(Embedding, PrintsAndCountsVocabularyTimesSize) {
  EXPECT_EQ(parameter_count(Embedding({26, 4})), 104);
  EXPECT_EQ(printed(Embedding({26, 4})), "Embedding(26 => 4)  # 104 parameters");
}

TEST(Embedding, GradientsMatchFiniteDifferences) {
  expect_parameter_gradients(Embedding({5, 3}), torch::tensor({{0, 4}, {2, 2}}));
  expect_layer_gradients(Embedding({5, 3}), torch::randn({2, 5}));  // a soft one-hot is multiplied
}

// ---------------------------------------------------------------- Bilinear

TEST(Bilinear, SeedExampleOneTwoAndTupleInputs) {
  Tensor x = torch::randn({32, 5}), y = torch::randn({32, 5});
  Bilinear B(Bilinear2{5, 5, 7});
  EXPECT_EQ(shape(B(x)), (Shape{32, 7}));
  EXPECT_TRUE(torch::equal(B(x), B(x, x)));
  EXPECT_TRUE(torch::equal(B(x, y), B(std::vector<Tensor>{x, y})));
  SkipConnection sc(Chain(Dense({5, 20}, flux::tanh), Dense({20, 9}, flux::tanh)),
                    Bilinear(Bilinear2{9, 5, 3}, identity, {.bias = false}));
  EXPECT_EQ(shape(sc(x)), (Shape{32, 3}));
  Bilinear w(torch::rand({4, 8, 16}), false, flux::tanh);  // first dim of weight is the output
  EXPECT_EQ(w->repr(), "Bilinear((8, 16) => 4, tanh; bias=false)");
}

TEST(Bilinear, ComputesXtWyPlusB) {
  // out 1: W[0] = [[1, 2], [3, 4]], x = [1, 2], y = [3, -1]: xᵀWy = 1·(1·3 + 2·(-1)) + 2·(3·3 + 4·(-1)) = 1 + 10 = 11
  Tensor W = torch::tensor({1.0, 2.0, 3.0, 4.0}).reshape({1, 2, 2});
  Bilinear B(W, torch::tensor({0.5}));
  EXPECT_NEAR(B(torch::tensor({{1.0f, 2.0f}}), torch::tensor({{3.0f, -1.0f}})).item<double>(), 11.5, 1e-6);
}

TEST(Bilinear, MatchesTorchBilinear) {
  Bilinear B(Bilinear2{3, 4, 5}, relu);
  torch::NoGradGuard no_grad;
  B->bias.copy_(torch::randn({5}));
  Tensor x = torch::randn({6, 3}), y = torch::randn({6, 4});
  EXPECT_TRUE(close(B(x, y), torch::relu(torch::bilinear(x, y, B->weight, B->bias)), 1e-5, 1e-5));
  EXPECT_EQ(shape(B->weight), (Shape{5, 3, 4}));
}

TEST(Bilinear, RefusesMismatchedInputs) {
  Bilinear B(Bilinear2{3, 4, 5});
  expect_error<std::invalid_argument>([&] { B(torch::rand({2, 4}), torch::rand({2, 4})); }, {"Bilinear((3, 4) => 5)", "[2, 4]"});
  expect_error<std::invalid_argument>([&] { B(torch::rand({2, 3}), torch::rand({3, 4})); }, {"Bilinear((3, 4) => 5)", "[3, 4]"});
  expect_error<std::invalid_argument>([] { Bilinear(torch::rand({4, 8})); }, {"[out, in1, in2]"});
}

TEST(Bilinear, PrintsAndCountsLikeFlux) {
  EXPECT_EQ(parameter_count(Bilinear(InOut{5, 7})), 7 * 5 * 5 + 7);  // 182
  EXPECT_EQ(printed(Bilinear(InOut{5, 7})), "Bilinear(5 => 7)    # 182 parameters");
  EXPECT_EQ(Bilinear(Bilinear2{9, 5, 3})->repr(), "Bilinear((9, 5) => 3)");
}

TEST(Bilinear, GradientsMatchFiniteDifferences) {
  Bilinear B(Bilinear2{3, 2, 4}, sigmoid);
  B->to(torch::kFloat64);
  Tensor x = torch::randn({2, 3}, torch::kFloat64).requires_grad_(true);
  Tensor y = torch::randn({2, 2}, torch::kFloat64).requires_grad_(true);
  expect_gradients_match([&] { return B(x, y); }, {x, y, B->weight, B->bias});
  expect_layer_gradients(Bilinear(InOut{3, 4}), torch::randn({2, 3}));
}

// ---------------------------------------------------------------- Scale

TEST(Scale, BroadcastsLikeFlux) {
  // Flux: Scale(2)([1 2]) == [1 2; 1 2]. Julia's 1×2 row is our [2, 1].
  Scale s(2);
  Tensor y = s(torch::tensor({{1.0f}, {2.0f}}));
  EXPECT_TRUE(torch::equal(y, torch::tensor({{1.0f, 1.0f}, {2.0f, 2.0f}})));
  // Flux: Scale(2, 3) on (2, 1, 4) gives (2, 3, 4).
  EXPECT_EQ(shape(Scale(std::vector<int64_t>{3, 2})(torch::rand({4, 1, 2}))), (Shape{4, 3, 2}));
}

TEST(Scale, ComputesActivationOfScaleTimesXPlusBias) {
  Scale s(torch::tensor({2.0, -1.0, 0.5}), torch::tensor({1.0, 1.0, -1.0}), relu);
  // [1, 2, 4] -> [2 + 1, -2 + 1, 2 - 1] = [3, -1, 1] -> relu [3, 0, 1]
  EXPECT_TRUE(torch::equal(s(torch::tensor({1.0f, 2.0f, 4.0f})), torch::tensor({3.0f, 0.0f, 1.0f})));
  Scale d(3);
  EXPECT_TRUE(torch::equal(d->scale, torch::ones({3})));
  EXPECT_TRUE(torch::equal(d->bias, torch::zeros({3})));
}

TEST(Scale, RefusesANonBroadcastingInput) {
  expect_error<std::invalid_argument>([] { Scale(3)(torch::rand({2, 4})); }, {"Scale(3)", "[2, 4]"});
}

TEST(Scale, PrintsAndCounts) {
  EXPECT_EQ(printed(Scale(2)), "Scale(2)            # 4 parameters");
  EXPECT_EQ(Scale(std::vector<int64_t>{1, 4}, relu, {.bias = false})->repr(), "Scale(1, 4, relu; bias=false)");
  EXPECT_EQ(parameter_count(Scale(std::vector<int64_t>{1, 4}, identity, {.bias = false})), 4);
  EXPECT_EQ(parameter_count(Scale(std::vector<int64_t>{2, 3})), 12);
}

TEST(Scale, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(Scale(std::vector<int64_t>{3}, swish), torch::randn({2, 3}));
  expect_layer_gradients(Scale(std::vector<int64_t>{2, 1}, flux::tanh), torch::randn({2, 2, 3}));
}
