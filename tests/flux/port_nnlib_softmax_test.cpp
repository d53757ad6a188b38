// Port of NNlib.jl v0.9.36 test/softmax.jl. NNlib's softmax(x; dims = 1) is our softmax
// (the last dimension), dims = k of an N-d array our softmax_dim(x, N - k), and dims = (:)
// the softmax of the flattened tensor. NNlib's ∇softmax_data(Δ, y) is the vector-Jacobian
// product, which our autograd computes. A Julia matrix literal [a b; c d] is built by
// `jm` as our (transposed-memory) tensor. The mutating (softmax!) forms and logsumexp are
// listed in PORTED.md.
#include "testing.h"

#include <limits>

using namespace flux;

namespace {

// A Julia matrix literal, rows as written, as our tensor (the same memory: its transpose).
Tensor jm(const std::vector<std::vector<double>>& rows, torch::Dtype dtype = torch::kFloat32) {
  std::vector<Tensor> rs;
  for (const auto& r : rows) rs.push_back(torch::tensor(r, torch::kFloat64));
  return torch::stack(rs).t().contiguous().to(dtype);
}

Tensor softmax_all(const Tensor& x) { return softmax(x.reshape({-1})).reshape(x.sizes()); }        // dims = (:)
Tensor logsoftmax_all(const Tensor& x) { return logsoftmax(x.reshape({-1})).reshape(x.sizes()); }

// The vector-Jacobian product Δᵀ ∂f/∂x at x (NNlib's ∇softmax_data(Δ, f(x))).
Tensor vjp(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, const Tensor& delta) {
  Tensor x = x0.clone().requires_grad_(true);
  return torch::autograd::grad({f(x)}, {x}, {delta})[0];
}

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0) {
  const int64_t n = x0.numel();
  Tensor x = x0.clone().requires_grad_(true);
  Tensor g = torch::autograd::grad({f(x)}, {x}, {}, true, true)[0].reshape(-1);
  Tensor H = torch::zeros({n, n}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) H[i] = torch::autograd::grad({g[i]}, {x}, {}, true)[0].reshape(-1);
  return H;
}
Tensor fd_hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, double h = 1e-5) {
  const int64_t n = x0.numel();
  auto grad_at = [&](const Tensor& p) {
    Tensor x = p.clone().requires_grad_(true);
    return torch::autograd::grad({f(x)}, {x})[0].reshape(-1);
  };
  Tensor H = torch::zeros({n, n}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    Tensor up = x0.clone(), down = x0.clone();
    up.view(-1)[i] += h;
    down.view(-1)[i] -= h;
    H.select(1, i).copy_((grad_at(up) - grad_at(down)) / (2 * h));
  }
  return H;
}

}  // namespace

// NNlib test/softmax.jl: "softmax integer input"
TEST(NNlibSoftmax, SoftmaxIntegerInput) {
  Tensor y = softmax(torch::tensor({0, 0}));
  EXPECT_TRUE(y.is_floating_point());
  EXPECT_TRUE(torch::equal(y, torch::tensor({0.5, 0.5}).to(y.scalar_type())));
}

// NNlib test/softmax.jl: "softmax on different dims" (softmax! is not ported: compared here
// with the formula instead of the mutating form)
TEST(NNlibSoftmax, SoftmaxOnDifferentDims) {
  Tensor xs = torch::rand({2, 2, 2, 2, 2}, torch::kFloat64);
  for (int64_t i = 1; i <= 5; ++i) {
    const int64_t d = 5 - i;  // Julia dims = i
    Tensor e = torch::exp(xs - std::get<0>(xs.max(d, true)));
    EXPECT_TRUE(close(softmax_dim(xs, d), e / e.sum(d, true), 1e-12, 1e-15)) << "dims = " << i;
    Tensor shifted = xs - std::get<0>(xs.max(d, true));
    EXPECT_TRUE(close(logsoftmax_dim(xs, d), shifted - torch::log(torch::exp(shifted).sum(d, true)), 1e-12, 1e-15)) << "dims = " << i;
  }
}

