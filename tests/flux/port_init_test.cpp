// Port of Flux.jl v0.14.25 test/utils.jl: the initialisers and nfan, plus the Params,
// Precision, zero-bias and train/test-mode cases our API can express. An initialiser is
// called with Julia's dimensions and returns a tensor of exactly those dimensions, indexed
// as Julia indexes the array (t[i][j] == A[i+1, j+1]); layers arrange it into torch's layout.
// Cases the API cannot express (throttle, patience, destructure, stacking, ...) are listed
// in PORTED.md.
#include "testing.h"

#include <algorithm>
#include <numeric>

using namespace flux;

namespace {

Shape jl(Shape julia) {
  std::reverse(julia.begin(), julia.end());
  return julia;
}

// Julia's column-major reshape of an array held Julia-indexed (t[i][j]... == A[i, j, ...]).
Tensor julia_reshape(const Tensor& t, Shape dims) {
  auto reversed = [](int64_t n) {
    std::vector<int64_t> p(static_cast<size_t>(n));
    std::iota(p.rbegin(), p.rend(), 0);
    return p;
  };
  // Reversing the dimensions gives the column-major memory as a row-major tensor.
  return t.permute(reversed(t.dim())).contiguous().reshape(jl(dims)).permute(reversed(static_cast<int64_t>(dims.size())));
}

double variance(const Tensor& t) { return t.to(torch::kFloat64).var().item<double>(); }  // Statistics.var (corrected)
double stdev(const Tensor& t) { return t.to(torch::kFloat64).std().item<double>(); }

// Julia's isapprox(a, b; rtol)
::testing::AssertionResult approx_rtol(double a, double b, double rtol) {
  if (std::abs(a - b) <= rtol * std::max(std::abs(a), std::abs(b))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " is not within rtol " << rtol << " of " << b;
}

// A layer that only records its mode (Flux's DummyLayer with a `testing` field).
class DummyLayerImpl : public ModalLayerImpl {
 public:
  DummyLayerImpl() { active = false; }  // DummyLayer(true): testing
  Tensor forward(const Tensor& x) override { return x; }
  void pretty_print(std::ostream& os) const override { os << "DummyLayer()"; }
};

}  // namespace

// Flux test/utils.jl: "Initialization" / "Fan in/out"
TEST(FluxUtils, FanInOut) {
  using Fans = std::pair<int64_t, int64_t>;
  EXPECT_EQ(nfan(Shape{}), Fans(1, 1));      // a constant
  EXPECT_EQ(nfan(Shape{100}), Fans(1, 100));  // a vector
  EXPECT_EQ(nfan(Shape{100, 200}), Fans(200, 100));  // Dense (== nfan((100, 200)))
  EXPECT_EQ(nfan(Shape{2, 30, 40}), Fans(2 * 30, 2 * 40));                     // 1D Conv
  EXPECT_EQ(nfan(Shape{2, 3, 40, 50}), Fans(2 * 3 * 40, 2 * 3 * 50));          // 2D Conv
  EXPECT_EQ(nfan(Shape{2, 3, 4, 50, 60}), Fans(2 * 3 * 4 * 50, 2 * 3 * 4 * 60));  // 3D Conv
}

// Flux test/utils.jl: "Initialization" / "Basics: $init"
TEST(FluxUtils, InitBasics) {
  torch::manual_seed(0);
  const std::vector<std::pair<std::string, Init>> inits{
      {"glorot_uniform", glorot_uniform},   {"glorot_normal", glorot_normal},
      {"kaiming_uniform", kaiming_uniform}, {"kaiming_normal", kaiming_normal},
      {"orthogonal", orthogonal},           {"sparse_init", sparse_init(0.5)},
      {"truncated_normal", truncated_normal}, {"lecun_normal", lecun_normal},
      {"identity_init", identity_init},     {"rand32", rand32},
      {"randn32", randn32},
  };
  for (const auto& [name, init] : inits) {
    SCOPED_TRACE(name);
    if (name != "sparse_init") {  // sparse_init is the only one which accepts only matrices
      EXPECT_EQ(shape(init(Shape{3})), (Shape{3}));
      EXPECT_EQ(shape(init(Shape{3, 4, 5})), (Shape{3, 4, 5}));
    }
    EXPECT_EQ(shape(init(Shape{3, 4})), (Shape{3, 4}));
    // eltype, default Float32
    EXPECT_EQ(init(Shape{3, 4}).scalar_type(), torch::kFloat32);
    // @non_differentiable: gradient(x -> sum(x .* init(3, 4)), 5.0)[1] isa Number
    Tensor w = init(Shape{3, 4});
    EXPECT_FALSE(w.requires_grad());
    Tensor x = torch::tensor(5.0, torch::kFloat64).requires_grad_(true);
    (x * w).sum().backward();
    ASSERT_TRUE(x.grad().defined());
    EXPECT_EQ(x.grad().dim(), 0);
    EXPECT_NEAR(x.grad().item<double>(), w.sum().item<double>(), 1e-4);
  }
}

// Flux test/utils.jl: "Initialization" / "glorot: $init"
TEST(FluxUtils, Glorot) {
  // The ±10% bounds on 1000 draws hold for most seeds, not all (Flux's run is seeded too).
  torch::manual_seed(1);
  const std::vector<std::pair<std::string, Init>> inits{{"glorot_uniform", glorot_uniform}, {"glorot_normal", glorot_normal}};
  for (const auto& [name, init] : inits) {
    // variance ≈ 2 / (fan_in + fan_out)
    for (const Shape& dims : {Shape{1000}, Shape{100, 100}, Shape{100, 400}, Shape{2, 3, 32, 64}, Shape{2, 3, 4, 32, 64}}) {
      SCOPED_TRACE(name + " " + shape_string(dims));
      Tensor v = init(dims);
      auto [fan_in, fan_out] = nfan(dims);
      const double s2 = 2.0 / static_cast<double>(fan_in + fan_out);
      EXPECT_GT(variance(v), 0.9 * s2);
      EXPECT_LT(variance(v), 1.1 * s2);
    }
  }
  EXPECT_EQ(GlorotUniform{.gain = 1.5}(Shape{3, 4}).scalar_type(), torch::kFloat32);
  EXPECT_EQ(GlorotNormal{.gain = 1.5}(Shape{3, 4}).scalar_type(), torch::kFloat32);
}

// Flux test/utils.jl: "Initialization" / "kaiming"
TEST(FluxUtils, Kaiming) {
  torch::manual_seed(0);
  for (auto [n_in, n_out] : std::vector<std::pair<int64_t, int64_t>>{{100, 100}, {100, 400}}) {
    SCOPED_TRACE(std::to_string(n_in) + ", " + std::to_string(n_out));
    // kaiming_uniform lies in [-sqrt(6/n_out), sqrt(6/n_out)] (the fan_in of a Julia (n_in, n_out) array is n_out)
    Tensor v = kaiming_uniform(Shape{n_in, n_out});
    const double s2 = std::sqrt(6.0 / static_cast<double>(n_out));
    EXPECT_LT(-s2, v.min().item<double>());
    EXPECT_LT(v.min().item<double>(), -0.9 * s2);
    EXPECT_LT(0.9 * s2, v.max().item<double>());
    EXPECT_LT(v.max().item<double>(), s2);
    // kaiming_normal has a standard deviation ≈ sqrt(2/n_out)
    Tensor n = kaiming_normal(Shape{n_in, n_out});
    const double sn = std::sqrt(2.0 / static_cast<double>(n_out));
    EXPECT_LT(0.9 * sn, stdev(n));
    EXPECT_LT(stdev(n), 1.1 * sn);
  }
  EXPECT_EQ(KaimingUniform{.gain = 1.5}(Shape{3, 4}).scalar_type(), torch::kFloat32);
  EXPECT_EQ(KaimingNormal{.gain = 1.5}(Shape{3, 4}).scalar_type(), torch::kFloat32);
}

// Flux test/utils.jl: "Initialization" / "orthogonal"
TEST(FluxUtils, Orthogonal) {
  torch::manual_seed(0);
  auto expect_orthonormal = [](const Tensor& v, int64_t rows, int64_t cols) {
    Tensor d = v.to(torch::kFloat64);
    if (rows < cols) {
      EXPECT_TRUE(close(d.matmul(d.t()), torch::eye(rows, torch::kFloat64), 1e-5, 1e-5));  // v * v' ≈ I(rows)
    } else {
      EXPECT_TRUE(close(d.t().matmul(d), torch::eye(cols, torch::kFloat64), 1e-5, 1e-5));  // v' * v ≈ I(cols)
    }
  };
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{5, 3}, {3, 5}}) {
    SCOPED_TRACE(std::to_string(rows) + " × " + std::to_string(cols));
    Tensor v = orthogonal(Shape{rows, cols});
    EXPECT_EQ(shape(v), (Shape{rows, cols}));
    expect_orthonormal(v, rows, cols);
  }
  for (const Shape& mat : {Shape{3, 4, 5}, Shape{2, 2, 5}}) {
    SCOPED_TRACE(shape_string(mat));
    Tensor v = orthogonal(mat);
    const int64_t cols = mat.back();
    const int64_t rows = std::accumulate(mat.begin(), mat.end(), int64_t{1}, std::multiplies<>()) / cols;
    expect_orthonormal(julia_reshape(v, {rows, cols}), rows, cols);
  }
  EXPECT_EQ(Orthogonal{.gain = 1.5}(Shape{3, 4}).scalar_type(), torch::kFloat32);
  // gain scales the orthonormal columns: v' v = gain² I
  Tensor g = Orthogonal{.gain = 1.5}(Shape{5, 3}).to(torch::kFloat64);
  EXPECT_TRUE(close(g.t().matmul(g), 2.25 * torch::eye(3, torch::kFloat64), 1e-5, 1e-5));
}

