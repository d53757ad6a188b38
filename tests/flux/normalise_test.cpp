// normalise, BatchNorm, InstanceNorm, GroupNorm and LayerNorm.
#include "testing.h"

using namespace flux;

TEST(Normalise, AddsEpsToTheStandardDeviation) {
  Tensor x = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).reshape({4, 1});
  double mu = 2.5, sigma = std::sqrt(1.25);  // population std
  Tensor y = normalise(x, {.dims = {0}, .eps = 0.1});
  EXPECT_NEAR(y[0][0].item<double>(), (1 - mu) / (sigma + 0.1), 1e-12);
}

TEST(LayerNorm, DiffersFromTorchByEpsPlacement) {
  Tensor x = torch::randn({3, 5}, torch::kFloat64) * 1e-3;  // small σ makes eps matter
  LayerNorm ln(5, identity, {.eps = 1e-5});
  ln->to(torch::kFloat64);
  Tensor mu = x.mean(-1, true), sigma = x.var(-1, false, true).sqrt();
  EXPECT_TRUE(torch::allclose(ln(x), (x - mu) / (sigma + 1e-5), 1e-10, 1e-10));
  EXPECT_FALSE(torch::allclose(ln(x), torch::layer_norm(x, {5}, {}, {}, 1e-5), 1e-3, 1e-3));
  EXPECT_EQ(printed(ln), "LayerNorm(5)        # 10 parameters");
}