// NNlib test/softmax.jl: "softmax"
TEST(NNlibSoftmax, Softmax) {
  Tensor xs = torch::rand({5, 5}, torch::kFloat64);
  EXPECT_TRUE(close(softmax(xs).sum(-1), torch::ones({5}, torch::kFloat64)));            // sum(softmax(xs), dims = 1) .≈ 1
  EXPECT_TRUE(close(softmax_dim(xs, 0).sum(0), torch::ones({5}, torch::kFloat64)));      // dims = 2
  EXPECT_NEAR(softmax(xs.reshape({-1})).sum().item<double>(), 1.0, 1e-12);              // softmax(vec(xs))
  EXPECT_TRUE(close(torch::log(softmax_dim(xs, 0)), logsoftmax_dim(xs, 0), 1.5e-8, 0));  // log.(softmax(xs; dims = 2))

  Tensor big = torch::tensor({-100000.0, -100000.0}, torch::kFloat64);
  EXPECT_TRUE(close(softmax(big), torch::tensor({0.5, 0.5}, torch::kFloat64), 1.5e-8, 0));
  EXPECT_TRUE(close(logsoftmax(big), torch::log(torch::tensor({0.5, 0.5}, torch::kFloat64)), 1.5e-8, 0));

  Tensor v = torch::rand({5}, torch::kFloat64);
  EXPECT_TRUE(close(softmax(v), torch::exp(v) / torch::exp(v).sum(), 1.5e-8, 0));
  EXPECT_TRUE(close(logsoftmax(v), torch::log(softmax(v)), 1.5e-8, 0));

  EXPECT_TRUE(close(logsoftmax(torch::tensor({1.0f, 2.0f, 3000.0f})), torch::tensor({-2999.0f, -2998.0f, 0.0f}), 3.5e-4, 0));

  Tensor x2 = jm({{1, 2, 3}, {1000, 2000, 3000}});  // Float32[1 2 3; 1000 2000 3000]
  EXPECT_TRUE(close(logsoftmax(x2), jm({{-999, -1998, -2997}, {0, 0, 0}}), 3.5e-4, 0));

  Tensor ones = torch::ones_like(x2);
  auto ls = [](const Tensor& t) { return logsoftmax(t); };
  auto sm = [](const Tensor& t) { return softmax(t); };
  EXPECT_TRUE(close(vjp(ls, x2, ones), jm({{1, 1, 1}, {-1, -1, -1}}), 3.5e-4, 1e-6));  // ∇logsoftmax_data(ones, y)
  EXPECT_TRUE(close(vjp(sm, x2, ones), torch::zeros_like(x2), 0, 1e-6));                // ∇softmax_data(ones, y)

  // These values precalculated using PyTorch's nn.LogSoftmax
  Tensor xp = jm({{-0.238639, 0.748142, -0.283194, -0.525461, -1.5348, -0.797842},
                  {0.690384, 0.211427, 0.254794, -0.213572, -0.314174, -0.372663},
                  {-1.146370, -0.577988, 0.718952, 0.919720, -0.620773, 0.929977}},
                 torch::kFloat64);
  Tensor ys = jm({{0.237703, -0.621474, 0.448193, 0.546047, 0.564185, 0.632273},
                  {-0.930163, 0.0519798, 0.0549979, 0.3799, -0.477112, 0.437428},
                  {0.69246, 0.569494, -0.503191, -0.925947, -0.0870738, -1.0697}},
                 torch::kFloat64);
  Tensor ones_p = torch::ones_like(xp);
  EXPECT_TRUE(close(vjp(ls, xp, ones_p), ys, 1e-5, 1e-6));  // rtol = 1e-6 on six printed digits
  EXPECT_TRUE(close(vjp(sm, xp, ones_p), torch::zeros_like(xp), 0, 1e-6));
}

// NNlib test/softmax.jl: "softmax with Inf, NaN"
TEST(NNlibSoftmax, SoftmaxWithInfNaN) {
  const Tensor a = jm({{1, 2}, {3, kInf}}), b = jm({{1, -kInf}, {3, kInf}}), c = jm({{1, kInf}, {3, kInf}});
  EXPECT_TRUE(close(softmax(a), jm({{0.11920292, 0.0}, {0.880797, 1.0}})));
  EXPECT_TRUE(close(softmax(b), jm({{0.11920292, 0.0}, {0.880797, 1.0}})));
  EXPECT_TRUE(close(softmax(c), jm({{0.11920292, 0.5}, {0.880797, 0.5}})));

  EXPECT_TRUE(torch::allclose(softmax(jm({{1, 2}, {3, kNaN}})), jm({{0.11920292, kNaN}, {0.880797, kNaN}}), 1e-5, 1e-6, /*equal_nan=*/true));
  EXPECT_TRUE(close(softmax_dim(a, 0), jm({{0.26894143, 0.7310586}, {0.0, 1.0}})));  // dims = 2
  EXPECT_TRUE(close(softmax_all(a), jm({{0.0, 0.0}, {0.0, 1.0}})));                   // dims = (:)
  EXPECT_TRUE(close(softmax_all(a), jm({{0.0, 0.0}, {0.0, 1.0}})));                   // dims = (1, 2)

  EXPECT_TRUE(close(torch::exp(logsoftmax(a)), softmax(a)));
  EXPECT_TRUE(close(torch::exp(logsoftmax(b)), softmax(b)));
  EXPECT_TRUE(close(torch::exp(logsoftmax(c)), softmax(c)));
}

