// Port of NNlib.jl v0.9.36 test/activations.jl. NNlib's scalar calls f(x) are our f on a
// 0-d tensor; `==` is EXPECT_DOUBLE_EQ, `≈` Julia's isapprox (rtol √eps). NNlib turns an
// integer into Float64, ours into Float32 (documented): integer cases compare at Float32
// precision. Functions we do not have (gelu_tanh, gelu_sigmoid, tanh_fast, sigmoid_fast) and
// ChainRules internals are listed in PORTED.md.
#include "testing.h"

#include <cmath>
#include <limits>

using namespace flux;

namespace {

struct Named {
  std::string name;
  const Activation* f;
};

// NNlib.ACTIVATIONS as far as we have them; our tanh stands for tanh_fast, which layers use.
std::vector<Named> activation_functions() {
  return {{"σ", &sigmoid},         {"hardσ", &hardsigmoid},   {"hardtanh", &hardtanh},   {"relu", &relu},
          {"leakyrelu", &leakyrelu}, {"relu6", &relu6},       {"rrelu", &rrelu},         {"elu", &elu},
          {"gelu", &gelu},         {"gelu_erf", &gelu_erf},   {"swish", &swish},         {"hardswish", &hardswish},
          {"selu", &selu},         {"celu", &celu},           {"softplus", &softplus},   {"softsign", &softsign},
          {"logσ", &logsigmoid},   {"logcosh", &logcosh},     {"mish", &mish},           {"tanhshrink", &tanhshrink},
          {"softshrink", &softshrink}, {"trelu", &trelu},     {"lisht", &lisht},         {"tanh", &flux::tanh}};
}

struct Binary {
  std::string name;
  std::function<Tensor(const Tensor&, double)> f;
};

// NNlib's BINARY_ACTIVATIONS: those with a method f(x, β). rrelu(x, lo) keeps hi = 1/3.
std::vector<Binary> binary_activations() {
  return {{"leakyrelu", [](const Tensor& x, double a) { return leakyrelu(x, a); }},
          {"elu", [](const Tensor& x, double a) { return elu(x, a); }},
          {"celu", [](const Tensor& x, double a) { return celu(x, a); }},
          {"trelu", [](const Tensor& x, double a) { return trelu(x, a); }},
          {"softshrink", [](const Tensor& x, double a) { return softshrink(x, a); }},
          {"rrelu", [](const Tensor& x, double a) { return rrelu(x, a, 1.0 / 3); }}};
}

Tensor t64(double x) { return torch::tensor(x, torch::kFloat64); }
double value(const Activation& f, double x) { return f(t64(x)).item<double>(); }

// Julia's isapprox with its default rtol = √eps(Float64).
::testing::AssertionResult approx(double a, double b, double rtol = 1.4901161193847656e-8) {
  if (a == b || std::abs(a - b) <= rtol * std::max(std::abs(a), std::abs(b))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " ≉ " << b;
}

// Derivatives by autograd (Zygote.gradient / ForwardDiff.derivative).
double derivative(const std::function<Tensor(const Tensor&)>& f, double x) {
  Tensor t = t64(x).requires_grad_(true);
  return torch::autograd::grad({f(t)}, {t})[0].item<double>();
}
double second_derivative(const std::function<Tensor(const Tensor&)>& f, double x) {
  Tensor t = t64(x).requires_grad_(true);
  Tensor g = torch::autograd::grad({f(t)}, {t}, {}, true, true)[0];
  if (!g.requires_grad()) return 0.0;  // a constant first derivative
  auto h = torch::autograd::grad({g}, {t}, {}, false, false, true)[0];
  return h.defined() ? h.item<double>() : 0.0;
}

// The Hessian of a scalar function of a vector, by double backward and by central
// differences of the first derivative (NNlib's hessian_reverse against hessian_dual).
Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0) {
  const int64_t n = x0.numel();
  Tensor x = x0.clone().requires_grad_(true);
  Tensor H = torch::zeros({n, n}, torch::kFloat64);
  Tensor g = torch::autograd::grad({f(x)}, {x}, {}, true, true)[0];
  if (!g.requires_grad()) return H;
  for (int64_t i = 0; i < n; ++i) {
    auto row = torch::autograd::grad({g[i]}, {x}, {}, true, false, true)[0];
    if (row.defined()) H[i] = row.detach();
  }
  return H;
}
Tensor fd_hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, double h = 1e-5) {
  const int64_t n = x0.numel();
  auto grad_at = [&](const Tensor& at) {
    Tensor x = at.clone().requires_grad_(true);
    return torch::autograd::grad({f(x)}, {x})[0].detach();
  };
  Tensor H = torch::zeros({n, n}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    Tensor up = x0.clone(), down = x0.clone();
    up[i] += h;
    down[i] -= h;
    H.select(1, i).copy_((grad_at(up) - grad_at(down)) / (2 * h));
  }
  return H;
}