// Flux test/utils.jl: "Initialization" / "sparse_init"
TEST(FluxUtils, SparseInit) {
  torch::manual_seed(0);
  EXPECT_THROW(sparse_init(0.1)(Shape{100, 100, 100}), std::invalid_argument);  // only 2-d
  Tensor v = sparse_init(-0.1)(Shape{100, 100});
  EXPECT_EQ((v == 0).sum().item<int64_t>(), 0);  // no zeros for sparsity < 0
  v = sparse_init(1.1)(Shape{100, 100});
  EXPECT_EQ((v == 0).sum().item<int64_t>(), v.numel());  // all zero for sparsity > 1

  struct Case {
    int64_t n_in, n_out;
    double sparsity, sigma;
  };
  for (const Case& c : {Case{100, 100, 0.25, 0.1}, Case{100, 400, 0.75, 0.01}}) {
    SCOPED_TRACE(std::to_string(c.n_in) + " × " + std::to_string(c.n_out));
    const int64_t expected_zeros = static_cast<int64_t>(std::ceil(static_cast<double>(c.n_in) * c.sparsity));
    Tensor w = sparse_init(c.sparsity, c.sigma)(Shape{c.n_in, c.n_out});
    Tensor per_column = (w == 0).sum(0);  // v[:, col] for every column
    EXPECT_TRUE(torch::equal(per_column, torch::full({c.n_out}, expected_zeros, torch::kInt64)));
    Tensor nonzero = w.masked_select(w != 0);
    EXPECT_LT(0.9 * c.sigma, stdev(nonzero));
    EXPECT_LT(stdev(nonzero), 1.1 * c.sigma);
  }
  EXPECT_EQ(sparse_init(0.5, 1.5)(Shape{3, 4}).scalar_type(), torch::kFloat32);
}

