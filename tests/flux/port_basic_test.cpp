// Port of Flux.jl v0.14.25 test/layers/basic.jl (Chain, Dense, Scale, Maxout,
// SkipConnection, Bilinear, Parallel, Embedding, EmbeddingBag, PairwiseFusion and the
// derivative checks). Julia's column-major (a, b, c) array is our [c, b, a] tensor with the
// same memory; Flux's `in × N` batch is our [N, in]; indices are 0-based. Cases the API
// cannot express are listed in PORTED.md.
#include "testing.h"

#include <algorithm>
#include <functional>

using namespace flux;

namespace {

// A Julia size (d1, d2, ...) as our torch shape [..., d2, d1].
Shape jl(Shape julia) {
  std::reverse(julia.begin(), julia.end());
  return julia;
}

Tensor ones64(at::IntArrayRef dims) { return torch::ones(dims, torch::kFloat64); }
Tensor randn64(at::IntArrayRef dims) { return torch::randn(dims, torch::kFloat64); }

Layer fun(const char* name, std::function<Tensor(const Tensor&)> f) { return fn(name, std::move(f)); }

// The Hessian of a scalar function at x by double backward (Zygote.hessian_reverse).
Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0) {
  Tensor x = x0.detach().clone().requires_grad_(true);
  const int64_t n = x.numel();
  Tensor H = torch::zeros({n, n}, x0.options());
  Tensor y = f(x);
  auto g = torch::autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true)[0];
  if (!g.defined() || !g.requires_grad()) return H;  // a gradient that does not depend on x
  Tensor gf = g.reshape(-1);
  for (int64_t i = 0; i < n; ++i) {
    auto row = torch::autograd::grad({gf[i]}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/false, /*allow_unused=*/true)[0];
    if (row.defined()) H[i] = row.reshape(-1).detach();
  }
  return H;
}

// The same by central differences of the first derivative (the role of Zygote.hessian_dual).
Tensor fd_hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, double h = 1e-5) {
  const int64_t n = x0.numel();
  auto grad_at = [&](const Tensor& at) {
    Tensor x = at.detach().clone().requires_grad_(true);
    Tensor y = f(x);
    auto g = torch::autograd::grad({y}, {x}, {}, false, false, true)[0];
    return g.defined() ? g.reshape(-1).detach() : torch::zeros({n}, x0.options());
  };
  Tensor H = torch::zeros({n, n}, x0.options());
  for (int64_t i = 0; i < n; ++i) {
    Tensor up = x0.detach().clone(), down = x0.detach().clone();
    up.view(-1)[i] += h;
    down.view(-1)[i] -= h;
    H.select(1, i).copy_((grad_at(up) - grad_at(down)) / (2 * h));
  }
  return H;
}

}  // namespace

// Flux test/layers/basic.jl: "basic" / "helpers" / "activations"
TEST(FluxBasic, HelpersActivations) {
  Chain dummy_model([](const Tensor& x) { return x.pow(2); }, [](const Tensor& x) { return x - 3; },
                    [](const Tensor& x) { return torch::tan(x); });
  Tensor x = torch::randn({10}, torch::kFloat64);
  auto acts = dummy_model->activations(x);
  ASSERT_EQ(acts.size(), 3u);
  EXPECT_TRUE(torch::equal(acts[0], x.pow(2)));
  EXPECT_TRUE(torch::equal(acts[1], x.pow(2) - 3));
  EXPECT_TRUE(torch::equal(acts[2], torch::tan(x.pow(2) - 3)));
  EXPECT_TRUE(Chain()->activations(x).empty());  // activations(Chain(), x) == ()
}

// Flux test/layers/basic.jl: "Chain"
TEST(FluxBasic, Chain) {
  EXPECT_NO_THROW(Chain(Dense({10, 5}, sigmoid), Dense({5, 2}))(torch::randn({10})));
  expect_error<std::invalid_argument>([] { Chain(Dense({10, 5}, sigmoid), Dense({2, 1}))(torch::randn({10})); }, {"Dense(2 => 1)"});

  EXPECT_NO_THROW(Chain(NamedLayers{{"first", Dense({10, 5}, sigmoid)}, {"second", Dense({5, 2})}})(torch::randn({10})));
  Chain m(NamedLayers{{"first", Dense({10, 5}, sigmoid)}, {"second", Dense({5, 2})}});
  EXPECT_EQ(m["first"].ptr(), m[0].ptr());
  Chain whole = m.slice(0, 2);  // m[1:2] == m
  ASSERT_EQ(whole.size(), m.size());
  for (size_t i = 0; i < m.size(); ++i) EXPECT_EQ(whole[i].ptr(), m[i].ptr());
  EXPECT_EQ(whole->names(), m->names());
  EXPECT_EQ(whole->repr(), m->repr());
  Tensor x = torch::randn({3, 10});
  EXPECT_TRUE(torch::equal(whole(x), m(x)));

  expect_error<std::invalid_argument>([] { Chain(NamedLayers{{"layers", Dense({10, 10})}, {"two", identity}}); }, {"layers"});

  // A vector of layers.
  EXPECT_NO_THROW(Chain(std::vector<Layer>{Dense({10, 5}, sigmoid), Dense({5, 2})})(torch::randn({10})));

  Chain c(Dense({10, 5}, sigmoid), Dense({5, 2}), Dense({2, 1}, relu));
  EXPECT_EQ(c[0].ptr(), c.begin()->ptr());        // c[1] == c[begin]
  EXPECT_EQ(c[2].ptr(), (c.end() - 1)->ptr());    // c[3] == c[end]
}

// Flux test/layers/basic.jl: "Activations"
TEST(FluxBasic, Activations) {
  Chain c(Dense({3, 5}, relu), Dense({5, 1}, relu));
  Tensor X = torch::ones({3});
  {
    auto acts = c->activations(X);
    EXPECT_NO_THROW(acts[1][0].backward());  // gradient(() -> activations(c, X)[2][1], params(c))
  }
  Chain c2(NamedLayers{{"enc", c[0]}, {"dec", c[1]}});
  auto a1 = c->activations(X), a2 = c2->activations(X);
  ASSERT_EQ(a1.size(), a2.size());
  for (size_t i = 0; i < a1.size(); ++i) EXPECT_TRUE(torch::equal(a1[i], a2[i]));
  EXPECT_NO_THROW(c2->activations(X)[1][0].backward());
}

