// Port of Flux.jl v0.14.25 test/layers/normalisation.jl (Dropout, AlphaDropout, BatchNorm,
// InstanceNorm, LayerNorm, GroupNorm and their derivatives). Julia's (d1, ..., C, N) array is
// our [N, C, ..., d1] with the same memory; a Flux `C × N` matrix is our [N, C].
//
// Modes: Flux's automatic mode trains inside a gradient (`evalwgrad(m, x)`, a pullback) and
// tests on a plain call. Ours trains exactly when autograd records the call, so `evalwgrad`
// below calls with an input that requires grad, and `plain` calls under NoGradGuard.
// Cases the API cannot express are listed in PORTED.md.
#include "testing.h"

#include <algorithm>

using namespace flux;

namespace {

Shape jl(Shape julia) {
  std::reverse(julia.begin(), julia.end());
  return julia;
}

// Flux's evalwgrad(f, x) = pullback(f, x)[1]: the forward pass of a gradient computation.
Tensor evalwgrad(const Layer& m, const Tensor& x) { return m(x.detach().clone().requires_grad_(true)).detach(); }

// A plain Flux call m(x), outside any gradient.
Tensor plain(const Layer& m, const Tensor& x) {
  torch::NoGradGuard no_grad;
  return m(x);
}

// reshape(collect(1:prod(sizes)), sizes) as our tensor (the same memory).
Tensor iota(Shape julia_sizes, torch::Dtype dtype = torch::kFloat32) {
  int64_t n = 1;
  for (int64_t s : julia_sizes) n *= s;
  return torch::arange(1, n + 1, dtype).reshape(jl(julia_sizes));
}

int64_t zeros_in(const Tensor& t) { return (t == 0).sum().item<int64_t>(); }

Tensor fd_gradient(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, double h = 1e-6) {
  Tensor g = torch::zeros_like(x0);
  for (int64_t i = 0; i < x0.numel(); ++i) {
    Tensor up = x0.clone(), down = x0.clone();
    up.view(-1)[i] += h;
    down.view(-1)[i] -= h;
    g.view(-1)[i] = (f(up).item<double>() - f(down).item<double>()) / (2 * h);
  }
  return g;
}

// A Julia matrix literal (rows as written) of a (rows, cols, n) array, slice by slice, as our [n, cols, rows].
Tensor julia_3d(const std::vector<std::vector<std::vector<double>>>& slices) {
  std::vector<Tensor> out;
  for (const auto& rows : slices) {
    std::vector<Tensor> rs;
    for (const auto& r : rows) rs.push_back(torch::tensor(r, torch::kFloat64));
    out.push_back(torch::stack(rs).t());  // [rows, cols] as written → our [cols, rows]
  }
  return torch::stack(out);
}

}  // namespace