// Flux test/utils.jl: "Initialization" / "truncated_normal"
TEST(FluxUtils, TruncatedNormal) {
  torch::manual_seed(0);
  Tensor m = truncated_normal(Shape{100, 100});
  EXPECT_NEAR(m.min().item<double>(), -2.0, 0.05);  // default arguments
  EXPECT_NEAR(m.max().item<double>(), 2.0, 0.05);
  EXPECT_NEAR(m.mean().item<double>(), 0.0, 0.1);

  const Shape size100{100, 100, 100};
  struct Case {
    double mu, sigma, lo, hi;
  };
  for (const Case& c : {Case{0.0, 1, -2, 3}, Case{1, 2, -4.0, 5.0}}) {
    SCOPED_TRACE(std::to_string(c.mu) + ", " + std::to_string(c.sigma));
    Tensor v = TruncatedNormal{.mean = c.mu, .std = c.sigma, .lo = c.lo, .hi = c.hi}(size100);
    EXPECT_NEAR(v.mean().item<double>(), c.mu, 1e-1);
    EXPECT_NEAR(v.min().item<double>(), c.lo, 1e-2);
    EXPECT_NEAR(v.max().item<double>(), c.hi, 1e-2);
    EXPECT_EQ(v.scalar_type(), torch::kFloat32);  // despite some Float64 arguments
  }
  for (const Case& c : {Case{6, 2, -100.0, 100}, Case{-7.0, 10, -100, 100}}) {
    SCOPED_TRACE(std::to_string(c.mu) + ", " + std::to_string(c.sigma));
    Tensor v = TruncatedNormal{.mean = c.mu, .std = c.sigma, .lo = c.lo, .hi = c.hi}(size100);
    EXPECT_NEAR(v.mean().item<double>(), c.mu, 1e-1);
    EXPECT_NEAR(stdev(v), c.sigma, 1e-1);
  }
}

