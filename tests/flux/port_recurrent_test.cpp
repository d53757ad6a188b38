// Port of Flux.jl v0.14.25 test/layers/recurrent.jl (Recur with RNN, LSTM, GRU and GRUv3
// cells). Flux's (features, batch, time) sequence is our [time, batch, features]; a feature
// vector (in,) stays [in] and an (in, B) matrix is our [B, in]. Cell matrices keep Flux's
// orientation (Wi [k·out, in]); state0 (out, 1) is our [1, out]. Cases the API cannot
// express are listed in PORTED.md.
#include "testing.h"

#include <algorithm>

using namespace flux;

namespace {

Shape jl(Shape julia) {
  std::reverse(julia.begin(), julia.end());
  return julia;
}

std::shared_ptr<RNNCellImpl> rnn_cell(const Recur& r) { return std::dynamic_pointer_cast<RNNCellImpl>(r->cell); }

// Flux's theoretical values for the 1 => 1 identity RNN with Wi = 5, Wh = 4, b = 0, state0 = 7
// on the sequence [2], [3] (loss: the second output).
void expect_flux_rnn_gradients(Recur layer) {
  auto cell = layer->cell;
  reset(layer);
  std::vector<Tensor> x{torch::tensor({2.0f}), torch::tensor({3.0f})};
  std::vector<Tensor> out;
  for (const auto& xi : x) out.push_back(layer(xi));
  Tensor e = out[1].sum();
  auto params = layer->parameters();
  ASSERT_EQ(params.size(), 4u);  // Flux.params order: Wi, Wh, b, state0
  for (auto& p : params) p.mutable_grad() = Tensor();
  e.backward();

  const double Wi = 5, Wh = 4, s0 = 7, x1 = 2, x2 = 3;
  const double primal = Wh * (Wh * s0 + x1 * Wi) + x2 * Wi;  // 167
  EXPECT_NEAR(e.item<double>(), primal, 1e-4);
  EXPECT_NEAR(params[0].grad().item<double>(), x1 * Wh + x2, 1e-4);           // ∇Wi = 11
  EXPECT_NEAR(params[1].grad().item<double>(), 2 * Wh * s0 + x1 * Wi, 1e-4);  // ∇Wh = 66
  EXPECT_NEAR(params[2].grad().item<double>(), Wh + 1, 1e-4);                 // ∇b = 5
  EXPECT_NEAR(params[3].grad().item<double>(), Wh * Wh, 1e-4);                // ∇state0 = 16
  EXPECT_TRUE(params[0].is_same(cell->Wi));
  EXPECT_TRUE(params[1].is_same(cell->Wh));
  EXPECT_TRUE(params[2].is_same(cell->b));
}

}  // namespace

// Flux test/layers/recurrent.jl: "RNN gradients-implicit"
TEST(FluxRecurrent, RNNGradientsImplicit) {
  Recur layer = RNN({1, 1}, identity);
  auto cell = rnn_cell(layer);
  ASSERT_TRUE(cell);
  {
    torch::NoGradGuard no_grad;
    cell->Wi.fill_(5.0);
    cell->Wh.fill_(4.0);
    cell->b.fill_(0.0);
    cell->h0.fill_(7.0);
  }
  expect_flux_rnn_gradients(layer);
  EXPECT_TRUE(layer->parameters()[3].is_same(cell->h0));
}

// Flux test/layers/recurrent.jl: "RNN gradients-explicit" (Flux: @test_broken for the
// explicit gradients, which are the same numbers). Built here from explicit arrays.
TEST(FluxRecurrent, RNNGradientsExplicit) {
  auto cell = RNNCell(identity, torch::full({1, 1}, 5.0f), torch::full({1, 1}, 4.0f), torch::zeros({1}), torch::full({1, 1}, 7.0f));
  Recur layer(cell);
  expect_flux_rnn_gradients(layer);
}

