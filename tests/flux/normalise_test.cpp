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
}

TEST(Mode, AutomaticTrainsOnlyWhenAutogradRecords) {
  BatchNorm bn(2);
  Tensor x = torch::randn({8, 2}) * 3 + 1;
  {
    torch::NoGradGuard no_grad;
    bn(x);
  }
  EXPECT_TRUE(torch::equal(bn->running_mean, torch::zeros({2})));  // test behaviour
  bn(x);  // grad mode on and γ requires grad: training
  EXPECT_FALSE(torch::equal(bn->running_mean, torch::zeros({2})));
}

TEST(Mode, TestmodeTrainmodeAndTorchFlagsAgree) {
  Chain m(Dense({4, 4}), BatchNorm(4), Dropout(0.5));
  testmode(m);
  EXPECT_FALSE(m->is_training());
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5, active=false)");
  Tensor x = torch::ones({3, 4});
  EXPECT_TRUE(torch::equal(m[2](x), x));
  trainmode(m);
  EXPECT_TRUE(m->is_training());
  EXPECT_EQ(m[1]->repr(), "BatchNorm(4, active=true)");
  testmode(m, automatic);
  EXPECT_EQ(m[1]->repr(), "BatchNorm(4)");
  m->eval();  // torch's eval is testmode
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5, active=false)");
  trainmode(m, false);
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5, active=false)");
}

TEST(Dropout, DropsTheRequestedFractionAndScales) {
  torch::manual_seed(0);
  Tensor x = torch::ones({1000, 100});
  Tensor y = dropout(x, 0.3);
  double kept = (y != 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 0.7, 0.01);
  EXPECT_NEAR(y.max().item<double>(), 1 / 0.7, 1e-5);
  EXPECT_TRUE(torch::equal(dropout(x, 0), x));
  EXPECT_TRUE(torch::equal(dropout(x, 1), torch::zeros_like(x)));
  expect_error<std::invalid_argument>([&] { dropout(x, 1.5); }, {"[0, 1]", "1.5"});
}

TEST(Dropout, DimsShareOneDecisionAlongTheOtherDimensions) {
  torch::manual_seed(1);
  Tensor y = flux::dropout(torch::ones({6, 40, 3, 3}), 0.5, {1});  // qualified: ADL would find at::dropout  // Flux dims=3: one per channel, whole batch
  Tensor per_channel = y.amax({0, 2, 3});
  for (int64_t c = 0; c < 40; ++c) {
    Tensor slice = y.select(1, c);
    EXPECT_TRUE(torch::all(slice == per_channel[c]).item<bool>());
  }
  EXPECT_EQ(Dropout(0.5, {.dims = {1}})->repr(), "Dropout(0.5, dims=1)");
}

TEST(AlphaDropout, FollowsTheSeluFormula) {
  torch::manual_seed(2);
  AlphaDropout d(0.2, true);
  Tensor x = torch::randn({20000});
  Tensor y = d(x);
  const double p = 0.2, a = -1.7580993408473766;
  const double A = 1 / std::sqrt((1 - p) * (1 + p * a * a)), B = -A * a * p;
  Tensor kept = torch::isclose(y, A * x + B, 1e-5, 1e-6);
  Tensor dropped = torch::isclose(y, torch::full_like(y, A * a + B), 1e-5, 1e-6);
  EXPECT_TRUE(torch::all(kept | dropped).item<bool>());
  EXPECT_NEAR(dropped.to(torch::kFloat64).mean().item<double>(), p, 0.02);
  testmode(d);
  EXPECT_TRUE(torch::equal(d(x), x));
}