// Flux test/utils.jl: "Initialization" / "lecun_normal"
TEST(FluxUtils, LecunNormal) {
  torch::manual_seed(0);
  // truncated_normal with std = gain·√(1/fan_in) and its default absolute bounds ±2.
  EXPECT_TRUE(approx_rtol(stdev(lecun_normal(Shape{10, 1000})), 0.032, 0.1));  // fan_in 1000
  EXPECT_TRUE(approx_rtol(stdev(lecun_normal(Shape{1000, 10})), 0.317, 0.1));  // fan_in 10
  EXPECT_EQ(LecunNormal{.gain = 2}(Shape{3, 4}).scalar_type(), torch::kFloat32);
}

// Flux test/utils.jl: "Initialization" / "Partial application" (keyword currying is a struct
// with its options here; a call-time keyword is a second struct)
TEST(FluxUtils, PartialApplication) {
  torch::manual_seed(0);
  KaimingUniform partial_ku{.gain = 1e9};
  EXPECT_GT(partial_ku(Shape{8, 8}).max().item<double>(), 1e9 / 2);
  EXPECT_LT(KaimingUniform{.gain = 1}(Shape{8, 8}).max().item<double>(), 1e9 / 2);  // partial_ku(8, 8, gain=1)

  KaimingNormal partial_kn{.gain = 1e9};
  EXPECT_GT(partial_kn(Shape{8, 8}).max().item<double>(), 1e9 / 2);
  EXPECT_LT(KaimingNormal{.gain = 1}(Shape{8, 8}).max().item<double>(), 1e9 / 2);

  Init partial_si = sparse_init(1);
  EXPECT_EQ(partial_si(Shape{8, 8}).max().item<double>(), 0.0);
  EXPECT_GT(sparse_init(0)(Shape{8, 8}).max().item<double>(), 0.0);  // partial_si(8, 8, sparsity=0)
}

// Flux test/utils.jl: "Initialization" / "identity_init" / "Basic"
TEST(FluxUtils, IdentityInitBasic) {
  IdentityInit partial{.gain = 3};
  Tensor expected = torch::tensor({{3.0f, 0.0f, 0.0f}, {0.0f, 3.0f, 0.0f}, {0.0f, 0.0f, 3.0f}});  // [3 0 0; 0 3 0; 0 0 3]
  EXPECT_TRUE(torch::equal(partial(Shape{3, 3}), expected));
  EXPECT_TRUE(torch::equal(IdentityInit{.gain = 3}(Shape{3, 3}), expected));
  EXPECT_EQ(IdentityInit{.gain = 1.5}(Shape{3, 4}).scalar_type(), torch::kFloat32);  // despite Float64 keyword
}