// Flux test/layers/recurrent.jl: "BPTT-1D" (issue 1209)
TEST(FluxRecurrent, BPTT1D) {
  std::vector<Tensor> seq{torch::rand({2}), torch::rand({2}), torch::rand({2})};
  Recur rnn = RNN({2, 3});
  auto c = rnn_cell(rnn);
  reset(rnn);
  Tensor last;
  for (const auto& s : seq) last = rnn(s);
  auto grads_seq = torch::autograd::grad({last.sum()}, {c->Wh})[0];

  reset(rnn);
  Tensor Wh = c->Wh.detach().clone().requires_grad_(true);
  Tensor Wi = c->Wi.detach(), b = c->b.detach(), s0 = c->h0.detach().reshape({-1});
  auto step = [&](const Tensor& x, const Tensor& h) { return torch::tanh(Wi.matmul(x) + Wh.matmul(h) + b); };
  Tensor bptt = torch::autograd::grad({step(seq[2], step(seq[1], step(seq[0], s0))).sum()}, {Wh})[0];
  EXPECT_TRUE(close(grads_seq, bptt));
}

// Flux test/layers/recurrent.jl: "BPTT-2D" (issue 1209)
TEST(FluxRecurrent, BPTT2D) {
  std::vector<Tensor> seq{torch::rand(jl({2, 1})), torch::rand(jl({2, 1})), torch::rand(jl({2, 1}))};
  Recur rnn = RNN({2, 3});
  auto c = rnn_cell(rnn);
  reset(rnn);
  Tensor last;
  for (const auto& s : seq) last = rnn(s);
  auto grads_seq = torch::autograd::grad({last.sum()}, {c->Wh})[0];

  reset(rnn);
  Tensor Wh = c->Wh.detach().clone().requires_grad_(true);
  Tensor Wi = c->Wi.detach(), b = c->b.detach(), s0 = c->h0.detach();  // [1, 3]
  auto step = [&](const Tensor& x, const Tensor& h) { return torch::tanh(x.matmul(Wi.t()) + h.matmul(Wh.t()) + b); };
  Tensor bptt = torch::autograd::grad({step(seq[2], step(seq[1], step(seq[0], s0))).sum()}, {Wh})[0];
  EXPECT_TRUE(close(grads_seq, bptt));
}

// Flux test/layers/recurrent.jl: "BPTT-3D"
TEST(FluxRecurrent, BPTT3D) {
  Tensor seq = torch::rand(jl({2, 1, 3}));  // our [time 3, batch 1, features 2]
  Recur rnn = RNN({2, 3});
  auto c = rnn_cell(rnn);
  reset(rnn);
  auto grads_seq = torch::autograd::grad({rnn(seq)[2].sum()}, {c->Wh})[0];  // sum(rnn(seq)[:, :, 3])

  reset(rnn);
  Tensor Wh = c->Wh.detach().clone().requires_grad_(true);
  Tensor Wi = c->Wi.detach(), b = c->b.detach(), s0 = c->h0.detach();
  Tensor s1 = torch::tanh(seq[0].matmul(Wi.t()) + s0.matmul(Wh.t()) + b);
  Tensor s2 = torch::tanh(seq[1].matmul(Wi.t()) + s1.matmul(Wh.t()) + b);
  Tensor s3 = torch::tanh(seq[2].matmul(Wi.t()) + s2.matmul(Wh.t()) + b);
  Tensor bptt = torch::autograd::grad({s3.sum()}, {Wh})[0];
  EXPECT_TRUE(close(grads_seq, bptt));
}