// Flux test/layers/normalisation.jl: "Dropout" (the rng = MersenneTwister() variant is not
// expressible: see PORTED.md)
TEST(FluxNormalisation, Dropout) {
  torch::manual_seed(0);
  {
    Tensor x = torch::complex(torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64), torch::tensor({0.0, 1.0, 3.0}, torch::kFloat64));
    EXPECT_TRUE(torch::equal(plain(Dropout(0.1), x), x));
    EXPECT_TRUE(torch::equal(evalwgrad(Dropout(0.0), x), x));
    EXPECT_TRUE(torch::equal(evalwgrad(Dropout(1.0), x), torch::zeros_like(x)));
  }
  {
    Tensor x = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64);
    EXPECT_TRUE(torch::equal(plain(Dropout(0.1), x), x));
    EXPECT_TRUE(torch::equal(evalwgrad(Dropout(0.0), x), x));
    EXPECT_TRUE(torch::equal(evalwgrad(Dropout(1.0), x), torch::zeros_like(x)));
  }

  Tensor x = torch::rand({100}, torch::kFloat64);
  Dropout m(0.9);
  EXPECT_GT(zeros_in(evalwgrad(m, x)), 50);
  testmode(m, true);
  EXPECT_EQ(zeros_in(evalwgrad(m, x)), 0);  // overrides the automatic mode
  testmode(m, false);
  EXPECT_GT(zeros_in(evalwgrad(m, x)), 50);

  // Keyword active=false
  Dropout m2(0.9, {.active = false});
  EXPECT_EQ(zeros_in(evalwgrad(m2, x)), 0);

  Tensor x32 = torch::rand({100});
  Chain mc(Dense({100, 100}), Dropout(0.9));
  EXPECT_GT(zeros_in(evalwgrad(mc, x32)), 50);
  testmode(mc, true);
  EXPECT_EQ(zeros_in(evalwgrad(mc, x32)), 0);

  // dims: Flux's (100, 50) matrix is our [50, 100]; Julia dims = 2 is our dim 0, dims = 1 our dim 1.
  Tensor xm = torch::rand(jl({100, 50}), torch::kFloat64);
  for (bool train : {false, true}) {  // Flux calls m(x) plainly; the property holds in training too
    SCOPED_TRACE(train ? "training" : "plain call");
    Dropout d2(0.5, {.dims = {0}});
    Tensor y = train ? evalwgrad(d2, xm) : plain(d2, xm);
    Tensor c = (y == 0).sum(0);  // zeros in Julia's row i (y[i, :]) for each i
    EXPECT_EQ(c.min().item<int64_t>(), c.max().item<int64_t>());
    Dropout d1(0.5, {.dims = {1}});
    Tensor y1 = train ? evalwgrad(d1, xm) : plain(d1, xm);
    Tensor c1 = (y1 == 0).sum(1);  // zeros in Julia's column i (y[:, i])
    EXPECT_EQ(c1.min().item<int64_t>(), c1.max().item<int64_t>());
  }

  // issue 1084
  Dropout m3(0.9);
  Tensor x3 = torch::rand({100}, torch::kFloat64);
  testmode(m3);
  EXPECT_EQ(zeros_in(m3(x3)), 0);
  trainmode(m3);
  EXPECT_GT(zeros_in(m3(x3)), 50);

  EXPECT_GT(zeros_in(dropout(x3, 0.9)), 50);     // Flux.dropout(x, 0.9): always active
  EXPECT_EQ(zeros_in(dropout(x3, 0.9 * 0)), 0);

  EXPECT_EQ(Dropout(0.5, {.active = true})->active, std::optional<bool>(true));
}

// Flux test/layers/normalisation.jl: "AlphaDropout"
TEST(FluxNormalisation, AlphaDropout) {
  torch::manual_seed(1);
  Tensor x = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(plain(AlphaDropout(0.1), x), x));
  EXPECT_TRUE(torch::equal(evalwgrad(AlphaDropout(0.0), x), x));
  EXPECT_TRUE(torch::equal(evalwgrad(AlphaDropout(1.0), x), torch::zeros_like(x)));

  Tensor xr = torch::randn({1000}, torch::kFloat64);  // large enough to prevent flaky test
  AlphaDropout m(0.5);
  Tensor y = evalwgrad(m, xr);
  // Should preserve unit mean and variance
  EXPECT_NEAR(y.mean().item<double>(), 0.0, 0.2);
  EXPECT_NEAR(y.var().item<double>(), 1.0, 0.2);

  testmode(m, true);  // should override istraining
  EXPECT_TRUE(torch::equal(evalwgrad(m, xr), xr));

  testmode(m, false);
  y = evalwgrad(m, xr);
  EXPECT_NEAR(y.mean().item<double>(), 0.0, 0.2);
  EXPECT_NEAR(y.var().item<double>(), 1.0, 0.2);

  // Known good value ranges (pytorch test/cpp/api/modules.cpp). The sum's mean is 44.3 and
  // its standard deviation 12.2, so the range holds for some seeds only, as in PyTorch's test.
  torch::manual_seed(1);
  double s = evalwgrad(m, torch::ones({100}, torch::kFloat64)).sum().item<double>();
  EXPECT_GT(s, 40);
  EXPECT_LT(s, 130);

  EXPECT_EQ(AlphaDropout(0.5, true)->active, std::optional<bool>(true));
}