// Flux test/utils.jl: "Initialization" / "identity_init" / "Non-identity sizes"
TEST(FluxUtils, IdentityInitNonIdentitySizes) {
  EXPECT_TRUE(torch::equal(identity_init(Shape{2, 3}).select(1, 2), torch::zeros({2})));  // [:, end]
  Tensor shifted = IdentityInit{.shift = {1}}(Shape{3, 2});
  EXPECT_TRUE(torch::equal(shifted[0], torch::zeros({2})));  // [1, :]
  // circshift([1 0; 0 1; 0 0], 1) == [0 0; 1 0; 0 1]
  EXPECT_TRUE(torch::equal(shifted, torch::tensor({{0.0f, 0.0f}, {1.0f, 0.0f}, {0.0f, 1.0f}})));
  EXPECT_TRUE(torch::equal(identity_init(Shape{1, 1, 3, 4}).select(3, 3), torch::zeros({1, 1, 3})));  // [:, :, :, end]
  EXPECT_TRUE(torch::equal(identity_init(Shape{2, 1, 3, 3})[1], torch::zeros({1, 3, 3})));            // [end, :, :, :]
  EXPECT_TRUE(torch::equal(identity_init(Shape{1, 2, 3, 3}).select(1, 1), torch::zeros({1, 3, 3})));  // [:, end, :, :]
  // By hand: the centre tap cld(k, 2) of a (3, 3, 2, 2) kernel, channel i to channel i.
  Tensor k = identity_init(Shape{3, 3, 2, 2});
  Tensor want = torch::zeros({3, 3, 2, 2});
  want[1][1][0][0] = 1;
  want[1][1][1][1] = 1;
  EXPECT_TRUE(torch::equal(k, want));
}

// Flux test/utils.jl: "Initialization" / "identity_init" / "Dense ID mapping"
TEST(FluxUtils, IdentityInitDenseIdMapping) {
  Dense l({3, 3}, identity, {.init = identity_init});
  Tensor indata = torch::arange(1, 10, torch::kFloat32).reshape({3, 3});  // reshape(collect(Float32, 1:9), 3, 3)
  EXPECT_TRUE(torch::equal(l(indata), indata));
}

// Flux test/utils.jl: "Initialization" / "identity_init" / "$layer ID mapping with kernelsize $kernelsize"
TEST(FluxUtils, IdentityInitLayerIdMapping) {
  const std::vector<Shape> kernelsizes{{1}, {3}, {1, 3}, {3, 5}, {3, 5, 7}};  // Flux's tuples
  const int64_t nch = 3;
  for (int layer = 0; layer < 3; ++layer) {
    for (const Shape& ks : kernelsizes) {
      const char* name = layer == 0 ? "Conv" : layer == 1 ? "ConvTranspose" : "CrossCor";
      SCOPED_TRACE(std::string(name) + " " + tuple_string(ks));
      Shape kernel = jl(ks);
      Layer l = layer == 0   ? Layer(Conv(kernel, {nch, nch}, identity, {.pad = SamePad{}, .init = identity_init}))
                : layer == 1 ? Layer(ConvTranspose(kernel, {nch, nch}, identity, {.pad = SamePad{}, .init = identity_init}))
                             : Layer(CrossCor(kernel, {nch, nch}, identity, {.pad = SamePad{}, .init = identity_init}));
      Shape julia = ks;
      julia.push_back(nch);
      julia.push_back(nch);
      Tensor indata = torch::randn(jl(julia));  // randn32(kernelsize..., nch, nch)
      EXPECT_TRUE(close(l(indata), indata, 1e-6, 1e-6));
    }
  }
}