// Flux test/layers/recurrent.jl: "RNN-shapes" for RNN, GRU, LSTM, GRUv3
TEST(FluxRecurrent, RNNShapes) {
  std::vector<std::pair<std::string, std::function<Recur()>>> makers{
      {"RNN", [] { return RNN({3, 5}); }},
      {"GRU", [] { return GRU({3, 5}); }},
      {"LSTM", [] { return LSTM({3, 5}); }},
      {"GRUv3", [] { return GRUv3({3, 5}); }},
  };
  for (const auto& [name, make] : makers) {
    SCOPED_TRACE(name);
    Recur m1 = make(), m2 = make(), m3 = make();
    Tensor x1 = torch::rand({3}), x2 = torch::rand(jl({3, 1})), x3 = torch::rand(jl({3, 1, 2}));
    reset(m1);
    reset(m2);
    reset(m3);
    EXPECT_EQ(shape(m1(x1)), (Shape{5}));
    EXPECT_EQ(shape(m1(x1)), (Shape{5}));  // repeat in case of effect from change in state shape
    EXPECT_EQ(shape(m2(x2)), jl({5, 1}));
    EXPECT_EQ(shape(m2(x2)), jl({5, 1}));
    EXPECT_EQ(shape(m3(x3)), jl({5, 1, 2}));
    EXPECT_EQ(shape(m3(x3)), jl({5, 1, 2}));
  }
}

// Flux test/layers/recurrent.jl: "Different Internal Matrix Types" — cells from explicit
// arrays of mixed element types (Tridiagonal is a dense tridiagonal matrix here).
TEST(FluxRecurrent, DifferentInternalMatrixTypes) {
  auto tridiagonal = [](int64_t n) { return torch::rand({n, n}, torch::kFloat64).triu(-1).tril(1); };
  auto ints = [](int64_t r, int64_t c) { return torch::randint(1, 21, {r, c}, torch::kInt64); };  // rand(1:20, r, c)
  auto r64 = [](Shape s) { return torch::rand(s, torch::kFloat64); };
  std::vector<std::pair<std::string, Recur>> models{
      {"RNN", Recur(RNNCell(flux::tanh, r64({5, 3}), tridiagonal(5), r64({5}), r64(jl({5, 1}))))},
      {"LSTM", Recur(LSTMCell(r64({20, 3}), ints(20, 5), r64({20}), State{r64(jl({5, 1})), r64(jl({5, 1}))}))},
      {"GRU", Recur(GRUCell(r64({15, 3}), ints(15, 5), r64({15}), r64(jl({5, 1}))))},
      {"GRUv3", Recur(GRUv3Cell(r64({15, 3}), ints(10, 5), r64({15}), tridiagonal(5), r64(jl({5, 1}))))},
  };
  for (auto& [name, m] : models) {
    SCOPED_TRACE(name);
    Tensor x1 = torch::rand({3}, torch::kFloat64), x2 = torch::rand(jl({3, 1}), torch::kFloat64),
           x3 = torch::rand(jl({3, 1, 2}), torch::kFloat64);
    reset(m);
    EXPECT_EQ(shape(m(x1)), (Shape{5}));
    reset(m);
    EXPECT_EQ(shape(m(x1)), (Shape{5}));
    EXPECT_EQ(shape(m(x2)), jl({5, 1}));
    reset(m);
    EXPECT_EQ(shape(m(x2)), jl({5, 1}));
    reset(m);
    EXPECT_EQ(shape(m(x3)), jl({5, 1, 2}));
    reset(m);
    EXPECT_EQ(shape(m(x3)), jl({5, 1, 2}));
  }
}

// Flux test/layers/recurrent.jl: "type matching" (Flux.outputsize and @inferred not ported)
TEST(FluxRecurrent, TypeMatching) {
  Tensor x = torch::rand(jl({2, 4}), torch::kFloat64);
  Recur m1 = RNN({2, 3});
  EXPECT_EQ(m1(x).scalar_type(), torch::kFloat32);
  EXPECT_EQ(m1(x).dim(), 2);
  EXPECT_EQ(m1->state[0].scalar_type(), torch::kFloat32);
  EXPECT_EQ(m1->state[0].dim(), 2);
  for (Recur m : {LSTM({2, 3}), GRU({2, 3}), GRUv3({2, 3})}) {
    SCOPED_TRACE(m->repr());
    Tensor y = m(x);
    EXPECT_EQ(y.scalar_type(), torch::kFloat32);
    EXPECT_EQ(shape(y), jl({3, 4}));
  }
}