// Flux test/layers/normalisation.jl: "BatchNorm" — the hand-computed 2×3 case
TEST(FluxNormalisation, BatchNorm) {
  BatchNorm m(2);
  // x = [1.0 3.0 5.0; 2.0 4.0 6.0]: channels are Julia rows, so our [[1, 2], [3, 4], [5, 6]].
  Tensor x = torch::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, torch::kFloat64);

  EXPECT_TRUE(m->weight.defined() && m->bias.defined());  // hasaffine(m)
  EXPECT_EQ(m->parameters().size(), 2u);
  EXPECT_TRUE(torch::equal(m->bias, torch::zeros({2})));   // β = initβ(2)
  EXPECT_TRUE(torch::equal(m->weight, torch::ones({2})));  // γ = initγ(2)

  Tensor y = evalwgrad(m, x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(close(y, torch::tensor({{-1.22474, -1.22474}, {0.0, 0.0}, {1.22474, 1.22474}}, torch::kFloat64), 0, 1e-5));

  // μ of the batch is (1 + 3 + 5) / 3 = 3 and (2 + 4 + 6) / 3 = 4; with momentum 0.1: 0.3 and 0.4.
  EXPECT_TRUE(close(m->running_mean.to(torch::kFloat64), torch::tensor({0.3, 0.4}, torch::kFloat64)));
  // .1 .* var(x, dims = 2, corrected = false) .* (3 / 2) .+ .9 .* [1., 1.] == 1.3
  const double var_biased = (4.0 + 0.0 + 4.0) / 3;
  EXPECT_TRUE(close(m->running_var.to(torch::kFloat64), torch::full({2}, 0.1 * var_biased * 1.5 + 0.9, torch::kFloat64)));
  EXPECT_NEAR(0.1 * var_biased * 1.5 + 0.9, 1.3, 1e-12);

  Tensor xp = plain(m, x);
  EXPECT_NEAR(xp[0][0].item<double>(), (1 - 0.3) / std::sqrt(1.3), 1e-5);  // x′[1]
}

// Flux test/layers/normalisation.jl: "BatchNorm" — track_stats = false, and in Float16
TEST(FluxNormalisation, BatchNormWithoutTrackStats) {
  BatchNorm m(2, identity, {.track_stats = false});
  Tensor x = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}, {5.0f, 6.0f}});
  Tensor y = plain(m, x);
  // Without running statistics the batch's own normalise the output.
  Tensor mu = x.mean(0), var = x.var(0, /*unbiased=*/false);
  EXPECT_TRUE(close(y, (x - mu) / (var + 1e-5).sqrt(), 1e-5, 1e-5));
  m->to(torch::kHalf);  // f16(m)
  Tensor y16 = plain(m, x.to(torch::kHalf));
  EXPECT_EQ(y16.scalar_type(), torch::kHalf);
  EXPECT_TRUE(close(y16.to(torch::kFloat32), y, 0, 1e-3));
}

// Flux test/layers/normalisation.jl: "BatchNorm" — with activation function
TEST(FluxNormalisation, BatchNormWithActivation) {
  BatchNorm m(2, sigmoid);
  Tensor x = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}, {5.0f, 6.0f}});
  Tensor y = plain(m, x);
  // test mode: the initial running statistics μ = 0, σ² = 1
  Tensor mu = m->running_mean, var = m->running_var;
  EXPECT_TRUE(close(y, torch::sigmoid((x - mu) / torch::sqrt(var + m->eps)), 0, 2e-7));  // Flux: atol 1e-7 (Float32)
  m->to(torch::kHalf);
  Tensor y16 = plain(m, x.to(torch::kHalf));
  EXPECT_EQ(y16.scalar_type(), torch::kHalf);
  EXPECT_TRUE(close(y16.to(torch::kFloat32), y, 0, 1e-3));
}