// Flux test/utils.jl: "Initialization" / "identity_init" / "Inception identity"
TEST(FluxUtils, IdentityInitInceptionIdentity) {
  const int64_t insize = 7;
  Conv path1(jl({1, 3}), {insize, 2}, identity, {.pad = SamePad{}, .init = identity_init});
  Conv path2(jl({3, 5}), {insize, 3}, identity, {.pad = SamePad{}, .init = IdentityInit{.shift = {0, 0, 2, 0}}});
  Conv path3(jl({5, 7}), {insize, 2}, identity, {.pad = SamePad{}, .init = IdentityInit{.shift = {0, 0, 5, 0}}});
  Parallel block(cat(1), path1, path2, path3);  // (xs...) -> cat(xs...; dims=3): channels
  Tensor indata = torch::randn(jl({9, 9, 7, 2}));
  EXPECT_TRUE(close(block(indata), indata, 1e-6, 1e-6));
}

// Flux test/utils.jl: "Params" (the self-referential array and Functors cases are not ported)
TEST(FluxUtils, Params) {
  auto shapes = [](const torch::nn::Module& m) {
    std::vector<Shape> out;
    for (const auto& p : m.parameters()) out.push_back(shape(p));
    return out;
  };
  Dense d({10, 5});
  EXPECT_EQ(shapes(*d), (std::vector<Shape>{{5, 10}, {5}}));
  Recur m = RNN({10, 5});
  const std::vector<Shape> rnn_shapes{{5, 10}, {5, 5}, {5}, jl({5, 1})};
  EXPECT_EQ(shapes(*m), rnn_shapes);
  // Flux's "layer duplicated in same chain, params just once" is not ported: torch's C++
  // Module::parameters() lists a module registered twice twice (see PORTED.md).
}

// Flux test/utils.jl: "Precision" (the models; f32/f16 of plain arrays are torch's .to)
TEST(FluxUtils, Precision) {
  Chain m(Dense({10, 5}, relu, {.bias = false}), Dense({5, 2}));
  Tensor x64 = torch::rand({10}, torch::kFloat64), x32 = torch::rand({10});
  auto weight0 = [&] { return m[0].as<DenseImpl>()->weight; };
  EXPECT_EQ(weight0().scalar_type(), torch::kFloat32);
  EXPECT_EQ(m(x32).scalar_type(), torch::kFloat32);
  EXPECT_EQ(m(x64).scalar_type(), torch::kFloat32);  // fixed by _match_eltype
  m->to(torch::kFloat64);                             // f64(m)
  EXPECT_EQ(m(x32).scalar_type(), torch::kFloat64);  // _match_eltype promotes, Julia would too
  EXPECT_EQ(m(x64).scalar_type(), torch::kFloat64);
  EXPECT_EQ(weight0().scalar_type(), torch::kFloat64);
  m->to(torch::kFloat32);  // f32(f64(m))
  EXPECT_EQ(weight0().scalar_type(), torch::kFloat32);
}

// Flux test/utils.jl: "zero bias" (the broadcasting of `false` is Julia's)
TEST(FluxUtils, ZeroBias) {
  Dense m({3, 2}, identity, {.bias = false});
  m->to(torch::kFloat64);  // f64(m).bias === m.bias === false
  EXPECT_FALSE(m->bias.defined());
  EXPECT_EQ(m->parameters().size(), 1u);
  m->to(torch::kFloat32);  // f32(m)
  EXPECT_FALSE(m->bias.defined());
  EXPECT_EQ(m->parameters().size(), 1u);
}

// Flux test/utils.jl: "Train and test mode"
TEST(FluxUtils, TrainAndTestMode) {
  auto dummy = std::make_shared<DummyLayerImpl>();
  Chain c{Layer(dummy)};
  testmode(c);
  EXPECT_EQ(dummy->active, std::optional<bool>(false));  // c[1].testing
  trainmode(c);
  EXPECT_EQ(dummy->active, std::optional<bool>(true));  // !c[1].testing
}

// spec (/tmp/api-spec.md): identity_init makes a SamePad Conv the identity map.
TEST(FluxUtils, IdentityInitConvIsTheIdentity) {
  Conv c({3, 3}, {2, 2}, identity, {.pad = SamePad{}, .init = identity_init});
  Tensor x = torch::randn({2, 2, 5, 6});
  EXPECT_TRUE(close(c(x), x, 1e-6, 1e-6));
}