// spec (/tmp/api-spec.md): GRUv3 follows Flux's v3 formula, prints and counts like Flux.
TEST(FluxRecurrent, GRUv3StepsByTheFormula) {
  torch::manual_seed(7);
  Tensor Wi = torch::randn({9, 2}, torch::kFloat64), Wh = torch::randn({6, 3}, torch::kFloat64);
  Tensor b = torch::randn({9}, torch::kFloat64), Wh_h = torch::randn({3, 3}, torch::kFloat64);
  Tensor h0 = torch::randn({1, 3}, torch::kFloat64);
  Recur m(GRUv3Cell(Wi, Wh, b, Wh_h, h0));
  Tensor x = torch::randn({4, 2}, torch::kFloat64);
  // r = σ(Wi_r x + Wh_r h + b_r), z = σ(Wi_z x + Wh_z h + b_z), h̃ = tanh(Wi_h x + Wh_h (r .* h) + b_h)
  Tensor gx = x.matmul(Wi.t()) + b, gh = h0.matmul(Wh.t());
  Tensor r = torch::sigmoid(gx.slice(1, 0, 3) + gh.slice(1, 0, 3));
  Tensor z = torch::sigmoid(gx.slice(1, 3, 6) + gh.slice(1, 3, 6));
  Tensor h_tilde = torch::tanh(gx.slice(1, 6, 9) + (r * h0).matmul(Wh_h.t()));
  Tensor h1 = (1 - z) * h_tilde + z * h0;
  EXPECT_TRUE(close(m(x), h1, 1e-10, 1e-12));
  EXPECT_TRUE(close(m->state[0], h1, 1e-10, 1e-12));
  auto cell = std::dynamic_pointer_cast<GRUv3CellImpl>(m->cell);
  ASSERT_TRUE(cell);
  EXPECT_EQ(cell->Wh_h.scalar_type(), torch::kFloat64);  // dtypes kept

  EXPECT_EQ(GRUv3Cell({2, 3})->repr(), "GRUv3Cell(2 => 3)");
  EXPECT_EQ(GRUv3({2, 3})->repr(), "Recur(GRUv3Cell(2 => 3))");
  EXPECT_EQ(parameter_count(GRUv3({3, 5})), 45 + 50 + 15 + 25 + 5);  // 140
}

// spec (/tmp/api-spec.md): explicit cells check their shapes and name the cell.
TEST(FluxRecurrent, ExplicitCellsCheckShapes) {
  expect_error<std::invalid_argument>(
      [] { RNNCell(flux::tanh, torch::rand({5, 3}), torch::rand({4, 4}), torch::rand({5}), torch::rand({1, 5})); }, {"RNNCell"});
  expect_error<std::invalid_argument>(
      [] { LSTMCell(torch::rand({20, 3}), torch::rand({20, 5}), torch::rand({19}), State{torch::rand({1, 5}), torch::rand({1, 5})}); },
      {"LSTMCell"});
  expect_error<std::invalid_argument>([] { GRUCell(torch::rand({15, 3}), torch::rand({10, 5}), torch::rand({15}), torch::rand({1, 5})); },
                                      {"GRUCell"});
  expect_error<std::invalid_argument>(
      [] { GRUv3Cell(torch::rand({15, 3}), torch::rand({15, 5}), torch::rand({15}), torch::rand({5, 5}), torch::rand({1, 5})); },
      {"GRUv3Cell"});
  // Built cells are what the factory functions give.
  EXPECT_EQ(RNNCell({3, 5})->repr(), "RNNCell(3 => 5, tanh)");
  EXPECT_EQ(LSTMCell({3, 5})->repr(), "LSTMCell(3 => 5)");
  EXPECT_EQ(GRUCell({3, 5})->repr(), "GRUCell(3 => 5)");
  EXPECT_EQ(Recur(RNNCell({3, 5}, relu))->repr(), "Recur(RNNCell(3 => 5, relu))");
}