// Flux test/layers/basic.jl: "Dense" / "constructors"
TEST(FluxBasic, DenseConstructors) {
  EXPECT_EQ(shape(Dense({10, 100})->weight), (Shape{100, 10}));  // Flux (100, 10): the same matrix
  EXPECT_EQ(shape(Dense({10, 100})->bias), (Shape{100}));
  EXPECT_TRUE(Dense(torch::rand({100, 10}, torch::kFloat64), torch::rand({100}, torch::kFloat64))->activation.is_identity());
  EXPECT_TRUE(Dense(torch::rand({100, 10}, torch::kFloat64))->activation.is_identity());

  EXPECT_TRUE(Dense(torch::rand({100, 10}, torch::kFloat64), false)->activation.is_identity());
  EXPECT_EQ(Dense(torch::rand({100, 10}, torch::kFloat64), false, flux::tanh)->activation.name(), "tanh");
  EXPECT_TRUE(Dense(torch::rand({100, 10}, torch::kFloat64), torch::rand({100}, torch::kFloat64))->activation.is_identity());
  // The bias matches the weight's type, created or converted.
  EXPECT_EQ(Dense(torch::rand({100, 10}).to(torch::kHalf), true)->bias.scalar_type(), torch::kHalf);
  EXPECT_EQ(Dense(torch::rand({100, 10}).to(torch::kHalf), torch::rand({100}, torch::kFloat64))->bias.scalar_type(), torch::kHalf);

  // init = Base.randn gives Float64 weights, and then a Float64 bias.
  Dense d64({3, 4}, identity, {.init = randn64});
  EXPECT_EQ(d64->weight.scalar_type(), torch::kFloat64);
  EXPECT_EQ(d64->bias.scalar_type(), torch::kFloat64);
  // bias = [1, 2, 3, 4] with a Float64 weight: converted to Float64 (explicit-array form).
  Dense di(torch::randn({4, 3}, torch::kFloat64), torch::tensor({1, 2, 3, 4}));
  EXPECT_EQ(di->bias.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::equal(di->bias, torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64)));

  // Dense(3, 4; bias = rand(5)) and Dense(rand(4, 3), rand(5)): DimensionMismatch.
  EXPECT_THROW(Dense(torch::rand({4, 3}), torch::rand({5})), std::invalid_argument);
  EXPECT_THROW(Dense(torch::rand({4, 3}, torch::kFloat64), torch::rand({5}, torch::kFloat64)), std::invalid_argument);
  // Dense(rand(5)), Dense(rand(5), rand(5)), Dense(rand(5), rand(5), tanh): no 1-d weight.
  EXPECT_ANY_THROW(Dense(torch::rand({5}, torch::kFloat64)));
  EXPECT_ANY_THROW(Dense(torch::rand({5}, torch::kFloat64), torch::rand({5}, torch::kFloat64)));
  EXPECT_ANY_THROW(Dense(torch::rand({5}, torch::kFloat64), torch::rand({5}, torch::kFloat64), flux::tanh));
}

// Flux test/layers/basic.jl: "Dense" / "dimensions"
TEST(FluxBasic, DenseDimensions) {
  EXPECT_EQ(Dense({10, 5})(torch::randn({10})).numel(), 5);
  EXPECT_THROW(Dense({10, 5})(torch::randn({1})), std::invalid_argument);
  EXPECT_ANY_THROW(Dense({10, 5})(torch::tensor(1)));  // a scalar is not an input
  Dense each({10, 5});
  Tensor v = torch::randn({10});
  EXPECT_ANY_THROW(each(v[0]));  // Dense(10 => 5).(randn32(10)): element by element
  EXPECT_EQ(shape(Dense({10, 5})(torch::randn({10}, torch::kFloat64))), (Shape{5}));
  EXPECT_EQ(shape(Dense({10, 5})(torch::randn(jl({10, 2}), torch::kFloat64))), jl({5, 2}));
  EXPECT_EQ(shape(Dense({10, 5})(torch::randn(jl({10, 2, 3}), torch::kFloat64))), jl({5, 2, 3}));
  EXPECT_EQ(shape(Dense({10, 5})(torch::randn(jl({10, 2, 3, 4}), torch::kFloat64))), jl({5, 2, 3, 4}));
  EXPECT_THROW(Dense({10, 5})(torch::randn(jl({11, 2, 3}), torch::kFloat64)), std::invalid_argument);
}