TEST(BatchNorm, TrainingUpdatesRunningStatisticsAsTorchDoes) {
  BatchNorm bn(3, identity, {.momentum = 0.1});
  trainmode(bn);
  Tensor x = torch::randn({4, 3, 2, 2});
  Tensor y = bn(x);
  Tensor mean = x.mean({0, 2, 3}), var_unbiased = x.var({0, 2, 3}, /*unbiased=*/true);
  EXPECT_TRUE(torch::allclose(bn->running_mean, 0.1 * mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(bn->running_var, 0.9 + 0.1 * var_unbiased, 1e-5, 1e-6));
  Tensor expected = (x - mean.view({1, 3, 1, 1})) / (x.var({0, 2, 3}, false).view({1, 3, 1, 1}) + 1e-5).sqrt();
  EXPECT_TRUE(torch::allclose(y, expected, 1e-4, 1e-5));
  testmode(bn);
  Tensor z = bn(x);
  Tensor expected_test = (x - bn->running_mean.view({1, 3, 1, 1})) / (bn->running_var.view({1, 3, 1, 1}) + 1e-5).sqrt();
  EXPECT_TRUE(torch::allclose(z, expected_test, 1e-4, 1e-5));
}

TEST(GroupNorm, WithAGroupPerChannelIsInstanceNorm) {
  Tensor x = torch::randn({2, 4, 3, 3});
  GroupNorm g(4, 4);
  InstanceNorm i(4, identity, {.affine = true});
  EXPECT_TRUE(torch::allclose(g(x), i(x), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(GroupNorm(4, 2)(x), torch::group_norm(x, 2), 1e-5, 1e-5));
  expect_error<std::invalid_argument>([] { GroupNorm(5, 2); }, {"groups (2) must divide the number of channels (5)"});
}

TEST(Norms, PrintLikeFlux) {
  EXPECT_EQ(printed(BatchNorm(64)), "BatchNorm(64)       # 128 parameters, plus 128 non-trainable");
  EXPECT_EQ(printed(InstanceNorm(3, identity, {.affine = true})), "InstanceNorm(3)     # 6 parameters");
  EXPECT_EQ(InstanceNorm(2, sigmoid)->repr(), "InstanceNorm(2, σ, affine=false)");
  EXPECT_EQ(GroupNorm(4, 2, identity, {.affine = false})->repr(), "GroupNorm(4, 2, affine=false)");
  EXPECT_EQ(printed(BatchNorm(2, relu)), "BatchNorm(2, relu)  # 4 parameters, plus 4 non-trainable");
  EXPECT_EQ(printed(BatchNorm(3, identity, {.affine = false})), "BatchNorm(3, affine=false)");
  EXPECT_EQ(printed(InstanceNorm(3)), "InstanceNorm(3, affine=false)");
  EXPECT_EQ(printed(GroupNorm(4, 2, sigmoid)), "GroupNorm(4, 2, σ)  # 8 parameters");
  EXPECT_EQ(BatchNorm(3, identity, {.active = true})->repr(), "BatchNorm(3, active=true)");
}

TEST(Norms, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(BatchNorm(3), torch::randn({4, 3, 2, 2}));
  expect_layer_gradients(InstanceNorm(2, identity, {.affine = true}), torch::randn({2, 2, 3, 3}));
  expect_layer_gradients(GroupNorm(4, 2), torch::randn({2, 4, 3}));
  expect_layer_gradients(LayerNorm(std::vector<int64_t>{2, 3}), torch::randn({4, 2, 3}));
}

TEST(Norms, RefuseTheWrongChannelCount) {
  expect_error<std::invalid_argument>([] { BatchNorm(3)(torch::rand({2, 4, 5, 5})); }, {"BatchNorm(3)", "3 channels", "[2, 4, 5, 5]"});
  expect_error<std::invalid_argument>([] { LayerNorm(5)(torch::rand({2, 4})); }, {"LayerNorm(5)", "[2, 4]"});
  expect_error<std::invalid_argument>([] { GroupNorm(4, 2)(torch::rand({2, 6, 3})); }, {"GroupNorm(4, 2)", "[2, 6, 3]"});
  expect_error<std::invalid_argument>([] { InstanceNorm(3)(torch::rand({2, 3})); }, {"InstanceNorm(3, affine=false)", "[2, 3]"});
}

TEST(BatchNorm, SeedExampleChainGivesProbabilities) {
  Chain m(Dense({28 * 28, 64}), BatchNorm(64, relu), Dense({64, 10}), BatchNorm(10), softmax);
  torch::NoGradGuard no_grad;
  Tensor y = m(torch::rand({3, 28 * 28}));
  EXPECT_EQ(shape(y), (Shape{3, 10}));
  EXPECT_TRUE(close(y.sum(-1), torch::ones({3})));
}

TEST(BatchNorm, TrainingMatchesTorchBatchNorm) {
  BatchNorm bn(3, identity, {.momentum = 0.3});
  torch::NoGradGuard no_grad;
  bn->weight.copy_(torch::tensor({1.0, 2.0, 0.5}));
  bn->bias.copy_(torch::tensor({0.0, -1.0, 3.0}));
  trainmode(bn);
  Tensor x = torch::randn({4, 3, 5});
  Tensor rm = torch::zeros({3}), rv = torch::ones({3});
  Tensor expected = torch::batch_norm(x, bn->weight, bn->bias, rm, rv, /*training=*/true, /*momentum=*/0.3, 1e-5, false);
  EXPECT_TRUE(close(bn(x), expected, 1e-4, 1e-5));
  EXPECT_TRUE(close(bn->running_mean, rm));
  EXPECT_TRUE(close(bn->running_var, rv));
  testmode(bn);
  Tensor x2 = torch::randn({2, 3, 5});
  EXPECT_TRUE(close(bn(x2), torch::batch_norm(x2, bn->weight, bn->bias, rm, rv, false, 0.3, 1e-5, false), 1e-4, 1e-5));
}

TEST(BatchNorm, FeatureMatricesUseDimensionOneAsChannels) {
  BatchNorm bn(4);
  trainmode(bn);
  Tensor x = torch::randn({16, 4}) * 2 + 3;
  Tensor y = bn(x);
  EXPECT_TRUE(close(y.mean(0), torch::zeros({4}), 1e-4, 1e-4));
  EXPECT_TRUE(close(y.var(0, /*unbiased=*/false), torch::ones({4}), 1e-3, 1e-3));
}

TEST(BatchNorm, WithoutAffineHasNoParametersButKeepsRunningStats) {
  BatchNorm bn(3, identity, {.affine = false});
  EXPECT_EQ(parameter_count(bn), 0);
  EXPECT_FALSE(bn->weight.defined());
  EXPECT_EQ(bn->buffers().size(), 2u);
}

TEST(BatchNorm, WithoutTrackedStatsTestModeUsesTheBatch) {
  BatchNorm bn(2, identity, {.track_stats = false});
  testmode(bn);
  Tensor x = torch::randn({6, 2}) * 4 + 1;
  Tensor expected = (x - x.mean(0)) / (x.var(0, false) + 1e-5).sqrt();
  EXPECT_TRUE(close(bn(x), expected, 1e-4, 1e-5));
}

TEST(InstanceNorm, MatchesTorchInstanceNorm) {
  InstanceNorm in(3, identity, {.affine = true});
  torch::NoGradGuard no_grad;
  in->weight.copy_(torch::tensor({1.0, -2.0, 0.5}));
  in->bias.copy_(torch::tensor({0.1, 0.2, 0.3}));
  Tensor x = torch::randn({2, 3, 4, 4});
  Tensor expected = torch::instance_norm(x, in->weight, in->bias, {}, {}, true, 0.1, 1e-5, false);
  EXPECT_TRUE(close(in(x), expected, 1e-4, 1e-5));
  EXPECT_EQ(parameter_count(InstanceNorm(3)), 0);  // affine=false by default
}

TEST(InstanceNorm, TrackedStatsAverageTheInstancesStatistics) {
  InstanceNorm in(2, identity, {.track_stats = true, .momentum = 0.1});
  trainmode(in);
  Tensor x = torch::randn({3, 2, 5});
  in(x);
  const double m = 5;
  Tensor mean = x.mean(2).mean(0);
  Tensor var = x.var(2, /*unbiased=*/false).mean(0) * m / (m - 1);
  EXPECT_TRUE(close(in->running_mean, 0.1 * mean));
  EXPECT_TRUE(close(in->running_var, 0.9 + 0.1 * var));
}

TEST(GroupNorm, MatchesTorchGroupNormWithAffine) {
  GroupNorm g(6, 3, relu);
  torch::NoGradGuard no_grad;
  g->weight.copy_(torch::randn({6}));
  g->bias.copy_(torch::randn({6}));
  Tensor x = torch::randn({2, 6, 5});
  EXPECT_TRUE(close(g(x), torch::relu(torch::group_norm(x, 3, g->weight, g->bias, 1e-5)), 1e-4, 1e-5));
}

TEST(GroupNorm, WithBatchOneAndAGroupPerChannelIsTrainingBatchNorm) {
  Tensor x = torch::randn({1, 3, 4, 4});
  BatchNorm bn(3);
  trainmode(bn);
  EXPECT_TRUE(close(GroupNorm(3, 3)(x), bn(x), 1e-4, 1e-5));
}

TEST(LayerNorm, NormalisesTheTrailingDimensions) {
  LayerNorm ln(std::vector<int64_t>{2, 3}, identity, {.eps = 1e-3});
  Tensor x = torch::randn({4, 2, 3}, torch::kFloat64);
  ln->to(torch::kFloat64);
  Tensor mu = x.mean({1, 2}, true), sigma = x.var({1, 2}, false, true).sqrt();
  EXPECT_TRUE(close(ln(x), (x - mu) / (sigma + 1e-3), 1e-10, 1e-10));
  EXPECT_EQ(printed(LayerNorm(std::vector<int64_t>{2, 3}, relu)), "LayerNorm(2, 3, relu)  # 12 parameters");
  EXPECT_EQ(printed(LayerNorm(5, identity, {.affine = false})), "LayerNorm(5, affine=false)");
}

TEST(LayerNorm, AffineIsAnElementwiseScaleAndShift) {
  LayerNorm ln(3);
  torch::NoGradGuard no_grad;
  ln->weight.copy_(torch::tensor({1.0, 2.0, 3.0}));
  ln->bias.copy_(torch::tensor({0.0, 1.0, -1.0}));
  Tensor x = torch::tensor({{1.0f, 2.0f, 6.0f}});
  Tensor n = normalise(x, {.dims = {-1}});
  EXPECT_TRUE(close(ln(x), n * torch::tensor({1.0f, 2.0f, 3.0f}) + torch::tensor({0.0f, 1.0f, -1.0f})));
}

TEST(Normalise, DefaultsToTheBatchDimension) {
  Tensor x = torch::randn({6, 3}, torch::kFloat64);
  Tensor expected = (x - x.mean(0, true)) / (x.var(0, false, true).sqrt() + 1e-5);
  EXPECT_TRUE(close(normalise(x), expected, 1e-12, 1e-12));
}

TEST(Norms, ParameterCounts) {
  EXPECT_EQ(parameter_count(BatchNorm(64)), 128);
  EXPECT_EQ(parameter_count(InstanceNorm(8, identity, {.affine = true})), 16);
  EXPECT_EQ(parameter_count(GroupNorm(8, 4)), 16);
  EXPECT_EQ(parameter_count(LayerNorm(std::vector<int64_t>{2, 3})), 12);
}
