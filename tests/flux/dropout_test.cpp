// dropout, Dropout and AlphaDropout.
#include "testing.h"

using namespace flux;

TEST(Dropout, DropsTheRequestedFractionAndScales) {
  torch::manual_seed(0);
  Tensor x = torch::ones({1000, 100});
  Tensor y = flux::dropout(x, 0.3);
  double kept = (y != 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 0.7, 0.01);
  EXPECT_NEAR(y.max().item<double>(), 1 / 0.7, 1e-5);
  EXPECT_TRUE(torch::equal(flux::dropout(x, 0), x));
  EXPECT_TRUE(torch::equal(flux::dropout(x, 1), torch::zeros_like(x)));
  expect_error<std::invalid_argument>([&] { flux::dropout(x, 1.5); }, {"[0, 1]", "1.5"});
}

TEST(Dropout, DimsShareOneDecisionAlongTheOtherDimensions) {
  torch::manual_seed(1);
  // Flux dims=3 on WHCN: one decision per channel, shared by the whole batch. (Qualified: ADL finds at::dropout.)
  Tensor y = flux::dropout(torch::ones({6, 40, 3, 3}), 0.5, {1});
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

TEST(Dropout, KeptValuesAreExactlyScaledInputs) {
  torch::manual_seed(3);
  Tensor x = torch::randn({50, 20});
  Tensor y = flux::dropout(x, 0.25);
  Tensor kept = y != 0;
  EXPECT_TRUE(close(y.masked_select(kept), x.masked_select(kept) / 0.75));
}

TEST(Dropout, DimsZeroDropsWholeSamples) {
  // Flux dims=2 on an (in, N) matrix: one decision per sample, our dim 0.
  torch::manual_seed(4);
  Tensor y = flux::dropout(torch::ones({200, 7}), 0.5, {0});
  for (int64_t i = 0; i < 200; ++i) {
    double v = y[i][0].item<double>();
    EXPECT_TRUE(v == 0 || v == 2);
    EXPECT_TRUE(torch::all(y[i] == v).item<bool>());
  }
  double kept = (y.select(1, 0) != 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 0.5, 0.15);
}

TEST(Dropout, LayerIsTheIdentityOnAPlainCallAndDropsWhenForced) {
  torch::manual_seed(5);
  Tensor x = torch::ones({100, 100});
  Dropout d(0.4);
  EXPECT_TRUE(torch::equal(d(x), x));  // automatic mode, nothing requires grad: test behaviour
  Dropout on(0.4, {.active = true});
  Tensor y = on(x);
  EXPECT_NEAR((y != 0).to(torch::kFloat64).mean().item<double>(), 0.6, 0.02);
  EXPECT_NEAR(y.max().item<double>(), 1 / 0.6, 1e-5);
  EXPECT_EQ(printed(on), "Dropout(0.4, active=true)");
  EXPECT_EQ(printed(d), "Dropout(0.4)");
  EXPECT_EQ(parameter_count(d), 0);
}

TEST(Dropout, TrainsInAutomaticModeWhenTheInputRequiresGrad) {
  torch::manual_seed(6);
  Dropout d(0.5);
  Tensor x = torch::ones({100, 100}, torch::requires_grad());
  Tensor y = d(x);
  EXPECT_NEAR((y != 0).to(torch::kFloat64).mean().item<double>(), 0.5, 0.02);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(d(x), x));
}

TEST(Dropout, RefusesAProbabilityOutsideZeroOne) {
  expect_error<std::invalid_argument>([] { Dropout(1.5); }, {"Dropout", "[0, 1]", "1.5"});
  expect_error<std::invalid_argument>([] { Dropout(-0.1); }, {"Dropout", "[0, 1]", "-0.1"});
  expect_error<std::invalid_argument>([] { AlphaDropout(2.0); }, {"AlphaDropout", "[0, 1]"});
  expect_error<std::invalid_argument>([] { flux::dropout(torch::ones({2, 2}), 0.5, {3}); }, {"dimension 3", "[2, 2]"});
}

TEST(AlphaDropout, KeepsMeanAndVarianceOfSeluActivations) {
  torch::manual_seed(7);
  AlphaDropout d(0.3, true);
  Tensor x = torch::randn({200000}, torch::kFloat64);
  Tensor y = d(x);
  EXPECT_NEAR(y.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(y.var().item<double>(), 1.0, 0.02);
}

TEST(AlphaDropout, ExtremeProbabilitiesAndPrinting) {
  Tensor x = torch::randn({10});
  EXPECT_TRUE(torch::equal(AlphaDropout(0.0, true)(x), x));
  EXPECT_TRUE(torch::equal(AlphaDropout(1.0, true)(x), torch::zeros_like(x)));
  EXPECT_TRUE(torch::equal(AlphaDropout(0.5)(x), x));  // automatic mode, plain call
  EXPECT_EQ(printed(AlphaDropout(0.5)), "AlphaDropout(0.5)");
}
