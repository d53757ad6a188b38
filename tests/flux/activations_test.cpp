// NNlib's activation functions against their formulas.
#include "testing.h"

using namespace flux;

TEST(Activations, MatchTheirFormulas) {
  Tensor x = torch::linspace(-4, 4, 17, torch::kFloat64);
  auto near = [](const Tensor& a, const Tensor& b) { return torch::allclose(a, b, 1e-9, 1e-12); };
  EXPECT_NEAR(gelu(torch::tensor(1.0, torch::kFloat64)).item<double>(), 0.8411919906082768, 1e-12);
  EXPECT_NEAR(gelu(torch::tensor(-1.0, torch::kFloat64)).item<double>(), -0.15880800939172324, 1e-12);
  EXPECT_TRUE(near(sigmoid(x), 1 / (1 + torch::exp(-x))));
  EXPECT_TRUE(near(hardsigmoid(x), torch::clamp((x + 3) / 6, 0, 1)));
  EXPECT_TRUE(near(relu6(x * 2), torch::clamp(x * 2, 0, 6)));
  EXPECT_TRUE(near(leakyrelu(x), torch::where(x > 0, x, 0.01 * x)));
  EXPECT_TRUE(near(leakyrelu(x, 0.2), torch::where(x > 0, x, 0.2 * x)));
  EXPECT_TRUE(near(elu(x), torch::where(x >= 0, x, torch::exp(x) - 1)));
  EXPECT_TRUE(near(celu(x, 2.0), torch::where(x >= 0, x, 2 * (torch::exp(x / 2) - 1))));
  EXPECT_TRUE(near(swish(x), x / (1 + torch::exp(-x))));
  EXPECT_TRUE(near(hardswish(x), x * torch::clamp((x + 3) / 6, 0, 1)));
  const double lambda = 1.0507009873554804934193349852946, alpha = 1.6732632423543772848170429916717;
  EXPECT_TRUE(near(selu(x), lambda * torch::where(x > 0, x, alpha * (torch::exp(x) - 1))));
  EXPECT_TRUE(near(softplus(x), torch::log(1 + torch::exp(x))));
  EXPECT_TRUE(near(logsigmoid(x), torch::log(1 / (1 + torch::exp(-x)))));
  EXPECT_TRUE(near(softsign(x), x / (1 + x.abs())));
  EXPECT_TRUE(near(mish(x), x * torch::tanh(torch::log(1 + torch::exp(x)))));
  EXPECT_TRUE(near(tanhshrink(x), x - torch::tanh(x)));
  EXPECT_TRUE(near(hardtanh(x), torch::clamp(x, -1, 1)));
  Tensor m = torch::randn({2, 5}, torch::kFloat64);
  EXPECT_TRUE(near(softmax(m), torch::exp(m) / torch::exp(m).sum(-1, true)));
  EXPECT_TRUE(near(logsoftmax(m), torch::log(torch::exp(m) / torch::exp(m).sum(-1, true))));
  EXPECT_EQ(Dense({2, 2}, sigmoid)->repr(), "Dense(2 => 2, σ)");
  EXPECT_EQ(Chain(relu, softmax)->repr(), "Chain(relu, softmax)");
}

TEST(Activations, GeluIsTheTanhApproximation) {
  Tensor x = torch::linspace(-3, 3, 13, torch::kFloat64);
  const double c = std::sqrt(2 / M_PI);
  Tensor tanh_form = 0.5 * x * (1 + torch::tanh(c * (x + 0.044715 * x.pow(3))));
  EXPECT_TRUE(close(gelu(x), tanh_form, 1e-12, 1e-12));
  EXPECT_TRUE(close(gelu(x), torch::gelu(x, "tanh"), 1e-12, 1e-12));
  EXPECT_TRUE(close(gelu_erf(x), 0.5 * x * (1 + torch::erf(x / std::sqrt(2.0))), 1e-12, 1e-12));
  EXPECT_FALSE(torch::allclose(gelu(x), gelu_erf(x), 1e-6, 1e-6));
  EXPECT_NEAR(gelu(torch::tensor(1.0f)).item<double>(), 0.8411919906082768, 1e-6);
}

TEST(Activations, SeluUsesItsExactConstants) {
  const double lambda = 1.0507009873554804934193349852946, alpha = 1.6732632423543772848170429916717;
  EXPECT_NEAR(selu(torch::tensor(1.0, torch::kFloat64)).item<double>(), lambda, 1e-15);
  EXPECT_NEAR(selu(torch::tensor(-1.0, torch::kFloat64)).item<double>(), lambda * alpha * (std::exp(-1.0) - 1), 1e-15);
  // AlphaDropout's saturation value is selu's limit at -∞: -λα.
  EXPECT_NEAR(selu(torch::tensor(-100.0, torch::kFloat64)).item<double>(), -1.7580993408473766, 1e-12);
}

