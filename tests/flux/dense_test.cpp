#include "testing.h"

using namespace flux;

TEST(Dense, SeedExampleShapesWithExtraBatchDimensions) {
  Dense d({5, 2});
  EXPECT_EQ(shape(d(torch::rand({64, 5}))), (Shape{64, 2}));        // Julia 5×64 -> 2×64
  EXPECT_EQ(shape(d(torch::rand({64, 1, 1, 5}))), (Shape{64, 1, 1, 2}));  // three batch dimensions
  EXPECT_EQ(shape(d(torch::rand({5}))), (Shape{2}));                 // a vector gives a vector
}

TEST(Dense, SeedExampleExplicitWeightWithoutBias) {
  Dense d1(torch::ones({2, 5}), false, flux::tanh);
  EXPECT_EQ(parameter_count(d1), 10);
  EXPECT_EQ(d1->parameters().size(), 1u);  // no trainable bias
  EXPECT_FALSE(d1->bias.defined());
  Tensor y = d1(torch::ones({5}, torch::kFloat64));  // Float64 input is converted to Float32
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  const double expected = std::tanh(5.0);
  EXPECT_NEAR(expected, 0.9999092042625951, 1e-15);
  EXPECT_NEAR(y[0].item<double>(), 0.9999092042625951, 1e-6);
  EXPECT_NEAR(y[1].item<double>(), 0.9999092042625951, 1e-6);
}

TEST(Dense, ComputesActivationOfWxPlusBByHand) {
  Tensor W = torch::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}), b = torch::tensor({0.5, -1.0, 2.0});
  Dense d(W, b, relu);
  // x = [1, -1]: W x = [-1, -1, -1]; + b = [-0.5, -2, 1]; relu -> [0, 0, 1]
  EXPECT_TRUE(torch::equal(d(torch::tensor({{1.0f, -1.0f}})), torch::tensor({{0.0f, 0.0f, 1.0f}})));
  // x = [2, 1]: W x = [4, 10, 16]; + b = [4.5, 9, 18]
  EXPECT_TRUE(torch::equal(d(torch::tensor({2.0f, 1.0f})), torch::tensor({4.5f, 9.0f, 18.0f})));
}

TEST(Dense, MatchesTorchLinearOnTheLastDimension) {
  Dense d({4, 3}, sigmoid);
  Tensor x = torch::randn({2, 5, 4});
  EXPECT_TRUE(close(d(x), torch::sigmoid(torch::nn::functional::linear(x, d->weight, d->bias))));
  EXPECT_EQ(shape(d->weight), (Shape{3, 4}));  // [out, in], Flux's W
}

TEST(Dense, DefaultBiasIsZeroAndWeightIsGlorotBounded) {
  torch::manual_seed(0);
  Dense d({50, 30});
  EXPECT_TRUE(torch::equal(d->bias, torch::zeros({30})));
  EXPECT_LE(d->weight.abs().max().item<double>(), std::sqrt(6.0 / (50 + 30)));
  EXPECT_EQ(d->weight.scalar_type(), torch::kFloat32);
}

TEST(Dense, ExplicitBiasVectorIsUsedAndChecked) {
  Dense d(torch::eye(3), torch::tensor({1.0, 2.0, 3.0}));
  EXPECT_TRUE(torch::equal(d(torch::zeros({3})), torch::tensor({1.0f, 2.0f, 3.0f})));
  expect_error<std::invalid_argument>([] { Dense(torch::ones({2, 5}), torch::ones({3})); }, {"bias of shape [2]", "[3]"});
}

TEST(Dense, RefusesTheWrongFeatureSize) {
  Dense d(torch::ones({3, 2}), true, relu);
  expect_error<std::invalid_argument>([&] { d(torch::rand({4, 3})); }, {"Dense(2 => 3, relu)", "last dimension 2", "[4, 3]"});
  expect_error<std::invalid_argument>([&] { d(torch::tensor(1.0)); }, {"Dense(2 => 3, relu)"});
  expect_error<std::invalid_argument>([] { Dense(InOut{0, 3}); }, {"positive"});
}

TEST(Dense, PrintsLikeFlux) {
  EXPECT_EQ(printed(Dense({5, 2})), "Dense(5 => 2)       # 12 parameters");
  EXPECT_EQ(printed(Dense({5, 2}, flux::tanh)), "Dense(5 => 2, tanh)  # 12 parameters");
  EXPECT_EQ(printed(Dense({5, 2}, flux::tanh, {.bias = false})), "Dense(5 => 2, tanh; bias=false)  # 10 parameters");
  EXPECT_EQ(Dense({2, 3}, sigmoid)->repr(), "Dense(2 => 3, σ)");
}

TEST(Dense, ParameterCountIsOutTimesInPlusOut) {
  EXPECT_EQ(parameter_count(Dense({784, 2048})), 784 * 2048 + 2048);
  EXPECT_EQ(parameter_count(Dense({784, 2048}, identity, {.bias = false})), 784 * 2048);
}

TEST(Dense, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(Dense({4, 3}, flux::tanh), torch::randn({2, 4}));
  expect_layer_gradients(Dense({3, 2}, identity, {.bias = false}), torch::randn({2, 2, 3}));
}
