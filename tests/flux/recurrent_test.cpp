// Recur, RNN, LSTM, GRU and reset. Sequences are [time, batch, features].
#include "testing.h"

using namespace flux;

TEST(Recur, SeedExampleAccumulatesItsState) {
  // accum(h, x) = (h + x, x); rnn = Recur(accum, 0)
  CellFn accum = [](const State& h, const Tensor& x) { return std::pair<State, Tensor>{{h[0] + x}, x}; };
  Recur rnn(accum, State{torch::tensor(0.0)});
  EXPECT_EQ(rnn(torch::tensor(2.0)).item<double>(), 2);
  EXPECT_EQ(rnn(torch::tensor(3.0)).item<double>(), 3);
  EXPECT_EQ(rnn->state[0].item<double>(), 5);
  reset(rnn);
  EXPECT_EQ(rnn->state[0].item<double>(), 0);
  // rnn.(1:10): a sequence of 10 steps, state 55 from zero.
  Tensor ys = rnn(torch::arange(1, 11, torch::kFloat64).reshape({10, 1, 1}));
  EXPECT_EQ(rnn->state[0].item<double>(), 55);
  EXPECT_TRUE(torch::equal(ys, torch::arange(1, 11, torch::kFloat64).reshape({10, 1, 1})));
}

TEST(Recur, SeedExampleSequenceAfterTwoCallsEndsAtSixty) {
  CellFn accum = [](const State& h, const Tensor& x) { return std::pair<State, Tensor>{{h[0] + x}, x}; };
  Recur rnn(accum, State{torch::tensor(0.0)});
  rnn(torch::tensor(2.0));
  rnn(torch::tensor(3.0));
  for (int i = 1; i <= 10; ++i) rnn(torch::tensor(double(i)));
  EXPECT_EQ(rnn->state[0].item<double>(), 60);  // 5 + 55
}

TEST(RNN, StepsByTheFormula) {
  auto rnn = RNN({3, 2});
  auto cell = std::dynamic_pointer_cast<RNNCellImpl>(rnn->cell);
  ASSERT_TRUE(cell);
  torch::NoGradGuard no_grad;
  cell->b.copy_(torch::tensor({0.1, -0.2}));
  Tensor x1 = torch::randn({4, 3}), x2 = torch::randn({4, 3});
  Tensor h1 = torch::tanh(x1.matmul(cell->Wi.t()) + cell->b);  // initial state zero
  Tensor h2 = torch::tanh(x2.matmul(cell->Wi.t()) + h1.matmul(cell->Wh.t()) + cell->b);
  EXPECT_TRUE(close(rnn(x1), h1));
  EXPECT_TRUE(close(rnn(x2), h2));
  EXPECT_TRUE(close(rnn->state[0], h2));
}

TEST(RNN, MatchesTorchRnnOnASequence) {
  auto rnn = RNN({3, 4});
  auto cell = std::dynamic_pointer_cast<RNNCellImpl>(rnn->cell);
  torch::nn::RNN ref(torch::nn::RNNOptions(3, 4));
  torch::NoGradGuard no_grad;
  cell->b.copy_(torch::randn({4}));
  ref->named_parameters()["weight_ih_l0"].copy_(cell->Wi);
  ref->named_parameters()["weight_hh_l0"].copy_(cell->Wh);
  ref->named_parameters()["bias_ih_l0"].copy_(cell->b);
  ref->named_parameters()["bias_hh_l0"].zero_();
  Tensor xs = torch::randn({5, 2, 3});
  auto [out, hn] = ref(xs);
  EXPECT_TRUE(close(rnn(xs), out));
  EXPECT_TRUE(close(rnn->state[0], hn[0]));
}

TEST(LSTM, MatchesTorchLstmCell) {
  torch::manual_seed(3);
  auto lstm = LSTM({3, 4});
  auto cell = std::dynamic_pointer_cast<LSTMCellImpl>(lstm->cell);
  torch::nn::LSTMCell ref(torch::nn::LSTMCellOptions(3, 4));
  torch::NoGradGuard no_grad;
  ref->weight_ih.copy_(cell->Wi);
  ref->weight_hh.copy_(cell->Wh);
  ref->bias_ih.copy_(cell->b);
  ref->bias_hh.zero_();
  Tensor x = torch::randn({2, 3}), x2 = torch::randn({2, 3});
  auto [h, c] = ref(x, std::make_tuple(torch::zeros({2, 4}), torch::zeros({2, 4})));
  EXPECT_TRUE(close(lstm(x), h));
  EXPECT_TRUE(close(lstm->state[1], c));
  auto [h2, c2] = ref(x2, std::make_tuple(h, c));
  EXPECT_TRUE(close(lstm(x2), h2));
  EXPECT_TRUE(close(lstm->state[1], c2));
}

TEST(LSTM, ForgetGateBiasStartsAtOne) {
  auto lstm = LSTM({3, 5});
  auto cell = std::dynamic_pointer_cast<LSTMCellImpl>(lstm->cell);
  EXPECT_TRUE(torch::equal(cell->b.slice(0, 5, 10), torch::ones({5})));
  EXPECT_TRUE(torch::equal(cell->b.slice(0, 0, 5), torch::zeros({5})));
  EXPECT_TRUE(torch::equal(cell->b.slice(0, 10, 20), torch::zeros({10})));
}