// Flux test/layers/normalisation.jl: "BatchNorm" — any rank equals the channel-last matrix form
TEST(FluxNormalisation, BatchNormHigherRanks) {
  {
    BatchNorm m(2);
    trainmode(m);
    Tensor x = iota({3, 2, 1});  // our [1, 2, 3]
    // permutedims(x, [2, 1, 3]) reshaped to (2, :), m, back: our [N, L, C] → [N·L, C].
    Tensor y = m(x.permute({0, 2, 1}).reshape({-1, 2})).reshape({1, 3, 2}).permute({0, 2, 1});
    EXPECT_TRUE(close(m(x), y, 1e-5, 1e-6));
  }
  {
    BatchNorm m(2);
    trainmode(m);
    Tensor x = iota({2, 3, 2, 1});  // our [1, 2, 3, 2]
    Tensor y = m(x.permute({0, 2, 3, 1}).reshape({-1, 2})).reshape({1, 3, 2, 2}).permute({0, 3, 1, 2});
    EXPECT_TRUE(close(m(x), y, 1e-5, 1e-6));
  }
  {
    BatchNorm m(2);
    trainmode(m);
    Tensor x = iota({2, 2, 3, 2, 1});  // our [1, 2, 3, 2, 2]
    Tensor y = m(x.permute({0, 2, 3, 4, 1}).reshape({-1, 2})).reshape({1, 3, 2, 2, 2}).permute({0, 4, 1, 2, 3});
    EXPECT_TRUE(close(m(x), y, 1e-5, 1e-6));
  }
}