TEST(Activations, SoftplusIsStableForLargeInputs) {
  Tensor x = torch::tensor({-1000.0, -30.0, 0.0, 30.0, 1000.0}, torch::kFloat64);
  Tensor y = softplus(x);
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  EXPECT_NEAR(y[4].item<double>(), 1000.0, 1e-9);
  EXPECT_NEAR(y[2].item<double>(), std::log(2.0), 1e-15);
  EXPECT_NEAR(y[0].item<double>(), 0.0, 1e-15);
  EXPECT_NEAR(y[1].item<double>(), std::log1p(std::exp(-30.0)), 1e-20);
  EXPECT_NEAR(sigmoid(torch::tensor(-1000.0, torch::kFloat64)).item<double>(), 0.0, 1e-300);
}

TEST(Activations, HardsigmoidAndHardswishByHand) {
  Tensor x = torch::tensor({-4.0, -3.0, 0.0, 1.5, 3.0, 5.0}, torch::kFloat64);
  EXPECT_TRUE(close(hardsigmoid(x), torch::tensor({0.0, 0.0, 0.5, 0.75, 1.0, 1.0}, torch::kFloat64)));
  EXPECT_TRUE(close(hardswish(x), torch::tensor({0.0, 0.0, 0.0, 1.125, 3.0, 5.0}, torch::kFloat64)));
}

TEST(Activations, ParametrisedActivationsCarryTheirCoefficient) {
  Tensor x = torch::tensor({-2.0, 3.0}, torch::kFloat64);
  Activation lr = leakyrelu.with(0.2);
  EXPECT_TRUE(close(lr(x), torch::tensor({-0.4, 3.0}, torch::kFloat64)));
  EXPECT_TRUE(close(leakyrelu(x), torch::tensor({-0.02, 3.0}, torch::kFloat64)));
  EXPECT_TRUE(close(elu(x, 2.0), torch::tensor({2 * (std::exp(-2.0) - 1), 3.0}, torch::kFloat64)));
  EXPECT_EQ(Dense({2, 2}, lr)->repr().rfind("Dense(2 => 2, leakyrelu", 0), 0u);
}

TEST(Activations, SoftmaxActsOnTheLastDimensionAndSumsToOne) {
  Tensor m = torch::randn({3, 4, 5}, torch::kFloat64);
  EXPECT_TRUE(close(softmax(m).sum(-1), torch::ones({3, 4}, torch::kFloat64), 1e-12, 1e-12));
  EXPECT_TRUE(close(softmax_dim(m, 1), torch::softmax(m, 1), 1e-12, 1e-12));
  EXPECT_TRUE(close(logsoftmax_dim(m, 0), torch::log_softmax(m, 0), 1e-12, 1e-12));
  Tensor big = torch::tensor({1000.0, 1000.0}, torch::kFloat64);
  EXPECT_TRUE(close(softmax(big), torch::tensor({0.5, 0.5}, torch::kFloat64)));
}

TEST(Activations, PrintByTheirJuliaNames) {
  EXPECT_EQ(sigmoid.name(), "σ");
  EXPECT_EQ(relu.name(), "relu");
  EXPECT_EQ(flux::tanh.name(), "tanh");
  EXPECT_TRUE(identity.is_identity());
  EXPECT_EQ(Dense({2, 2}, identity)->repr(), "Dense(2 => 2)");
  EXPECT_EQ(Conv({1}, {1, 1}, swish)->repr(), "Conv((1,), 1 => 1, swish)");
}

TEST(Activations, InPlaceOnlyOnTensorsNobodyElseSees) {
  for (const Activation* a : {&relu, &relu6, &sigmoid, &hardsigmoid, &flux::tanh, &swish, &hardswish, &gelu_erf}) {
    Tensor x = torch::randn({64}) * 4;
    Tensor expected = (*a)(x);
    torch::NoGradGuard no_grad;
    Tensor fresh = x.clone();
    const void* data = fresh.data_ptr();
    Tensor y = (*a)(std::move(fresh));
    EXPECT_EQ(y.data_ptr(), data) << a->name();  // overwritten in place
    EXPECT_TRUE(close(y, expected, 1e-6, 1e-6)) << a->name();
    Tensor shared = x.clone(), other = shared;
    Tensor z = (*a)(std::move(shared));  // another handle sees it: a new tensor
    EXPECT_NE(z.data_ptr(), other.data_ptr()) << a->name();
    Tensor view = x.clone();
    Tensor v = (*a)(view.view({8, 8}));  // a view of a live tensor: a new tensor
    EXPECT_TRUE(close(view, x)) << a->name();
  }
  Tensor w = torch::randn({4}, torch::requires_grad());
  Tensor h = w * 2;
  Tensor r = relu(std::move(h));  // history wanted: not in place, gradients flow
  r.sum().backward();
  EXPECT_TRUE(w.grad().defined());
}