TEST(GRU, MatchesTorchGruCellWithZeroHiddenBias) {
  torch::manual_seed(4);
  auto gru = GRU({3, 4});
  auto g = std::dynamic_pointer_cast<GRUCellImpl>(gru->cell);
  torch::nn::GRUCell ref(torch::nn::GRUCellOptions(3, 4));
  torch::NoGradGuard no_grad;
  g->b.copy_(torch::randn({12}));
  ref->weight_ih.copy_(g->Wi);
  ref->weight_hh.copy_(g->Wh);
  ref->bias_ih.copy_(g->b);
  ref->bias_hh.zero_();  // Flux's single bias sits outside the reset product
  Tensor h0 = torch::randn({1, 4});
  g->h0.copy_(h0);
  reset(gru);
  Tensor x = torch::randn({2, 3});
  EXPECT_TRUE(close(gru(x), ref(x, h0.expand({2, 4}).contiguous())));
}

TEST(GRU, PutsTheCandidateBiasOutsideTheResetProduct) {
  // Moving the n-gate bias into torch's bias_hh changes the result unless r == 1.
  torch::manual_seed(5);
  auto gru = GRU({2, 3});
  auto g = std::dynamic_pointer_cast<GRUCellImpl>(gru->cell);
  torch::nn::GRUCell ref(torch::nn::GRUCellOptions(2, 3));
  torch::NoGradGuard no_grad;
  g->b.copy_(torch::randn({9}));
  ref->weight_ih.copy_(g->Wi);
  ref->weight_hh.copy_(g->Wh);
  ref->bias_ih.copy_(g->b);
  ref->bias_ih.slice(0, 6, 9).zero_();
  ref->bias_hh.zero_();
  ref->bias_hh.slice(0, 6, 9).copy_(g->b.slice(0, 6, 9));
  Tensor x = torch::randn({2, 2});
  EXPECT_FALSE(torch::allclose(gru(x), ref(x, torch::zeros({2, 3})), 1e-4, 1e-5));
}

TEST(Recur, RunsASequenceAndKeepsTheLastState) {
  auto lstm = LSTM({3, 5});
  Tensor xs = torch::randn({7, 2, 3});
  Tensor ys = lstm(xs);
  EXPECT_EQ(shape(ys), (Shape{7, 2, 5}));
  EXPECT_EQ(shape(lstm->state[0]), (Shape{2, 5}));
  EXPECT_TRUE(torch::equal(ys[6], lstm->state[0]));
  // Step by step gives the same.
  reset(lstm);
  for (int64_t t = 0; t < 7; ++t) EXPECT_TRUE(close(lstm(xs[t]), ys[t]));
}

TEST(Recur, VectorInputGivesAVectorAndResetRestoresState0) {
  auto rnn = RNN({3, 5});
  Tensor y = rnn(torch::randn({3}));
  EXPECT_EQ(shape(y), (Shape{5}));
  EXPECT_FALSE(torch::equal(rnn->state[0], torch::zeros({1, 5})));
  Chain m(rnn, Dense({5, 2}));
  reset(m);  // recurses into containers
  EXPECT_TRUE(torch::equal(rnn->state[0], torch::zeros({1, 5})));
  auto cell = std::dynamic_pointer_cast<RNNCellImpl>(rnn->cell);
  EXPECT_TRUE(cell->h0.requires_grad());  // the initial state is trainable
}

TEST(Recur, RefusesTheWrongFeatureSize) {
  auto rnn = RNN({3, 5});
  expect_error<std::invalid_argument>([&] { rnn(torch::rand({2, 4})); }, {"RNNCell(3 => 5, tanh)", "[2, 4]"});
  expect_error<std::invalid_argument>([&] { rnn(torch::rand({6, 2, 4})); }, {"RNNCell(3 => 5, tanh)"});
}

TEST(Recurrent, ParameterCountsMatchFlux) {
  EXPECT_EQ(parameter_count(RNN({3, 5})), 5 * 3 + 5 * 5 + 5 + 5);            // 50
  EXPECT_EQ(parameter_count(LSTM({3, 5})), 20 * 3 + 20 * 5 + 20 + 5 + 5);    // 190
  EXPECT_EQ(parameter_count(GRU({3, 5})), 15 * 3 + 15 * 5 + 15 + 5);         // 140
}

TEST(Recurrent, PrintsLikeFlux) {
  EXPECT_EQ(RNN({3, 5})->repr(), "Recur(RNNCell(3 => 5, tanh))");
  EXPECT_EQ(RNN({3, 5}, relu)->repr(), "Recur(RNNCell(3 => 5, relu))");
  EXPECT_EQ(LSTM({3, 5})->repr(), "Recur(LSTMCell(3 => 5))");
  EXPECT_EQ(GRU({3, 5})->repr(), "Recur(GRUCell(3 => 5))");
  EXPECT_EQ(printed(LSTM({3, 5})),
            "Recur(\n"
            "  LSTMCell(3 => 5),                     # 190 parameters\n"
            ")         # Total: 5 trainable arrays, 190 parameters,\n"
            "          # plus 2 non-trainable, 10 parameters, summarysize " + format_bytes((190 + 10) * 4) + ".");
}

TEST(Recurrent, CellGradientsMatchFiniteDifferences) {
  expect_layer_gradients(RNN({3, 4}).ptr()->cell, torch::randn({2, 3}));
  expect_layer_gradients(LSTM({3, 4}).ptr()->cell, torch::randn({2, 3}));
  expect_layer_gradients(GRU({3, 4}).ptr()->cell, torch::randn({2, 3}));
}

TEST(Recurrent, GradientsThroughASequenceMatchFiniteDifferences) {
  for (Recur r : {RNN({2, 3}), LSTM({2, 3}), GRU({2, 3})}) {
    r->to(torch::kFloat64);
    reset(r);
    Tensor xs = torch::randn({4, 2, 2}, torch::kFloat64).requires_grad_(true);
    std::vector<Tensor> wrt{xs};
    for (auto& p : r->parameters()) wrt.push_back(p);
    expect_gradients_match([&] { reset(r); return r(xs); }, wrt);
  }
}