// NNlib's gradtest: autograd against finite differences, in Float64.
void gradtest(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, double tol = 1e-6) {
  Tensor x = x0.clone().to(torch::kFloat64).requires_grad_(true);
  expect_gradients_match([&] { return f(x); }, {x}, tol);
}

const double kLambda = 1.0507009873554804934193349852946, kAlpha = 1.6732632423543772848170429916717;

}  // namespace

// NNlib test/activations.jl: the values at 0.0
TEST(NNlibActivations, ValuesAtZero) {
  EXPECT_DOUBLE_EQ(value(sigmoid, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(value(hardsigmoid, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(value(hardtanh, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(relu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(leakyrelu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(relu6, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(rrelu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(elu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(gelu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(gelu_erf, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(swish, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(hardswish, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(lisht, 0.0), 0.0);
  EXPECT_TRUE(approx(value(softplus, 0.0), std::log(2.0)));
  EXPECT_TRUE(approx(value(softplus, 1e8), 1e8));
  EXPECT_TRUE(approx(value(softplus, -1e8), 0.0));
  // NNlib issue 671: softplus is smooth at the origin (ForwardDiff derivatives).
  auto sp = [](const Tensor& x) { return softplus(x); };
  EXPECT_TRUE(approx(derivative(sp, 0.0), 0.5));
  EXPECT_TRUE(approx(second_derivative(sp, 0.0), 0.25));
  EXPECT_DOUBLE_EQ(value(softsign, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(selu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(celu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(trelu, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(logcosh, 0.0), std::log(std::cosh(0.0)));
  EXPECT_DOUBLE_EQ(value(mish, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(tanhshrink, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(value(softshrink, 0.0), 0.0);
}

// NNlib test/activations.jl: the values at 1.0
TEST(NNlibActivations, ValuesAtOne) {
  EXPECT_DOUBLE_EQ(value(sigmoid, 1.0), 1.0 / (1.0 + std::exp(-1.0)));
  EXPECT_DOUBLE_EQ(value(hardsigmoid, 1.0), std::max(0.0, std::min(1.0, (1 + 3) / 6.0)));
  EXPECT_DOUBLE_EQ(value(hardtanh, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(value(relu, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(value(leakyrelu, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(value(relu6, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(value(rrelu, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(value(elu, 1.0), 1.0);
  EXPECT_TRUE(approx(value(gelu, 1.0), 0.8411919906082768));
  EXPECT_DOUBLE_EQ(value(gelu_erf, 1.0), 0.8413447460685429);
  EXPECT_DOUBLE_EQ(value(swish, 1.0), value(sigmoid, 1.0));
  EXPECT_DOUBLE_EQ(value(hardswish, 1.0), value(hardsigmoid, 1.0));
  EXPECT_TRUE(approx(value(lisht, 1.0), 1.0 * std::tanh(1.0)));
  EXPECT_TRUE(approx(value(softplus, 1.0), std::log(std::exp(1.0) + 1.0)));
  EXPECT_DOUBLE_EQ(value(softsign, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(value(selu, 1.0), kLambda);
  EXPECT_DOUBLE_EQ(value(celu, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(value(trelu, 1.0), 0.0);
  EXPECT_TRUE(approx(value(logcosh, 1.0), std::log(std::cosh(1.0))));
  EXPECT_TRUE(approx(value(mish, 1.0), std::tanh(std::log(1.0 + std::exp(1.0)))));
  EXPECT_TRUE(approx(value(tanhshrink, 1.0), 0.23840584404423515));
  EXPECT_DOUBLE_EQ(value(softshrink, 1.0), 0.5);
}

// NNlib test/activations.jl: the values at -1.0
TEST(NNlibActivations, ValuesAtMinusOne) {
  EXPECT_DOUBLE_EQ(value(sigmoid, -1.0), std::exp(-1.0) / (1.0 + std::exp(-1.0)));
  EXPECT_DOUBLE_EQ(value(hardsigmoid, -1.0), std::max(0.0, std::min(1.0, (-1 + 3) / 6.0)));
  EXPECT_DOUBLE_EQ(value(hardtanh, -1.0), -1.0);
  EXPECT_DOUBLE_EQ(value(relu, -1.0), 0.0);
  EXPECT_DOUBLE_EQ(value(leakyrelu, -1.0), -0.01);
  EXPECT_DOUBLE_EQ(value(relu6, -1.0), 0.0);
  const double r = value(rrelu, -1.0);
  EXPECT_LE(-1 / 3.0, r);
  EXPECT_LE(r, -1 / 8.0);
  EXPECT_DOUBLE_EQ(value(elu, -1.0), std::exp(-1.0) - 1.0);
  EXPECT_TRUE(approx(value(gelu, -1.0), -0.15880800939172324));
  EXPECT_DOUBLE_EQ(value(gelu_erf, -1.0), -0.15865525393145707);
  EXPECT_DOUBLE_EQ(value(swish, -1.0), -value(sigmoid, -1.0));
  EXPECT_DOUBLE_EQ(value(hardswish, -1.0), -value(hardsigmoid, -1.0));
  EXPECT_TRUE(approx(value(lisht, -1.0), -1.0 * std::tanh(-1.0)));
  EXPECT_TRUE(approx(value(softplus, -1.0), std::log(std::exp(-1.0) + 1.0)));
  EXPECT_DOUBLE_EQ(value(softsign, -1.0), -0.5);
  EXPECT_TRUE(approx(value(selu, -1.0), kLambda * kAlpha * (std::exp(-1.0) - 1.0)));
  EXPECT_DOUBLE_EQ(value(celu, -1.0), std::exp(-1.0) - 1);
  EXPECT_DOUBLE_EQ(value(trelu, -1.0), 0.0);
  EXPECT_TRUE(approx(value(logcosh, -1.0), std::log(std::cosh(-1.0))));  // NNlib writes log(cosh(-1.0)) on both sides
  EXPECT_TRUE(approx(value(mish, -1.0), -std::tanh(std::log(1.0 + std::exp(-1.0)))));
  EXPECT_TRUE(approx(value(tanhshrink, -1.0), -0.23840584404423515));
  EXPECT_DOUBLE_EQ(value(softshrink, -1.0), -0.5);
}

// NNlib test/activations.jl: "Float inference" (Float32 and Float64)
TEST(NNlibActivations, FloatInference) {
  for (auto T : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& a : activation_functions()) {
      for (double val : {-10, -1, 0, 1, 10}) {
        EXPECT_EQ((*a.f)(torch::tensor(val, T)).scalar_type(), T) << a.name << " " << val;
      }
    }
    for (const auto& a : binary_activations()) {
      for (double val : {-10, -1, 0, 1, 10}) {
        for (double beta : {0.1, 0.5, 1.0}) {
          EXPECT_EQ(a.f(torch::tensor(val, T), beta).scalar_type(), T) << a.name << " " << val << " " << beta;
        }
      }
    }
  }
}

// NNlib test/activations.jl: "Float inference" (Float16)
TEST(NNlibActivations, FloatInferenceFloat16) {
  const auto T = torch::kHalf;
  for (const auto& a : activation_functions()) {
    for (double val : {-10, -1, 0, 1, 10}) {
      Tensor y;
      ASSERT_NO_THROW(y = (*a.f)(torch::tensor(val).to(T))) << a.name;
      EXPECT_EQ(y.scalar_type(), T) << a.name << " " << val;
    }
  }
  for (const auto& a : binary_activations()) {
    for (double val : {-10, -1, 0, 1, 10}) {
      for (double beta : {0.1, 0.5, 1.0}) {
        Tensor y;
        ASSERT_NO_THROW(y = a.f(torch::tensor(val).to(T), beta)) << a.name;
        EXPECT_EQ(y.scalar_type(), T) << a.name << " " << val << " " << beta;
      }
    }
  }
}

// NNlib test/activations.jl: "Array input -> error"
TEST(NNlibActivations, ArrayInput) {
  for (const auto& a : activation_functions()) {
    Tensor x = torch::rand({5}, torch::kFloat64).requires_grad_(true);
    Tensor y = (*a.f)(x);
    EXPECT_EQ(shape(y), shape(x)) << a.name;
    Tensor g = torch::autograd::grad({y.sum()}, {x})[0];
    EXPECT_EQ(shape(g), shape(x)) << a.name;
  }
  for (const auto& a : binary_activations()) {
    Tensor x = torch::rand({5}, torch::kFloat64).requires_grad_(true);
    Tensor y = a.f(x, 0.1);
    EXPECT_EQ(shape(y), shape(x)) << a.name;
    Tensor g = torch::autograd::grad({y.sum()}, {x})[0];
    EXPECT_EQ(shape(g), shape(x)) << a.name;
  }
}

// NNlib test/activations.jl: "NaN propagation"
TEST(NNlibActivations, NaNPropagation) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const auto& a : activation_functions()) {
    SCOPED_TRACE(a.name);
    // With NaN input, all should produce NaN output:
    EXPECT_TRUE(std::isnan((*a.f)(torch::tensor(nan)).item<float>()));
    if (a.name == "softsign") continue;
    EXPECT_FALSE(std::isnan((*a.f)(torch::tensor(inf)).item<float>()));
    if (a.name == "gelu" || a.name == "gelu_erf" || a.name == "swish" || a.name == "hardswish" || a.name == "logcosh" ||
        a.name == "mish") {
      continue;
    }
    EXPECT_FALSE(std::isnan((*a.f)(torch::tensor(-inf)).item<float>()));
  }
}

// NNlib test/activations.jl: "Integer inputs"
TEST(NNlibActivations, IntegerInputs) {
  for (const auto& a : activation_functions()) {
    SCOPED_TRACE(a.name);
    for (auto T : {torch::kInt64, torch::kInt32}) {
      Tensor y;
      ASSERT_NO_THROW(y = (*a.f)(torch::ones({}, T)));
      EXPECT_FALSE(y.is_complex());  // typeof(a(Int(1))) <: Real
      EXPECT_TRUE(y.is_floating_point() || c10::isIntegralType(y.scalar_type(), /*includeBool=*/false));
    }
  }
  // relu, relu6, hardtanh and trelu pass integers through.
  for (const Activation* a : {&relu, &relu6, &hardtanh, static_cast<const Activation*>(&trelu)}) {
    EXPECT_EQ((*a)(torch::ones({}, torch::kInt64)).scalar_type(), torch::kInt64) << a->name();
    EXPECT_EQ((*a)(torch::ones({}, torch::kInt32)).scalar_type(), torch::kInt32) << a->name();
  }
}

// spec (/tmp/api-spec.md): the other activations give Float32 for integer and Bool input,
// also for a temporary tensor; float input keeps its type.
TEST(NNlibActivations, IntegerAndBoolInputsGiveFloat32) {
  for (const auto& a : activation_functions()) {
    if (a.name == "relu" || a.name == "relu6" || a.name == "hardtanh" || a.name == "trelu") continue;
    SCOPED_TRACE(a.name);
    Tensor ints = torch::tensor({-2, 0, 3});
    Tensor y = (*a.f)(ints);
    EXPECT_EQ(y.scalar_type(), torch::kFloat32);
    if (a.name != "rrelu") EXPECT_TRUE(close(y, (*a.f)(ints.to(torch::kFloat32))));
    EXPECT_EQ((*a.f)(torch::tensor({true, false})).scalar_type(), torch::kFloat32);
    EXPECT_EQ((*a.f)(torch::arange(3)).scalar_type(), torch::kFloat32);  // an rvalue integer tensor
  }
  Tensor s = flux::sigmoid(torch::arange(3));
  EXPECT_TRUE(close(s, torch::tensor({0.5f, 1 / (1 + std::exp(-1.0f)), 1 / (1 + std::exp(-2.0f))})));
  Tensor h = flux::hardsigmoid(torch::arange(3));
  EXPECT_TRUE(close(h, torch::tensor({0.5f, 4 / 6.0f, 5 / 6.0f})));
}

// NNlib test/activations.jl: "elu"
TEST(NNlibActivations, Elu) {
  EXPECT_FLOAT_EQ(elu(torch::tensor(42)).item<float>(), 42.0f);
  EXPECT_DOUBLE_EQ(value(elu, 42.0), 42.0);
  EXPECT_NEAR(elu(torch::tensor(-4)).item<double>(), std::exp(-4.0) - 1, 1e-6);
}

// NNlib test/activations.jl: "mish"
TEST(NNlibActivations, Mish) {
  EXPECT_NEAR(mish(torch::tensor(-5)).item<double>(), -0.033576237730161704, 1e-7);  // Float32 from an integer
  EXPECT_NEAR(mish(torch::tensor(9)).item<double>(), 9 * std::tanh(std::log(1 + std::exp(9.0))), 1e-5);
  Tensor xs = torch::tensor({{1.0f, 1000.0f}, {2.0f, 2000.0f}, {3.0f, 3000.0f}});  // Float32[1 2 3; 1000 2000 3000]
  Tensor y = mish(xs);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_EQ(y.dim(), 2);
}

// NNlib test/activations.jl: leakyrelu, relu6 and rrelu with coefficients
TEST(NNlibActivations, Coefficients) {
  EXPECT_TRUE(approx(leakyrelu(t64(0.4), 0.3).item<double>(), 0.4));
  EXPECT_TRUE(approx(leakyrelu(t64(-0.4), 0.3).item<double>(), -0.12));
  EXPECT_DOUBLE_EQ(value(relu6, 10.0), 6.0);
  const double r = rrelu(t64(-0.4), 0.25, 0.5).item<double>();
  EXPECT_LE(-0.2, r);
  EXPECT_LE(r, -0.1);
}

// NNlib test/activations.jl: "celu"
TEST(NNlibActivations, Celu) {
  EXPECT_FLOAT_EQ(celu(torch::tensor(42)).item<float>(), 42.0f);
  EXPECT_DOUBLE_EQ(value(celu, 42.0), 42.0);
  EXPECT_NEAR(celu(torch::tensor(-4), 0.5).item<double>(), 0.5 * (std::exp(-4.0 / 0.5) - 1), 1e-6);
}

// NNlib test/activations.jl: "softshrink"
TEST(NNlibActivations, Softshrink) {
  EXPECT_DOUBLE_EQ(softshrink(t64(15.0), 5.0).item<double>(), 10.0);
  EXPECT_DOUBLE_EQ(softshrink(t64(4.0), 5.0).item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(softshrink(t64(-15.0), 5.0).item<double>(), -10.0);
}

// NNlib test/activations.jl: "logsigmoid"
TEST(NNlibActivations, Logsigmoid) {
  Tensor xs = torch::randn({10, 10}, torch::kFloat64);
  EXPECT_TRUE(close(logsigmoid(xs), torch::log(torch::sigmoid(xs)), 1.5e-8, 0));
  EXPECT_TRUE(close(logsigmoid(torch::tensor({-100000.0f, 100000.0f})), torch::tensor({-100000.0f, 0.0f}), 3.5e-4, 0));
  EXPECT_TRUE(close(logsigmoid(torch::tensor({-100000.0, 100000.0}, torch::kFloat64)), torch::tensor({-100000.0, 0.0}, torch::kFloat64), 1.5e-8, 0));
}

// NNlib test/activations.jl: logcosh, hardsigmoid, hardtanh, lisht and trelu by hand
TEST(NNlibActivations, LogcoshHardsigmoidHardtanhLishtTrelu) {
  EXPECT_DOUBLE_EQ(value(logcosh, 1000.0) + std::log(2.0), 1000.0);
  // "hardsigmoid"
  EXPECT_DOUBLE_EQ(value(hardsigmoid, 0.3), std::max(0.0, std::min(1.0, (0.3 + 3) / 6)));
  EXPECT_DOUBLE_EQ(value(hardsigmoid, -0.3), std::max(0.0, std::min(1.0, (-0.3 + 3) / 6)));
  EXPECT_TRUE(close(hardsigmoid(torch::tensor({-100000.0f, 100000.0f})), torch::tensor({0.0f, 1.0f})));
  EXPECT_TRUE(close(hardsigmoid(torch::tensor({-100000.0, 100000.0}, torch::kFloat64)), torch::tensor({0.0, 1.0}, torch::kFloat64)));
  EXPECT_DOUBLE_EQ(value(hardtanh, 10.0), 1.0);
  EXPECT_DOUBLE_EQ(value(lisht, 2.5), 2.5 * std::tanh(2.5));
  // "trelu"
  EXPECT_DOUBLE_EQ(value(trelu, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(value(trelu, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(value(trelu, 1.1), 1.1);
  EXPECT_DOUBLE_EQ(trelu(t64(0.9), 0.5).item<double>(), 0.9);
}

// NNlib test/activations.jl: "Gradient inference" (Float32 and Float64)
TEST(NNlibActivations, GradientInference) {
  for (auto T : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& a : activation_functions()) {
      for (double val : {-10, -1, 0, 1, 10}) {
        Tensor x = torch::tensor(val, T).requires_grad_(true);
        Tensor g = torch::autograd::grad({(*a.f)(x)}, {x})[0];
        EXPECT_EQ(g.scalar_type(), T) << a.name << " " << val;
      }
    }
  }
}

// NNlib test/activations.jl: "Gradient inference" (Float16)
TEST(NNlibActivations, GradientInferenceFloat16) {
  for (const auto& a : activation_functions()) {
    for (double val : {-10, -1, 0, 1, 10}) {
      Tensor x = torch::tensor(val).to(torch::kHalf).requires_grad_(true);
      Tensor g;
      ASSERT_NO_THROW(g = torch::autograd::grad({(*a.f)(x)}, {x})[0]) << a.name;
      EXPECT_EQ(g.scalar_type(), torch::kHalf) << a.name << " " << val;
    }
  }
}

// NNlib test/activations.jl: "Gradient correctness"
TEST(NNlibActivations, GradientCorrectness) {
  torch::manual_seed(17);
  auto rnd = [] { return torch::rand({}, torch::kFloat64).item<double>(); };
  for (const auto& a : activation_functions()) {
    if (a.name == "rrelu") continue;  // stochastic output
    SCOPED_TRACE(a.name);
    auto f = [&](const Tensor& x) { return (*a.f)(x); };
    // Avoid the singular points of some activations, problematic for finite differences.
    gradtest(f, t64(2 + rnd()));
    gradtest(f, t64(-2 - rnd()));
    gradtest(f, 2 + torch::rand({2, 2}, torch::kFloat64));
    gradtest(f, -2 - torch::rand({2, 2}, torch::kFloat64));
  }
  for (const auto& a : binary_activations()) {
    if (a.name == "rrelu") continue;
    SCOPED_TRACE(a.name);
    for (double beta : {0.2, 0.7}) {
      auto f = [&](const Tensor& x) { return a.f(x, beta); };
      gradtest(f, t64(1 + rnd()));
      gradtest(f, t64(-2 + rnd()));
    }
  }
}

// NNlib test/activations.jl: "Gradient correctness" / "Flux-like usage"
TEST(NNlibActivations, GradientCorrectnessFluxLikeUsage) {
  torch::manual_seed(18);
  auto check = [](const std::function<Tensor(const Tensor&)>& act, Shape xsize, double tol = 1e-6) {
    // (x, W, b) -> act.(W*x .+ b) with x (5,) or (5, 3), W (2, 5), b (2,)
    Tensor x = torch::randn(xsize, torch::kFloat64).requires_grad_(true);
    Tensor W = torch::randn({2, 5}, torch::kFloat64).requires_grad_(true);
    Tensor b = torch::randn({2}, torch::kFloat64).requires_grad_(true);
    auto f = [&] { return act(x.dim() == 1 ? W.matmul(x) + b : x.matmul(W.t()) + b); };
    expect_gradients_match(f, {x, W, b}, tol);
  };
  const Shape vec{5}, mat{3, 5};  // Julia 5 and (5, 3)
  check([](const Tensor& v) { return sigmoid(v); }, vec);
  check([](const Tensor& v) { return sigmoid(v); }, mat);
  check([](const Tensor& v) { return relu(v); }, vec);
  check([](const Tensor& v) { return relu(v); }, mat);
  check([](const Tensor& v) { return selu(v); }, vec);
  check([](const Tensor& v) { return selu(v); }, mat, 1e-4);
  check([](const Tensor& v) { return elu(v, 2); }, vec);
  check([](const Tensor& v) { return elu(v, 2); }, mat, 1e-4);
  check([](const Tensor& v) { return logsigmoid(v); }, vec);
  check([](const Tensor& v) { return logsigmoid(v); }, mat);
  // Binary functions have their own broadcast rules:
  check([](const Tensor& v) { return leakyrelu(v, 0.2); }, vec);
  check([](const Tensor& v) { return leakyrelu(v, 0.7); }, mat);
}

// NNlib test/activations.jl: "Gradient correctness" / "Zygote issue 758"
TEST(NNlibActivations, GradientCorrectnessZygoteIssue758) {
  Tensor xs = torch::tensor({1000.0, 10000.0}, torch::kFloat64).requires_grad_(true);
  Tensor g = torch::autograd::grad({selu(xs).sum()}, {xs})[0];
  EXPECT_TRUE(close(g, torch::full({2}, 1.0507009873554805, torch::kFloat64), 1e-8, 0));
  EXPECT_DOUBLE_EQ(derivative([](const Tensor& x) { return selu(x); }, 1000), 1.0507009873554805);
  Tensor xe = torch::tensor({1000.0, 10000.0}, torch::kFloat64).requires_grad_(true);
  EXPECT_TRUE(torch::equal(torch::autograd::grad({elu(xe, 2).sum()}, {xe})[0], torch::ones({2}, torch::kFloat64)));
  EXPECT_DOUBLE_EQ(derivative([](const Tensor& x) { return elu(x, 2); }, 1000), 1.0);
  EXPECT_DOUBLE_EQ(derivative([](const Tensor& x) { return elu(x, 2); }, -1), 2 * std::exp(-1.0));
  auto sel = [](const Tensor& x) { return selu(x); };
  auto el = [](const Tensor& x) { return elu(x, 3.5); };
  gradtest(sel, torch::tensor({100.0, 1000.0}, torch::kFloat64));
  gradtest(el, torch::tensor({100.0, 1000.0}, torch::kFloat64));
  gradtest(el, torch::tensor({1000.0, 10000.0}, torch::kFloat64));
  gradtest(sel, torch::tensor({1000.0, 10000.0}, torch::kFloat64));
  gradtest(sel, t64(10), 1e-4);
}

// NNlib test/activations.jl: "Gradient correctness" / "saturated gradients: $f"
TEST(NNlibActivations, SaturatedGradients) {
  struct Case {
    const char* name;
    const Activation* f;
    std::function<double(double)> exact;  // the derivative by hand
  };
  const std::vector<Case> cases{
      {"hardσ", &hardsigmoid, [](double x) { return std::abs(x) < 3 ? 1.0 / 6 : 0.0; }},
      {"hardtanh", &hardtanh, [](double x) { return std::abs(x) < 1 ? 1.0 : 0.0; }},
      {"relu6", &relu6, [](double x) { return x > 0 && x < 6 ? 1.0 : 0.0; }},
      {"hardswish", &hardswish, [](double x) { return x > 3 ? 1.0 : x < -3 ? 0.0 : (2 * x + 3) / 6; }},
  };
  for (const auto& c : cases) {
    for (double x : {-50.0, 50.0, -7.0, 7.0}) {
      const double ad = derivative([&](const Tensor& z) { return (*c.f)(z).sum(); }, x);
      EXPECT_NEAR(ad, c.exact(x), 1e-6) << c.name << " at " << x;
    }
  }
}

// NNlib test/activations.jl: "Second derivatives"
TEST(NNlibActivations, SecondDerivatives) {
  const Tensor xv = torch::tensor({-0.9, -0.2, 0.1, 0.3, 1.2}, torch::kFloat64);
  for (const auto& a : activation_functions()) {
    if (a.name == "rrelu") continue;
    SCOPED_TRACE(a.name);
    // Scalar
    auto scalar = [&](const Tensor& x) { return torch::sin((*a.f)(x)).sum(); };
    const Tensor x0 = torch::full({1}, 0.23, torch::kFloat64);
    EXPECT_TRUE(close(hessian(scalar, x0), fd_hessian(scalar, x0), 1e-5, 1e-6));
    // Broadcasting
    auto broadcast = [&](const Tensor& x) { return (*a.f)(x + 0.1).pow(2).sum(); };
    EXPECT_TRUE(close(hessian(broadcast, xv), fd_hessian(broadcast, xv), 1e-5, 1e-6));
  }
  for (const auto& a : binary_activations()) {
    if (a.name == "rrelu") continue;
    SCOPED_TRACE(a.name);
    auto scalar = [&](const Tensor& x) { return torch::sin(a.f(x, 0.3)).sum(); };
    const Tensor x0 = torch::full({1}, 0.45, torch::kFloat64);
    EXPECT_TRUE(close(hessian(scalar, x0), fd_hessian(scalar, x0), 1e-5, 1e-6));
    auto broadcast = [&](const Tensor& x) { return a.f(x + 0.1, 0.3).pow(2).sum(); };
    EXPECT_TRUE(close(hessian(broadcast, xv), fd_hessian(broadcast, xv), 1e-5, 1e-6));
  }
}

// NNlib's "complex" and "complex numerical stability" testsets are not ported: libtorch 1.13's
// CPU kernels have no complex clamp (hardσ, relu6, hardtanh) and no complex autograd for silu,
// so the activations refuse complex input (see PORTED.md).

// NNlib test/activations.jl: "complex" / "piecewise activations reject complex"
TEST(NNlibActivations, PiecewiseActivationsRejectComplex) {
  const Tensor z = torch::complex(t64(1.0), t64(1.0));
  for (const Activation* f : {&relu, static_cast<const Activation*>(&leakyrelu), &relu6, static_cast<const Activation*>(&elu), &selu,
                              static_cast<const Activation*>(&celu), &hardsigmoid, &hardtanh, &hardswish,
                              static_cast<const Activation*>(&trelu), static_cast<const Activation*>(&softshrink)}) {
    EXPECT_ANY_THROW((*f)(z)) << f->name();
  }
}