// Flux test/layers/normalisation.jl: "BatchNorm" — parameter counts and `active`
TEST(FluxNormalisation, BatchNormParamsAndActive) {
  EXPECT_EQ(BatchNorm(10)->parameters().size(), 2u);
  EXPECT_EQ(BatchNorm(10, identity, {.affine = true})->parameters().size(), 2u);
  EXPECT_EQ(BatchNorm(10, identity, {.affine = false})->parameters().size(), 0u);
  EXPECT_EQ(BatchNorm(5, identity, {.active = true})->active, std::optional<bool>(true));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — the hand-computed (3, 2, 2) case
TEST(FluxNormalisation, InstanceNorm) {
  InstanceNorm m(2, identity, {.affine = true, .track_stats = true});
  Tensor x = iota({3, 2, 2});  // our [2, 2, 3]: sample n, channel c, then 3 values
  EXPECT_EQ(m->parameters().size(), 2u);
  EXPECT_TRUE(torch::equal(m->bias, torch::zeros({2})));
  EXPECT_TRUE(torch::equal(m->weight, torch::ones({2})));
  evalwgrad(m, x);
  // μ per instance: 2, 5 (sample 1) and 8, 11 (sample 2); with momentum: .1 (2 + 8) / 2 = .5, .1 (5 + 11) / 2 = .8
  EXPECT_TRUE(close(m->running_mean, torch::tensor({0.5, 0.8})));
  // σ² per instance is 2/3 everywhere; corrected by n / (n - 1) = 3 / 2: 0.1 · 1 + 0.9
  const double n = 3, corr = n / (n - 1);
  EXPECT_TRUE(close(m->running_var, torch::full({2}, 0.1 * corr * (2.0 / 3) + 0.9)));

  Tensor y = plain(m, x);
  EXPECT_EQ(m->running_mean.numel(), 2);
  EXPECT_EQ(m->running_var.numel(), 2);
  Tensor mu = m->running_mean.reshape({1, 2, 1}), var = m->running_var.reshape({1, 2, 1});
  EXPECT_TRUE(close(y, (x - mu) / torch::sqrt(var + 1e-5), 0, 1e-5));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — with activation, tracked statistics, Float64
TEST(FluxNormalisation, InstanceNormWithActivationTracked) {
  InstanceNorm m(2, sigmoid, {.affine = true, .track_stats = true});
  Tensor x = iota({3, 2, 2}, torch::kFloat64);
  evalwgrad(m, x);
  Tensor y = plain(m, x);  // inference time after a training step
  EXPECT_EQ(y.scalar_type(), torch::kFloat64);
  Tensor mu = m->running_mean.to(torch::kFloat64).reshape({1, 2, 1});
  Tensor var = m->running_var.to(torch::kFloat64).reshape({1, 2, 1});
  EXPECT_TRUE(close(y, torch::sigmoid((x - mu) / torch::sqrt(var + m->eps)), 0, 1e-7));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — with activation, affine, no tracked statistics
TEST(FluxNormalisation, InstanceNormWithActivationUntracked) {
  InstanceNorm m(2, sigmoid, {.affine = true, .track_stats = false});
  EXPECT_TRUE(m->weight.defined() && m->bias.defined());  // hasaffine
  EXPECT_EQ(m->parameters().size(), 2u);
  Tensor x = iota({3, 2, 2}, torch::kFloat64);
  Tensor y = plain(m, x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat64);
  Tensor mu = x.mean(-1, true), var = x.var(-1, /*unbiased=*/false, /*keepdim=*/true);  // dims = 1
  EXPECT_TRUE(close(y, torch::sigmoid((x - mu) / torch::sqrt(var + m->eps)), 0, 1e-7));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — default (no affine)
TEST(FluxNormalisation, InstanceNormDefault) {
  InstanceNorm m(2, sigmoid);
  EXPECT_FALSE(m->weight.defined());  // hasaffine == false
  EXPECT_EQ(m->parameters().size(), 0u);
  Tensor x = iota({3, 2, 2}, torch::kFloat64);
  Tensor y = plain(m, x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat64);
  Tensor mu = x.mean(-1, true), var = x.var(-1, false, true);
  EXPECT_TRUE(close(y, torch::sigmoid((x - mu) / torch::sqrt(var + m->eps)), 0, 1e-7));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — spatial dimensions may be merged
TEST(FluxNormalisation, InstanceNormMergedSpatialDims) {
  InstanceNorm m(2, identity, {.affine = true});
  trainmode(m);
  Tensor x = iota({2, 4, 1, 2, 3});  // our [3, 2, 1, 4, 2]
  // reshape(permutedims(x, [3, 1, 2, 4, 5]), :, 2, 3): the spatial (1, 2, 4) as one of 8
  Tensor y = m(x.permute({0, 1, 3, 4, 2}).reshape({3, 2, 8})).reshape({3, 2, 1, 4, 2});
  EXPECT_TRUE(close(m(x), y, 1e-5, 1e-6));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — μ, σ² and output sizes for higher rank
TEST(FluxNormalisation, InstanceNormHigherRank) {
  InstanceNorm m(2, identity, {.affine = true, .track_stats = true});
  Shape sizes{5, 5, 3, 4, 2, 6};
  Tensor y = evalwgrad(m, iota(sizes));
  EXPECT_EQ(shape(m->running_mean), (Shape{2}));
  EXPECT_EQ(shape(m->running_var), (Shape{2}));
  EXPECT_EQ(shape(y), jl(sizes));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — equals BatchNorm when channel and batch are squashed
TEST(FluxNormalisation, InstanceNormIsBatchNormOverSquashedChannels) {
  InstanceNorm m_inorm(2, identity, {.affine = true});
  trainmode(m_inorm);
  BatchNorm m_bnorm(12);
  trainmode(m_bnorm);
  Tensor x = iota({5, 5, 3, 4, 2, 6});
  // reshape(x, (5, 5, 3, 4, :, 1)): channel and batch become 12 channels of one sample
  EXPECT_TRUE(close(m_inorm(x), m_bnorm(x.reshape({1, 12, 4, 3, 5, 5})).reshape(x.sizes()), 1e-5, 1e-5));
}

// Flux test/layers/normalisation.jl: "InstanceNorm" — parameter counts and `active`
TEST(FluxNormalisation, InstanceNormParamsAndActive) {
  EXPECT_EQ(InstanceNorm(10)->parameters().size(), 0u);
  EXPECT_EQ(InstanceNorm(10, identity, {.affine = true})->parameters().size(), 2u);
  EXPECT_EQ(InstanceNorm(10, identity, {.affine = false})->parameters().size(), 0u);
  EXPECT_EQ(InstanceNorm(5, identity, {.active = true})->active, std::optional<bool>(true));
}

// Flux test/layers/normalisation.jl: "LayerNorm"
TEST(FluxNormalisation, LayerNorm) {
  // Flux.normalise(x, dims = ...) by hand: population standard deviation, eps added to it.
  auto by_hand = [](const Tensor& x, std::vector<int64_t> dims) {
    Tensor mu = x.mean(dims, true);
    Tensor sigma = ((x - mu).pow(2)).mean(dims, true).sqrt();
    return (x - mu) / (sigma + 1e-5);
  };
  for (Shape sizes : {Shape{2, 3}, Shape{2, 3, 4}, Shape{2, 3, 4, 5}}) {
    Tensor x = torch::rand(jl(sizes), torch::kFloat64);
    const int64_t last = x.dim() - 1;  // Julia dims = 1
    Tensor y = LayerNorm(2)(x);
    EXPECT_TRUE(close(y, normalise(x, {.dims = {last}}))) << shape_string(x);
    EXPECT_TRUE(close(y, by_hand(x, {last}))) << shape_string(x);
  }
  Tensor v = torch::rand({2}, torch::kFloat64);
  EXPECT_TRUE(close(LayerNorm(2, flux::tanh)(v), torch::tanh(normalise(v, {.dims = {0}}))));
  EXPECT_TRUE(close(LayerNorm(2, flux::tanh)(v), torch::tanh(by_hand(v, {0}))));

  Tensor x4 = torch::rand(jl({2, 3, 4, 5}), torch::kFloat64);
  EXPECT_TRUE(close(LayerNorm(jl({2, 3}))(x4), normalise(x4, {.dims = {2, 3}})));  // dims = (1, 2)
  EXPECT_TRUE(close(LayerNorm(jl({2, 3}))(x4), by_hand(x4, {2, 3})));
  EXPECT_TRUE(close(LayerNorm(jl({2, 3, 4}))(x4), normalise(x4, {.dims = {1, 2, 3}})));  // dims = 1:3
  EXPECT_TRUE(close(LayerNorm(jl({2, 3, 4}))(x4), by_hand(x4, {1, 2, 3})));

  LayerNorm m(jl({2, 3, 4}));
  EXPECT_TRUE(m->weight.defined());  // hasaffine
  EXPECT_EQ(m->parameters().size(), 2u);
  LayerNorm n(jl({2, 3, 4}), identity, {.affine = false});
  EXPECT_FALSE(n->weight.defined());
  EXPECT_EQ(n->parameters().size(), 0u);
}

// Flux test/layers/normalisation.jl: "GroupNorm" — the hand-computed (3, 4, 2) case
TEST(FluxNormalisation, GroupNorm) {
  GroupNorm m(4, 2);
  Tensor x = iota({3, 4, 2});  // our [2, 4, 3]
  EXPECT_EQ(m->parameters().size(), 2u);
  EXPECT_TRUE(torch::equal(m->bias, torch::zeros({4})));
  EXPECT_TRUE(torch::equal(m->weight, torch::ones({4})));
  evalwgrad(m, x);
  EXPECT_TRUE(m->buffers().empty());  // m.μ === nothing, m.σ² === nothing
  Tensor yhat = plain(m, x);
  Tensor y = julia_3d({{{-1.4638476, 0.29276943, -1.4638476, 0.29276943},
                        {-0.87830865, 0.87830853, -0.8783088, 0.8783083},
                        {-0.29276967, 1.4638474, -0.2927699, 1.4638472}},
                       {{-1.4638476, 0.29276943, -1.4638472, 0.29276943},
                        {-0.8783083, 0.8783083, -0.8783083, 0.8783083},
                        {-0.29276943, 1.4638472, -0.29276943, 1.4638472}}});
  EXPECT_TRUE(close(yhat, y, 0, 1e-5));
}

// Flux test/layers/normalisation.jl: "GroupNorm" — with activation function
TEST(FluxNormalisation, GroupNormWithActivation) {
  GroupNorm m(4, 2, sigmoid);
  Tensor x = iota({3, 4, 2});
  Tensor yhat = plain(m, x);
  Tensor y = julia_3d({{{0.18787955, 0.57267404, 0.18787955, 0.57267404},
                        {0.2935284, 0.70647156, 0.29352835, 0.70647156},
                        {0.42732593, 0.81212044, 0.42732587, 0.8121204}},
                       {{0.18787955, 0.57267404, 0.1878796, 0.57267404},
                        {0.29352847, 0.70647156, 0.29352847, 0.70647156},
                        {0.42732602, 0.8121204, 0.42732602, 0.8121204}}});
  EXPECT_TRUE(close(yhat, y, 0, 1e-6));  // Flux: atol = 1e-7 on its own Float32 output
}

// Flux test/layers/normalisation.jl: "GroupNorm" — spatial dimensions may be merged
TEST(FluxNormalisation, GroupNormMergedSpatialDims) {
  GroupNorm m(2, 2);
  trainmode(m);
  Tensor x = iota({2, 4, 1, 2, 3});
  Tensor y = m(x.permute({0, 1, 3, 4, 2}).reshape({3, 2, 8})).reshape({3, 2, 1, 4, 2});
  EXPECT_TRUE(close(m(x), y, 1e-5, 1e-6));
}

// Flux test/layers/normalisation.jl: "GroupNorm" — equals InstanceNorm with a group per channel
TEST(FluxNormalisation, GroupNormIsInstanceNormWithAGroupPerChannel) {
  InstanceNorm IN(4, identity, {.affine = true});
  trainmode(IN);
  GroupNorm GN(4, 4);
  trainmode(GN);
  Tensor x = iota({2, 2, 3, 4, 5});
  EXPECT_TRUE(close(IN(x), GN(x), 1e-5, 1e-5));
}

// Flux test/layers/normalisation.jl: "GroupNorm" — equals BatchNorm for groups of one and a batch of one
TEST(FluxNormalisation, GroupNormIsBatchNormForABatchOfOne) {
  BatchNorm BN(4);
  trainmode(BN);
  GroupNorm GN(4, 4);
  trainmode(GN);
  Tensor x = iota({2, 2, 3, 4, 1});
  EXPECT_TRUE(close(BN(x), GN(x), 1e-5, 1e-5));
  EXPECT_EQ(GroupNorm(5, 5, identity, {.active = true})->active, std::optional<bool>(true));
}

// spec (/tmp/api-spec.md): Float64 input into the norms is computed in Float64 and stays Float64.
TEST(FluxNormalisation, Float64InputStaysFloat64) {
  Tensor x = torch::randn({3, 4, 5}, torch::kFloat64);
  for (Layer m : std::vector<Layer>{BatchNorm(4), InstanceNorm(4, identity, {.affine = true}), GroupNorm(4, 2)}) {
    SCOPED_TRACE(m->repr());
    Tensor y = evalwgrad(m, x);
    EXPECT_EQ(y.scalar_type(), torch::kFloat64);
    EXPECT_EQ(plain(m, x).scalar_type(), torch::kFloat64);
  }
  // In double precision the batch normalisation is exact to ~1e-15, beyond Float32's reach.
  Tensor y = evalwgrad(BatchNorm(4), x);
  Tensor mu = x.mean(Shape{0, 2}, true);
  Tensor var = x.var(Shape{0, 2}, /*unbiased=*/false, /*keepdim=*/true);
  EXPECT_TRUE(close(y, (x - mu) / torch::sqrt(var + 1e-5), 1e-12, 1e-12));
}

// Flux test/layers/normalisation.jl: "second derivatives"
TEST(FluxNormalisation, SecondDerivatives) {
  // Dropout is linear in x (a fixed mask): its Hessian is zero.
  Dropout m1(0.5);
  Tensor x = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64).requires_grad_(true);
  Tensor g = torch::autograd::grad({m1(x).sum()}, {x}, {}, true, true)[0];
  for (int64_t i = 0; i < 3; ++i) {
    if (!g.requires_grad()) break;  // a gradient that does not depend on x
    auto h = torch::autograd::grad({g[i]}, {x}, {}, true, false, true)[0];
    if (h.defined()) EXPECT_TRUE(torch::equal(h, torch::zeros({3}, torch::kFloat64)));
  }
  // Chain(BatchNorm(3), sum) in training: Σ over the batch of normalised values is N·β, a constant.
  Chain m2(BatchNorm(3), fn("sum", [](const Tensor& t) { return t.sum(); }));
  Tensor xb = torch::tensor({{1.0f, 3.0f, 5.0f}, {2.0f, 4.0f, 6.0f}}).requires_grad_(true);  // Float32[1 2; 3 4; 5 6]
  Tensor gb = torch::autograd::grad({m2(xb)}, {xb}, {}, true, true)[0];
  EXPECT_TRUE(close(gb, torch::zeros_like(gb), 0, 1e-5));
  for (int64_t i = 0; i < gb.numel(); ++i) {
    if (!gb.requires_grad()) break;
    auto h = torch::autograd::grad({gb.view(-1)[i]}, {xb}, {}, true, false, true)[0];
    if (h.defined()) EXPECT_TRUE(close(h, torch::zeros_like(h), 0, 1e-4)) << "row " << i;
  }
}

// Flux test/layers/normalisation.jl: "ForwardDiff" (Jacobians and gradients by other means)
TEST(FluxNormalisation, ForwardDiff) {
  BatchNorm bn(3);
  auto jacobian = [&](const Tensor& x0) {
    Tensor x = x0.clone().requires_grad_(true);
    Tensor y = bn(x).reshape(-1);
    Tensor J = torch::zeros({y.numel(), x.numel()}, x0.options());
    for (int64_t i = 0; i < y.numel(); ++i) J[i] = torch::autograd::grad({y[i]}, {x}, {}, true)[0].reshape(-1);
    return J;
  };
  Tensor x = torch::rand(jl({3, 4}));
  Tensor J = jacobian(x);
  EXPECT_EQ(J.scalar_type(), torch::kFloat32);
  EXPECT_EQ(shape(J), (Shape{12, 12}));
  trainmode(bn);
  Tensor J2 = jacobian(torch::rand(jl({3, 4})));  // issue 2122
  EXPECT_EQ(J2.scalar_type(), torch::kFloat32);
  EXPECT_FALSE(torch::equal(bn->running_mean, torch::zeros({3})));

  // Easy case of 2122, gradient with x: reverse mode against finite differences (in Float64).
  Tensor x5 = torch::rand(jl({5, 3}), torch::kFloat64);
  BatchNorm bn1(5, relu), bn2(5, relu);
  bn1->to(torch::kFloat64);
  bn2->to(torch::kFloat64);
  Tensor xg = x5.clone().requires_grad_(true);
  Tensor g1 = torch::autograd::grad({bn1(xg).pow(2).sum()}, {xg})[0];
  trainmode(bn2);  // the finite differences evaluate outside autograd: force the training behaviour
  Tensor g2 = fd_gradient([&](const Tensor& v) { torch::NoGradGuard ng; return bn2(v).pow(2).sum(); }, x5);
  EXPECT_TRUE(close(g1, g2, 1e-5, 1e-7));
}