// Flux test/layers/basic.jl: "Dense" / "zeros"
TEST(FluxBasic, DenseZeros) {
  // init = ones (Julia's Float64 ones): W x sums the input.
  EXPECT_TRUE(torch::equal(Dense({10, 1}, identity, {.init = ones64})(torch::ones(jl({10, 1}), torch::kFloat64)),
                           torch::full(jl({1, 1}), 10.0, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(Dense({10, 1}, identity, {.init = ones64})(torch::ones(jl({10, 2}), torch::kFloat64)),
                           torch::full(jl({1, 2}), 10.0, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(Dense({10, 2}, identity, {.init = ones64})(torch::ones(jl({10, 1}), torch::kFloat64)),
                           torch::full(jl({2, 1}), 10.0, torch::kFloat64)));
  // [ones(10,1) 2*ones(10,1)]: column 1 ones, column 2 twos; our rows. Result [10 20; 10 20].
  Tensor x = torch::cat({torch::ones({1, 10}, torch::kFloat64), 2 * torch::ones({1, 10}, torch::kFloat64)}, 0);
  Tensor expected = torch::tensor({{10.0, 10.0}, {20.0, 20.0}}, torch::kFloat64);  // Julia [10 20; 10 20]
  EXPECT_TRUE(torch::equal(Dense({10, 2}, identity, {.init = ones64})(x), expected));
  EXPECT_TRUE(torch::equal(Dense({10, 2}, identity, {.bias = false, .init = ones64})(x), expected));
}

// Flux test/layers/basic.jl: "Dense" / "type matching"
TEST(FluxBasic, DenseTypeMatching) {
  Dense d1({2, 3});
  Dense d2(d1->weight.detach(), false);
  Tensor W = d1->weight.detach();
  auto Wx = [&](const Tensor& x) { return torch::matmul(x.to(torch::kFloat32), W.t()); };  // d1.weight * x
  Tensor x1 = torch::randn(jl({2, 4}));
  EXPECT_TRUE(close(d1(x1), d2(x1)));
  EXPECT_TRUE(close(d2(x1), Wx(x1)));
  Tensor x2 = x1.to(torch::kFloat64);
  EXPECT_TRUE(close(d1(x2), d2(x2)));
  EXPECT_TRUE(close(d2(x2), Wx(x2)));
  EXPECT_EQ(d1(x2).scalar_type(), torch::kFloat32);
  EXPECT_EQ(d2(x2).scalar_type(), torch::kFloat32);

  Tensor x3 = torch::randint(-5, 6, jl({2, 4}), torch::kInt64);
  EXPECT_TRUE(close(d1(x3), d2(x3)));
  EXPECT_TRUE(close(d2(x3), Wx(x3)));
  Tensor x4 = torch::randint(0, 2, jl({2, 4})).to(torch::kBool);
  EXPECT_TRUE(close(d1(x4), d2(x4)));
  EXPECT_TRUE(close(d2(x4), Wx(x4)));
  // onehotbatch(rand(Bool, 5), (true, false)): a 2×5 one-hot matrix, our [5, 2].
  Tensor x5 = torch::nn::functional::one_hot(torch::randint(0, 2, {5}, torch::kInt64), 2).to(torch::kBool);
  EXPECT_TRUE(close(d1(x5), d2(x5)));
  EXPECT_TRUE(close(d2(x5), Wx(x5)));
}

// Flux test/layers/basic.jl: "Scale"
TEST(FluxBasic, Scale) {
  EXPECT_EQ(Scale(10)(torch::randn({10}, torch::kFloat64)).numel(), 10);
  EXPECT_EQ(Scale(10)(torch::randn({1}, torch::kFloat64)).numel(), 10);
  EXPECT_EQ(Scale(10, identity, {.bias = false})(torch::randn({10}, torch::kFloat64)).numel(), 10);
  EXPECT_EQ(Scale(10, flux::tanh)(torch::randn({10}, torch::kFloat64)).numel(), 10);
  EXPECT_ANY_THROW(Scale(10)(torch::randn({2}, torch::kFloat64)));  // DimensionMismatch

  // Scale(2)([1 2]) == [1 2; 1 2]: the 1×2 row is our [2, 1]; the 2×2 result [[1, 1], [2, 2]].
  EXPECT_TRUE(close(Scale(2)(torch::tensor({{1}, {2}})), torch::tensor({{1.0, 1.0}, {2.0, 2.0}})));
  EXPECT_TRUE(close(Scale(2)(torch::tensor({1, 2})), torch::tensor({1.0, 2.0})));
  EXPECT_FALSE(torch::allclose(Scale(2, identity, {.init = randn64})(torch::tensor({1, 2})).to(torch::kFloat64),
                               torch::tensor({1.0, 2.0}, torch::kFloat64)));
  // [1 2; 3 4] is our [[1, 3], [2, 4]].
  Tensor m = torch::tensor({{1, 3}, {2, 4}});
  EXPECT_TRUE(close(Scale(2, identity, {.bias = false})(m), torch::tensor({{1.0, 3.0}, {2.0, 4.0}})));
  Activation abs2("abs2", [](const Tensor& x) { return x * x; });
  EXPECT_TRUE(close(Scale(2, abs2, {.bias = false, .init = ones64})(m), torch::tensor({{1.0, 9.0}, {4.0, 16.0}})));

  EXPECT_EQ(shape(Scale(2)(torch::rand(jl({2, 3, 4}), torch::kFloat64))), jl({2, 3, 4}));
  EXPECT_EQ(shape(Scale(jl({2, 3}))(torch::rand(jl({2, 3, 4}), torch::kFloat64))), jl({2, 3, 4}));
  EXPECT_EQ(shape(Scale(jl({2, 3, 4}), identity, {.bias = false})(torch::rand(jl({2, 3, 4}), torch::kFloat64))), jl({2, 3, 4}));
  EXPECT_EQ(shape(Scale(jl({2, 3}), identity, {.bias = false})(torch::rand(jl({2, 1, 4}), torch::kFloat64))), jl({2, 3, 4}));
  Tensor zeros = Scale(jl({2, 3}), flux::tanh, {.bias = false, .init = [](at::IntArrayRef d) { return torch::zeros(d, torch::kFloat64); }})(
      torch::rand(jl({2, 1, 4}), torch::kFloat64));
  EXPECT_TRUE(torch::equal(zeros, torch::zeros(jl({2, 3, 4}), zeros.options())));

  EXPECT_ANY_THROW(Scale(std::vector<int64_t>{}));  // Scale(): no sizes
}

// spec (/tmp/api-spec.md): Scale({4, 1}) on a length-2 vector broadcasts to [4, 2]
// (Flux: Scale(1, 4) on a 2-vector gives a 2×4 matrix).
TEST(FluxBasic, ScaleBroadcastsAVector) {
  Scale s(std::vector<int64_t>{4, 1}, identity, {.init = [](at::IntArrayRef d) {
            return torch::arange(1, 5, torch::kFloat32).reshape(d);
          }});
  Tensor y = s(torch::tensor({10.0f, 20.0f}));
  ASSERT_EQ(shape(y), (Shape{4, 2}));
  // y[i][j] = scale[i][0] * x[j] (+ zero bias)
  Tensor expected = torch::arange(1, 5, torch::kFloat32).reshape({4, 1}) * torch::tensor({10.0f, 20.0f});
  EXPECT_TRUE(close(y, expected));
}

// Flux test/layers/basic.jl: "Maxout" / "Constructor"
TEST(FluxBasic, MaxoutConstructor) {
  Maxout mo([] { return Layer(identity); }, 4);
  Tensor input = torch::rand({40}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(mo(input), input));
}

// Flux test/layers/basic.jl: "Maxout" / "simple alternatives"
TEST(FluxBasic, MaxoutSimpleAlternatives) {
  Maxout mo([](const Tensor& x) { return x; }, [](const Tensor& x) { return 2 * x; }, [](const Tensor& x) { return 0.5 * x; });
  Tensor input = torch::rand({40}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(mo(input), 2 * input));
}

// Flux test/layers/basic.jl: "Maxout" / "complex alternatives"
TEST(FluxBasic, MaxoutComplexAlternatives) {
  // x -> [0.5; 0.1] * x on the 1×2 matrix [3.0 2.0] (our [[3], [2]]): an outer product.
  Maxout mo([](const Tensor& x) { return x * torch::tensor({0.5, 0.1}, torch::kFloat64); },
            [](const Tensor& x) { return x * torch::tensor({0.2, 0.7}, torch::kFloat64); });
  Tensor input = torch::tensor({{3.0}, {2.0}}, torch::kFloat64);
  Tensor target = input * torch::tensor({0.5, 0.7}, torch::kFloat64);  // [0.5, 0.7] .* input
  EXPECT_TRUE(torch::equal(mo(input), target));
}

// Flux test/layers/basic.jl: "Maxout" / "params"
TEST(FluxBasic, MaxoutParams) {
  Maxout mo([] { return Layer(Dense({32, 64})); }, 4);
  EXPECT_EQ(mo->parameters().size(), 8u);  // 4 alternatives, each with weight and bias
}

// Flux test/layers/basic.jl: "SkipConnection" / "zero sum"
TEST(FluxBasic, SkipConnectionZeroSum) {
  Tensor input = torch::randn({10, 10, 10, 10}, torch::kFloat64);
  SkipConnection s([](const Tensor& x) { return torch::zeros(x.sizes(), x.options()); },
                   [](const Tensor& a, const Tensor& b) { return a + b; });
  EXPECT_TRUE(torch::equal(s(input), input));
}

// Flux test/layers/basic.jl: "SkipConnection" / "concat size"
TEST(FluxBasic, SkipConnectionConcatSize) {
  Tensor input = torch::randn(jl({10, 2}), torch::kFloat64);
  SkipConnection s(Dense({10, 10}), [](const Tensor& a, const Tensor& b) { return torch::cat({a, b.to(a.scalar_type())}, -2); });  // dims = 2
  EXPECT_EQ(shape(s(input)), jl({10, 4}));
}

// Flux test/layers/basic.jl: "Bilinear" / "SkipConnection recombinator"
TEST(FluxBasic, BilinearSkipConnectionRecombinator) {
  Dense d({10, 10});
  Bilinear b(Bilinear2{10, 10, 5});
  Tensor x = torch::randn(jl({10, 9}));
  SkipConnection sc(d, b);
  EXPECT_EQ(shape(sc(x)), jl({5, 9}));
}

// Flux test/layers/basic.jl: "Bilinear" / "Two-streams zero sum"
TEST(FluxBasic, BilinearTwoStreamsZeroSum) {
  Tensor x = torch::zeros(jl({10, 9})), y = torch::zeros(jl({2, 9}));
  Bilinear b(Bilinear2{10, 2, 3});
  EXPECT_EQ(shape(b(x, y)), jl({3, 9}));
  EXPECT_EQ(b(x, y).pow(2).sum().item<float>(), 0.0f);
}

// Flux test/layers/basic.jl: "Bilinear" / "Inner interactions"
TEST(FluxBasic, BilinearInnerInteractions) {
  Tensor x = torch::randn(jl({11, 7}));
  Bilinear b(Bilinear2{11, 11, 3});
  EXPECT_EQ(shape(b(x)), jl({3, 7}));
  // gradient(() -> sum(abs2.(b(x))), params(b)) works; here checked against finite differences.
  Bilinear b64(Bilinear2{11, 11, 3});
  b64->to(torch::kFloat64);
  Tensor x64 = x.to(torch::kFloat64).requires_grad_(true);
  std::vector<Tensor> wrt{x64};
  for (auto& p : b64->parameters()) wrt.push_back(p);
  expect_gradients_match([&] { return b64(x64).pow(2); }, wrt);
}

// Flux test/layers/basic.jl: "Bilinear" / "constructors"
TEST(FluxBasic, BilinearConstructors) {
  Bilinear b1(torch::randn({3, 4, 5}, torch::kFloat64));  // Flux W[o, i, j] of size (3, 4, 5)
  EXPECT_EQ(b1->bias.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(b1->activation.is_identity());

  Bilinear b2(torch::randn({3, 4, 5}, torch::kFloat64), false);
  EXPECT_FALSE(b2->bias.defined());  // bias === false

  Bilinear b3(torch::randn({3, 4, 5}).to(torch::kHalf), true, flux::tanh);
  EXPECT_EQ(b3->activation.name(), "tanh");
  EXPECT_EQ(b3->bias.scalar_type(), torch::kHalf);
  EXPECT_EQ(shape(b3(torch::rand({4}, torch::kFloat64), torch::rand({5}, torch::kFloat64))), (Shape{3}));

  EXPECT_THROW(Bilinear(torch::rand({3}, torch::kFloat64)), std::invalid_argument);  // expects a 3-array
  EXPECT_THROW(Bilinear(torch::rand({3, 4}, torch::kFloat64), false, flux::tanh), std::invalid_argument);
  EXPECT_THROW(Bilinear(torch::rand({3, 4, 5}, torch::kFloat64), torch::rand({6}, torch::kFloat64), flux::tanh),
               std::invalid_argument);  // wrong length bias
}

// Flux test/layers/basic.jl: "Parallel" / "zero sum"
TEST(FluxBasic, ParallelZeroSum) {
  Tensor input = torch::randn({10, 10, 10, 10}, torch::kFloat64);
  Parallel p(plus, [](const Tensor& x) { return torch::zeros(x.sizes(), x.options()); }, identity);
  EXPECT_TRUE(torch::equal(p(input), input));
}

// Flux test/layers/basic.jl: "Parallel" / "concat size"
TEST(FluxBasic, ParallelConcatSize) {
  Tensor input = torch::randn(jl({10, 2}), torch::kFloat64);
  Parallel p([](const Tensor& a, const Tensor& b) { return torch::cat({a, b.to(a.scalar_type())}, -2); }, Dense({10, 10}), identity);
  EXPECT_EQ(shape(p(input)), jl({10, 4}));
  Tensor input32 = input.to(torch::kFloat32);
  EXPECT_EQ(shape(Parallel(hcat, NamedLayers{{"one", Dense({10, 10})}, {"two", identity}})(input32)), jl({10, 4}));
}

// Flux test/layers/basic.jl: "Parallel" / "vararg input"
TEST(FluxBasic, ParallelVarargInput) {
  std::vector<Tensor> inputs{torch::randn({10}, torch::kFloat64), torch::randn({5}, torch::kFloat64), torch::randn({4}, torch::kFloat64)};
  EXPECT_EQ(shape(Parallel(plus, Dense({10, 2}), Dense({5, 2}), Dense({4, 2}))(inputs)), (Shape{2}));
  EXPECT_EQ(shape(Parallel(plus, NamedLayers{{"a", Dense({10, 2})}, {"b", Dense({5, 2})}, {"c", Dense({4, 2})}})(inputs)), (Shape{2}));
  Layer sin_ = fun("sin", [](const Tensor& x) { return torch::sin(x); });
  Layer cos_ = fun("cos", [](const Tensor& x) { return torch::cos(x); });
  Tensor one = torch::tensor(1.0, torch::kFloat64), two = torch::tensor(2.0, torch::kFloat64), three = torch::tensor(3.0, torch::kFloat64);
  expect_error<std::invalid_argument>([&] { Parallel(plus, sin_, cos_)(one, two, three); },
                                      {"Parallel with 2 sub-layers can take one input or 2 inputs, but got 3 inputs"});
  EXPECT_NEAR(Parallel(plus, sin_, cos_)(torch::tensor(M_PI / 2, torch::kFloat64)).item<double>(), 1.0, 1e-12);
}

// Flux test/layers/basic.jl: "Parallel" / "named access"
TEST(FluxBasic, ParallelNamedAccess) {
  Parallel m(hcat, NamedLayers{{"one", Dense({10, 10})}, {"two", identity}});
  EXPECT_EQ(m[0].ptr(), m["one"].ptr());
  Parallel whole = m.slice(0, 2);  // m[1:2] == m
  ASSERT_EQ(whole.size(), 2u);
  EXPECT_EQ(whole[0].ptr(), m[0].ptr());
  EXPECT_EQ(whole[1].ptr(), m[1].ptr());
  EXPECT_EQ(whole->names(), m->names());
  EXPECT_EQ(whole->repr(), m->repr());
  Tensor x = torch::randn({2, 10});
  EXPECT_TRUE(torch::equal(whole(x), m(x)));

  EXPECT_THROW(Parallel(hcat, NamedLayers{{"layers", Dense({10, 10})}, {"two", identity}}), std::invalid_argument);
  EXPECT_THROW(Parallel(hcat, NamedLayers{{"connection", Dense({10, 10})}, {"two", identity}}), std::invalid_argument);

  Layer log_ = fun("log", [](const Tensor& x) { return torch::log(x); });
  Tensor one = torch::tensor(1.0, torch::kFloat64);
  EXPECT_TRUE(torch::equal(Parallel(vcat, NamedLayers{{"x", log_}})(one), torch::zeros({1}, torch::kFloat64)));  // == [0]
  EXPECT_TRUE(torch::equal(Parallel(vcat, log_)(one), torch::zeros({1}, torch::kFloat64)));
}

// Flux test/layers/basic.jl: "Parallel" / "trivial cases"
TEST(FluxBasic, ParallelTrivialCases) {
  Parallel none(hcat);
  EXPECT_EQ(none.size(), 0u);  // Parallel{typeof(hcat), Tuple{}}: no branches, not named
  EXPECT_TRUE(none->names().empty());
  Tensor y = none(torch::tensor(1.0));  // == hcat(): empty
  EXPECT_EQ(y.numel(), 0);
  EXPECT_EQ(shape(y), (Shape{0}));
  Layer inv = fun("inv", [](const Tensor& x) { return 1 / x; });
  // hcat(1/2) is the 1×1 matrix [0.5]: the connection is still called once.
  EXPECT_TRUE(close(Parallel(hcat, inv)(torch::tensor(2.0, torch::kFloat64)), torch::full({1, 1}, 0.5, torch::kFloat64)));
}

// spec (/tmp/api-spec.md): vcat of 0-d branch outputs and of no branches.
TEST(FluxBasic, ParallelVcatOfScalarsAndOfNothing) {
  Layer twice = fun("twice", [](const Tensor& x) { return 2 * x; });
  Tensor y = Parallel(vcat, identity, twice)(torch::tensor(3.0));  // vcat(3, 6) == [3, 6]
  EXPECT_TRUE(torch::equal(y, torch::tensor({3.0f, 6.0f})));
  Tensor e = Parallel(vcat)(torch::tensor(3.0));  // vcat() is empty
  EXPECT_EQ(shape(e), (Shape{0}));
  EXPECT_EQ(e.scalar_type(), torch::kFloat32);
}

// Flux test/layers/basic.jl: "Parallel" / "connection is called once"
TEST(FluxBasic, ParallelConnectionIsCalledOnce) {
  int CNT = 0;
  Connection f_cnt("f_cnt", [&CNT](const std::vector<Tensor>& xs) {
    ++CNT;
    Tensor s = xs[0];
    for (size_t i = 1; i < xs.size(); ++i) s = s + xs[i];
    return s;
  });
  Layer sin_ = fun("sin", [](const Tensor& x) { return torch::sin(x); });
  Layer cos_ = fun("cos", [](const Tensor& x) { return torch::cos(x); });
  Layer tan_ = fun("tan", [](const Tensor& x) { return torch::tan(x); });
  auto t = [](double v) { return torch::tensor(v, torch::kFloat64); };
  Parallel(f_cnt, sin_, cos_, tan_)(t(1));
  EXPECT_EQ(CNT, 1);
  Parallel(f_cnt, sin_, cos_, tan_)(t(1), t(2), t(3));
  EXPECT_EQ(CNT, 2);
  Parallel(f_cnt, sin_)(t(1));
  EXPECT_EQ(CNT, 3);
}

// Flux test/layers/basic.jl: "Parallel" / "Input domain" (issue 1673). Flux wraps the
// inputs in a custom `Input` struct; ours are the plain tensors it wraps. L1(x) = W * x on
// the Julia matrix is Dense(W, false) on our (transposed-memory) tensor.
TEST(FluxBasic, ParallelInputDomain) {
  Dense l1(torch::rand({3, 3}), false), l2(torch::rand({3, 3}), false);
  Parallel par(plus, l1, l2);
  Tensor ip = torch::rand({3, 3}), ip2 = torch::rand({3, 3});
  EXPECT_TRUE(close(par(ip), par[0](ip) + par[1](ip)));
  EXPECT_TRUE(close(par(ip, ip2), par[0](ip) + par[1](ip2)));

  Tensor x = ip.clone().requires_grad_(true), y = ip2.clone().requires_grad_(true);
  std::vector<Tensor> wrt{l1->weight, l2->weight, x, y};
  auto gs = torch::autograd::grad({par(x, y).sum()}, wrt);
  auto gs_reg = torch::autograd::grad({(par[0](x) + par[1](y)).sum()}, wrt);
  for (size_t i = 0; i < wrt.size(); ++i) EXPECT_TRUE(close(gs[i], gs_reg[i])) << "gradient " << i;
}

// Flux test/layers/basic.jl: "Embedding"
TEST(FluxBasic, Embedding) {
  const int64_t vocab_size = 10, embed_size = 4;
  Embedding m({vocab_size, embed_size});
  EXPECT_EQ(shape(m->weight), (Shape{vocab_size, embed_size}));  // Flux (embed_size, vocab_size)
  Tensor W = m->weight.detach();

  // one index (Flux's 1-based k is our k - 1)
  Tensor y1 = m(torch::tensor(int64_t{0}));
  EXPECT_EQ(shape(y1), (Shape{embed_size}));
  EXPECT_EQ(y1.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(close(m(torch::tensor(int64_t{1})), W[1]));
  Tensor hot3 = torch::nn::functional::one_hot(torch::tensor(int64_t{2}), vocab_size).to(torch::kBool);  // OneHotVector(3, 10)
  EXPECT_TRUE(close(m(hot3), W[2]));
  Tensor hot_big = torch::nn::functional::one_hot(torch::tensor(int64_t{2}), 1000).to(torch::kBool);  // OneHotVector(3, 1000)
  EXPECT_THROW(m(hot_big), std::invalid_argument);
  EXPECT_TRUE(close(m(torch::tensor(int64_t{3})), m(torch::arange(vocab_size) == 3)));  // m(4) ≈ m((1:10) .== 4)

  // a batch of indices
  Tensor x = torch::randint(0, vocab_size, {3}, torch::kInt64);
  Tensor y = m(x);
  EXPECT_EQ(y.dim(), 2);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(close(y, W.index_select(0, x)));  // m.weight[:, x]
  Tensor x2 = torch::nn::functional::one_hot(x, vocab_size).to(torch::kBool);  // OneHotMatrix(x, 10)
  Tensor y2 = m(x2);
  EXPECT_EQ(y2.dim(), 2);
  EXPECT_EQ(y2.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(close(y2, y));
  EXPECT_THROW(m(torch::nn::functional::one_hot(x, 1000).to(torch::kBool)), std::invalid_argument);
  EXPECT_TRUE(close(y, m(x.unsqueeze(1) == torch::arange(vocab_size))));  // x' .== (1:vocab_size)

  // more dimensions via reshape
  Tensor x3i = torch::randint(0, vocab_size, jl({3, 4}), torch::kInt64);
  Tensor y3i = m(x3i);
  EXPECT_EQ(y3i.dim(), 3);
  EXPECT_EQ(shape(y3i), jl({embed_size, 3, 4}));
  Tensor x3 = torch::nn::functional::one_hot(x3i, vocab_size).to(torch::kBool);  // onehotbatch(x, 1:10)
  EXPECT_EQ(shape(x3), jl({vocab_size, 3, 4}));
  EXPECT_EQ(shape(m(x3)), jl({embed_size, 3, 4}));
}

// Flux test/layers/basic.jl: "EmbeddingBag" — the _splitat cases, seen through the
// input/offsets form: with an identity weight and sum, output row b marks the items of bag b.
TEST(FluxBasic, EmbeddingBagSplitAt) {
  EmbeddingBag eb(torch::eye(9), BagReduction::sum);
  Tensor data = torch::arange(9, torch::kInt64);  // Flux's [1, 2, ..., 9]
  auto bags = [&](std::vector<std::vector<int64_t>> groups) {
    Tensor out = torch::zeros({static_cast<int64_t>(groups.size()), 9});
    for (size_t b = 0; b < groups.size(); ++b) {
      for (int64_t i : groups[b]) out[static_cast<int64_t>(b)][i] = 1;
    }
    return out;
  };
  // offsets_good [1, 3, 6] → [[1, 2], [3, 4, 5], [6, 7, 8, 9]]
  EXPECT_TRUE(close(eb->forward_offsets(data, torch::tensor({0, 2, 5})), bags({{0, 1}, {2, 3, 4}, {5, 6, 7, 8}})));
  // offsets_each [1, ..., 9] → nine bags of one
  EXPECT_TRUE(close(eb->forward_offsets(data, torch::arange(9, torch::kInt64)), torch::eye(9)));
  // offsets_just_one [1] → one bag of everything
  EXPECT_TRUE(close(eb->forward_offsets(data, torch::tensor({0})), torch::ones({1, 9})));
  // offsets_all_but_last [1, 9] → [[1, ..., 8], [9]]
  EXPECT_TRUE(close(eb->forward_offsets(data, torch::tensor({0, 8})), bags({{0, 1, 2, 3, 4, 5, 6, 7}, {8}})));

  EXPECT_THROW(eb->forward_offsets(data, torch::tensor({0, 1, 1, 4})), std::invalid_argument);  // non-monotonic
  EXPECT_THROW(eb->forward_offsets(data, torch::tensor({0, 4, 1})), std::invalid_argument);     // non-sorted
  EXPECT_THROW(eb->forward_offsets(data, torch::tensor({1, 2, 4})), std::invalid_argument);     // not starting at the first
  EXPECT_THROW(eb->forward_offsets(data, torch::tensor({0, 4, 10})), std::invalid_argument);    // too large
}

// Flux test/layers/basic.jl: "EmbeddingBag" / `for reduction in [sum, Statistics.mean, maximum]`
TEST(FluxBasic, EmbeddingBag) {
  struct Case {
    BagReduction reduction;
    const char* name;
    std::function<Tensor(const Tensor&, int64_t)> reduce;  // reduction(x; dims) without the kept dim
  };
  const std::vector<Case> cases{
      {BagReduction::sum, "sum", [](const Tensor& t, int64_t d) { return t.sum(d); }},
      {BagReduction::mean, "mean", [](const Tensor& t, int64_t d) { return t.mean(d); }},
      {BagReduction::max, "maximum", [](const Tensor& t, int64_t d) { return t.amax(d); }},
  };
  const int64_t vocab_size = 10, embed_size = 4;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EmbeddingBag emb_bag({vocab_size, embed_size}, c.reduction);
    Embedding emb(emb_bag->weight.detach());
    EXPECT_EQ(shape(emb_bag->weight), (Shape{vocab_size, embed_size}));
    EXPECT_ANY_THROW(emb_bag(torch::tensor(int64_t{1})));  // ErrorException: not just one index

    // single bag (input as a vector)
    Tensor x = torch::randint(0, vocab_size, {3}, torch::kInt64);
    Tensor y = emb_bag(x);
    EXPECT_EQ(shape(y), (Shape{embed_size}));
    EXPECT_EQ(y.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(close(y, c.reduce(emb(x), 0)));

    // PyTorch style input/offset bagging: Flux's [1,3,2,4,5,7] at [1,3,5] is ours less one.
    Tensor data = torch::tensor({0, 2, 1, 3, 4, 6});
    Tensor at = torch::tensor({0, 2, 4});
    Tensor by_offsets = emb_bag->forward_offsets(data, at);
    EXPECT_TRUE(close(by_offsets, emb_bag->forward_bags({torch::tensor({0, 2}), torch::tensor({1, 3}), torch::tensor({4, 6})})));
    EXPECT_TRUE(close(by_offsets, emb_bag(torch::tensor({{0, 2}, {1, 3}, {4, 6}}))));  // [1 2 5; 3 4 7]: columns are bags
    EXPECT_TRUE(close(emb_bag(data, at), by_offsets));
    EXPECT_THROW(emb_bag->forward_offsets(torch::tensor({0, 1, 2, 3, 4, 5}), torch::tensor({1, 3})), std::invalid_argument);
    EXPECT_THROW(emb_bag->forward_offsets(torch::tensor({0, 1, 2, 3, 4, 5}), torch::tensor({0, 11})), std::invalid_argument);

    // docstring example: [1..10] at [1, 5, 6, 8] == [[1,2,3,4], [5], [6,7], [8,9,10]]
    EXPECT_TRUE(close(emb_bag->forward_offsets(torch::arange(10, torch::kInt64), torch::tensor({0, 4, 5, 7})),
                      emb_bag->forward_bags({torch::tensor({0, 1, 2, 3}), torch::tensor({4}), torch::tensor({5, 6}),
                                             torch::tensor({7, 8, 9})})));

    // multiple bags (input as a vector of vectors)
    std::vector<Tensor> xs;
    for (int i = 0; i < 4; ++i) xs.push_back(torch::randint(0, vocab_size, {3}, torch::kInt64));
    Tensor ys = emb_bag->forward_bags(xs);
    std::vector<Tensor> zs;
    for (const auto& xi : xs) zs.push_back(c.reduce(emb(xi), 0));
    EXPECT_EQ(ys.dim(), 2);
    EXPECT_EQ(ys.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(close(ys, torch::stack(zs)));  // reduce(hcat, ...)

    // multiple bags (input as a matrix): Julia's (3, 5) columns are our 5 rows of 3
    Tensor xm = torch::randint(0, vocab_size, {5, 3}, torch::kInt64);
    std::vector<Tensor> xvec(5);
    for (int64_t b = 0; b < 5; ++b) xvec[static_cast<size_t>(b)] = xm[b];
    Tensor ym = emb_bag(xm);
    EXPECT_TRUE(close(ym, emb_bag->forward_bags(xvec)));
    EXPECT_TRUE(close(ym, c.reduce(emb(xm), 1)));

    // a one-hot matrix is a bag, but a one-hot vector is not.
    EXPECT_ANY_THROW(emb_bag(torch::nn::functional::one_hot(torch::tensor(int64_t{2}), vocab_size).to(torch::kBool)));
    Tensor i2 = torch::randint(0, vocab_size, {3}, torch::kInt64);
    Tensor x2 = torch::nn::functional::one_hot(i2, vocab_size).to(torch::kBool);  // OneHotMatrix(i2, 10), our [3, 10]
    Tensor y2 = emb_bag(x2);
    EXPECT_EQ(shape(y2), (Shape{embed_size}));
    EXPECT_EQ(y2.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(close(y2, c.reduce(emb(i2), 0)));
    EXPECT_THROW(emb_bag(torch::nn::functional::one_hot(torch::arange(5, torch::kInt64), 1000).to(torch::kBool)),
                 std::invalid_argument);  // OneHotMatrix(1:5, 1000)
  }
}

// spec (/tmp/api-spec.md): EmbeddingBag's indices are checked and it prints like Flux.
TEST(FluxBasic, EmbeddingBagRangeAndPrinting) {
  EmbeddingBag eb({10, 3});
  EXPECT_EQ(eb->repr(), "EmbeddingBag(10 => 3)");
  // Out-of-range ids are std::out_of_range, as for Embedding (Flux: a BoundsError).
  expect_error<std::out_of_range>([&] { eb(torch::tensor({0, 10})); }, {"EmbeddingBag"});
  expect_error<std::out_of_range>([&] { eb(torch::tensor({-1, 2})); }, {"EmbeddingBag"});
  // Flux's docstring: identity_init(gain=100) and mean, bag [3, 3, 1] → [33.33, 0, 66.67].
  Tensor w = torch::zeros({26, 3});
  for (int64_t i = 0; i < 3; ++i) w[i][i] = 100;  // weight [in, out]: token i → 100·e_i
  EmbeddingBag doc(w);
  EXPECT_TRUE(close(doc(torch::tensor({2, 2, 0})), torch::tensor({100.0f / 3, 0.0f, 200.0f / 3})));
}

// Flux test/layers/basic.jl: "second derivatives"
TEST(FluxBasic, SecondDerivatives) {
  Chain m1(Dense({3, 4}, flux::tanh, {.bias = false}), Dense({4, 2}));
  m1->to(torch::kFloat64);
  Tensor x = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64);
  auto sum_m1 = [&](const Tensor& v) { return m1(v).sum(); };
  // By hand: sum(W2 tanh(W1 x) + b2) has Hessian W1ᵀ diag(c ⊙ tanh''(W1 x)) W1 with c = W2ᵀ 1.
  auto d1 = m1[0].as<DenseImpl>(), d2 = m1[1].as<DenseImpl>();
  Tensor W1 = d1->weight.detach(), W2 = d2->weight.detach();
  Tensor t = torch::tanh(W1.matmul(x));
  Tensor c = W2.sum(0);
  Tensor by_hand = W1.t().matmul(torch::diag(c * (-2 * t * (1 - t * t)))).matmul(W1);
  EXPECT_TRUE(close(hessian(sum_m1, x), by_hand, 1e-10, 1e-12));
  EXPECT_TRUE(close(fd_hessian(sum_m1, x), by_hand, 1e-5, 1e-7));

  Chain m1v(std::vector<Layer>{m1[0], m1[1]});  // vector of layers
  auto sum_m1v = [&](const Tensor& v) { return m1v(v).sum(); };
  EXPECT_TRUE(close(hessian(sum_m1v, x), hessian(sum_m1, x), 1e-12, 1e-12));
  EXPECT_TRUE(close(fd_hessian(sum_m1v, x), hessian(sum_m1v, x), 1e-5, 1e-7));

  // NNlib's softmax gradient (Flux: @test_broken for hessian_dual).
  Chain m2(Dense({3, 4}, flux::tanh), Dense({4, 2}), softmax);
  m2->to(torch::kFloat64);
  auto sum_m2 = [&](const Tensor& v) { return torch::sin(m2(v)).sum(); };  // sum∘m2 is constant 1; sin keeps it curved
  EXPECT_TRUE(close(hessian([&](const Tensor& v) { return m2(v).sum(); }, x), torch::zeros({3, 3}, torch::kFloat64), 0, 1e-10));
  EXPECT_TRUE(close(fd_hessian(sum_m2, x), hessian(sum_m2, x), 1e-4, 1e-7));

  // NNlib issue 362: Conv then Dense. cat(Float32[1 2; 3 4; 5 6; 7 8]; dims=3) is (4, 2, 1), our [1, 2, 4].
  Chain m3(Conv({3}, {2, 3}, relu), Dense({2, 2}));
  m3->to(torch::kFloat64);
  Tensor x3 = torch::tensor({1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 6.0, 8.0}, torch::kFloat64).reshape({1, 2, 4});
  auto sum_m3 = [&](const Tensor& v) { return m3(v).sum(); };
  EXPECT_TRUE(close(fd_hessian(sum_m3, x3), hessian(sum_m3, x3), 1e-5, 1e-7));
}

// Flux test/layers/basic.jl: "gradients of Chain{Vector}"
TEST(FluxBasic, GradientsOfChainVector) {
  Chain m1(Dense({3, 4}, flux::tanh, {.bias = false}), Dense({4, 2}));
  Chain m1v(std::vector<Layer>{m1[0], m1[1]});
  EXPECT_EQ(parameter_count(m1), parameter_count(m1v));

  Tensor x1 = torch::randn(jl({3, 5}));
  EXPECT_TRUE(close(m1(x1), m1v(x1)));

  Tensor y1 = torch::randint(0, 2, jl({2, 5})).to(torch::kFloat32);  // rand(Bool, 2, 5)
  // Flux.Losses.logitcrossentropy: mean over samples of -Σ y .* logsoftmax(ŷ; dims = 1).
  auto logitcrossentropy = [](const Tensor& yhat, const Tensor& y) { return -(y * torch::log_softmax(yhat, -1)).sum(-1).mean(); };
  auto w1 = m1[0].as<DenseImpl>()->weight, b2 = m1[1].as<DenseImpl>()->bias;
  auto w1v = m1v[0].as<DenseImpl>()->weight, b2v = m1v[1].as<DenseImpl>()->bias;
  auto g1 = torch::autograd::grad({logitcrossentropy(m1(x1), y1)}, {w1, b2});
  auto g1v = torch::autograd::grad({logitcrossentropy(m1v(x1), y1)}, {w1v, b2v});
  EXPECT_TRUE(close(g1[0], g1v[0]));
  EXPECT_TRUE(close(g1[1], g1v[1]));
}

// Flux test/layers/basic.jl: "PairwiseFusion"
TEST(FluxBasic, PairwiseFusion) {
  std::vector<Tensor> x{torch::rand(jl({1, 10}), torch::kFloat64), torch::rand(jl({30, 10}), torch::kFloat64)};
  PairwiseFusion layer(plus, Dense({1, 30}), Dense({30, 10}));
  auto y = layer.outputs(x);
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(shape(y[0]), jl({30, 10}));
  EXPECT_EQ(shape(y[1]), jl({10, 10}));

  Tensor x1 = torch::rand(jl({1, 10}), torch::kFloat64);
  PairwiseFusion layer2([](const Tensor& a, const Tensor& b) { return a + b.to(a.scalar_type()); }, Dense({1, 10}), Dense({10, 1}));  // .+
  auto y2 = layer2.outputs(x1);
  ASSERT_EQ(y2.size(), 2u);
  EXPECT_EQ(shape(y2[0]), jl({10, 10}));
  EXPECT_EQ(shape(y2[1]), jl({1, 10}));

  Layer p1 = fun("p1", [](const Tensor& v) { return v + 1; });
  Layer p2 = fun("p2", [](const Tensor& v) { return v + 2; });
  Layer cube = fun("cube", [](const Tensor& v) { return v.pow(3); });
  PairwiseFusion f(vcat, p1, p2, cube);
  auto i = [](int64_t v) { return torch::tensor(v); };
  // (2, 10, 20) → (3, [5, 12], [125, 1728, 8000])
  auto z = f.outputs(std::vector<Tensor>{i(2), i(10), i(20)});
  ASSERT_EQ(z.size(), 3u);
  EXPECT_EQ(z[0].dim(), 0);
  EXPECT_EQ(z[0].item<int64_t>(), 3);
  EXPECT_TRUE(torch::equal(z[1], torch::tensor({5, 12})));
  EXPECT_TRUE(torch::equal(z[2], torch::tensor({125, 1728, 8000})));
  // (7) → (8, [10, 9], [1000, 729, 343]): the one input is every x_i
  auto w = f.outputs(i(7));
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].item<int64_t>(), 8);
  EXPECT_TRUE(torch::equal(w[1], torch::tensor({10, 9})));
  EXPECT_TRUE(torch::equal(w[2], torch::tensor({1000, 729, 343})));
}

// spec (/tmp/api-spec.md): PairwiseFusion's forward gives the last output; input count,
// indexing and printing follow Parallel.
TEST(FluxBasic, PairwiseFusionForwardIndexingAndErrors) {
  Layer p1 = fun("p1", [](const Tensor& v) { return v + 1; });
  Layer p2 = fun("p2", [](const Tensor& v) { return v * 2; });
  PairwiseFusion f(plus, NamedLayers{{"a", p1}, {"b", p2}});
  EXPECT_EQ(f->size(), 2u);
  EXPECT_EQ(f["a"].ptr(), f[0].ptr());
  EXPECT_EQ(f["b"].ptr(), f[1].ptr());
  Tensor x = torch::tensor({1.0, 2.0});
  // y0 = x + 1 = [2, 3]; y1 = 2 (y0 + x) = [6, 10]
  EXPECT_TRUE(torch::equal(f(x), torch::tensor({6.0, 10.0})));
  EXPECT_TRUE(torch::equal(Chain(f, fun("neg", [](const Tensor& v) { return -v; }))(x), torch::tensor({-6.0, -10.0})));
  expect_error<std::invalid_argument>([&] { f.outputs(std::vector<Tensor>{x, x, x}); },
                                      {"PairwiseFusion with 2 sub-layers can take one input or 2 inputs, but got 3 inputs"});
  EXPECT_EQ(PairwiseFusion(plus, Dense({1, 30}), Dense({30, 10}))->repr(), "PairwiseFusion(+, Dense(1 => 30), Dense(30 => 10))");
}