// NNlib test/softmax.jl: "mutating softmax" — the results the mutating forms are compared
// with: the values, and the gradients against NNlib's closed forms
// ∇softmax_data(Δ, y) = y .* (Δ .- sum(Δ .* y; dims)) and ∇logsoftmax_data(Δ, y) = Δ .- exp.(y) .* sum(Δ; dims).
TEST(NNlibSoftmax, MutatingSoftmax) {
  const std::vector<Tensor> inputs{
      jm({{1, 2, 3}, {5, 6, 7}}, torch::kFloat64),
      jm({{-0.238639, 0.748142, -0.283194, -0.525461, -1.5348, -0.797842},
          {0.690384, 0.211427, 0.254794, -0.213572, -0.314174, -0.372663},
          {-1.146370, -0.577988, 0.718952, 0.919720, -0.620773, 0.929977}},
         torch::kFloat64)};
  auto sm = [](const Tensor& t) { return softmax(t); };
  auto ls = [](const Tensor& t) { return logsoftmax(t); };
  for (const Tensor& xs : inputs) {
    Tensor e = torch::exp(xs - std::get<0>(xs.max(-1, true)));
    EXPECT_TRUE(close(softmax(xs), e / e.sum(-1, true), 1e-6, 0));
    EXPECT_TRUE(close(logsoftmax(xs), torch::log(e / e.sum(-1, true)), 1e-6, 0));
    for (int k = 0; k < 3; ++k) {
      SCOPED_TRACE(k == 0 ? "zeros" : k == 1 ? "ones" : "rand");
      Tensor delta = k == 0 ? torch::zeros_like(xs) : k == 1 ? torch::ones_like(xs) : torch::rand_like(xs);
      Tensor y = softmax(xs);
      EXPECT_TRUE(close(vjp(sm, xs, delta), y * (delta - (delta * y).sum(-1, true)), 1e-6, 1e-12));
      Tensor yl = logsoftmax(xs);
      EXPECT_TRUE(close(vjp(ls, xs, delta), delta - torch::exp(yl) * delta.sum(-1, true), 1e-6, 1e-12));
    }
  }
}

// NNlib test/softmax.jl: "AutoDiff" (the logsumexp cases are not ported)
TEST(NNlibSoftmax, AutoDiff) {
  torch::manual_seed(3);
  using Fn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> cases{
      {"softmax dims=:", softmax_all},
      {"softmax dims=1", [](const Tensor& x) { return softmax(x); }},
      {"softmax dims=2", [](const Tensor& x) { return softmax_dim(x, 0); }},
      {"logsoftmax dims=:", logsoftmax_all},
      {"logsoftmax dims=1", [](const Tensor& x) { return logsoftmax(x); }},
      {"logsoftmax dims=2", [](const Tensor& x) { return logsoftmax_dim(x, 0); }},
  };
  for (const auto& [name, f] : cases) {
    SCOPED_TRACE(name);
    Tensor x = torch::randn({4, 3}, torch::kFloat64).requires_grad_(true);  // Julia (3, 4)
    expect_gradients_match([&] { return f(x); }, {x});
  }
  const Tensor w = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64);  // (1:3), along Julia dims 1
  auto check = [&](const Fn& f, Shape size, double tol) {
    Tensor x = torch::randn(size, torch::kFloat64).requires_grad_(true);
    expect_gradients_match([&] { return f(x) * w; }, {x}, tol);
  };
  check([](const Tensor& x) { return softmax(x); }, {3}, 1e-6);
  check([](const Tensor& x) { return softmax(x); }, {5, 3}, 1e-4);
  check([](const Tensor& x) { return softmax_dim(x, 0); }, {5, 3}, 1e-4);
  check([](const Tensor& x) { return logsoftmax(x); }, {3}, 1e-6);
  check([](const Tensor& x) { return logsoftmax(x); }, {5, 3}, 1e-6);
  check([](const Tensor& x) { return logsoftmax_dim(x, 0); }, {5, 3}, 1e-6);
}

// NNlib test/softmax.jl: "Second derivatives" (Hessian by double backward against finite
// differences of the gradient; logsumexp not ported)
TEST(NNlibSoftmax, SecondDerivatives) {
  const Tensor x = jm({{1, 2, 3}, {6, 5, 4}}, torch::kFloat64);
  auto f1 = [](const Tensor& t) { return torch::sin(softmax(t)).sum(); };
  EXPECT_TRUE(close(hessian(f1, x), fd_hessian(f1, x), 1e-5, 1e-7));
  auto f2 = [](const Tensor& t) { return torch::sin(logsoftmax(t)).sum(); };
  EXPECT_TRUE(close(hessian(f2, x), fd_hessian(f2, x), 1e-5, 1e-7));
}
