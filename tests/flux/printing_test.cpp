#include "testing.h"

using namespace flux;

TEST(Printing, SingleLayersPadToColumnTwenty) {
  EXPECT_EQ(printed(Dense({5, 2})), "Dense(5 => 2)       # 12 parameters");
  EXPECT_EQ(printed(Dense({5, 2}, flux::tanh, {.bias = false})), "Dense(5 => 2, tanh; bias=false)  # 10 parameters");
  EXPECT_EQ(printed(Dropout(0.5)), "Dropout(0.5)");
  EXPECT_EQ(printed(MaxPool({2, 2})), "MaxPool((2, 2))");
  EXPECT_EQ(printed(Dense(torch::zeros({2, 3}))), "Dense(3 => 2)       # 8 parameters  (all zero)");
}

TEST(Printing, ChainsAlignCountsAtColumnForty) {
  Chain m(Dense({784, 2048}, relu), Dense({2048, 10}));
  const int64_t params = 784 * 2048 + 2048 + 2048 * 10 + 10;
  EXPECT_EQ(params, 1628170);
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Dense(784 => 2048, relu),             # 1_607_680 parameters\n"
            "  Dense(2048 => 10),                    # 20_490 parameters\n"
            ")                   # Total: 4 arrays, 1_628_170 parameters, 6.211 MiB.");  // 4·params bytes
}

TEST(Printing, NestedNamedContainersAndNonTrainableState) {
  Chain inner(NamedLayers{{"c", Conv({3, 3}, {1, 5}, identity, {.stride = 2, .pad = 1})},
                          {"p", MeanPool({3, 3})},
                          {"b", BatchNorm(5)},
                          {"f", Layer(flatten)}});
  Chain m(inner, Dense({80, 20}, relu), SkipConnection(Dense({20, 20}, relu), plus), Dense({20, 10}));
  // 10 trainable arrays: 50 + 10 + 1620 + 420 + 210 = 2310 parameters; 2 non-trainable of 5 each.
  const int64_t bytes = (2310 + 10) * 4;
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Chain(\n"
            "    c = Conv((3, 3), 1 => 5, pad=1, stride=2),  # 50 parameters\n"
            "    p = MeanPool((3, 3)),\n"
            "    b = BatchNorm(5),                   # 10 parameters, plus 10\n"
            "    f = Flux.flatten,\n"
            "  ),\n"
            "  Dense(80 => 20, relu),                # 1_620 parameters\n"
            "  SkipConnection(\n"
            "    Dense(20 => 20, relu),              # 420 parameters\n"
            "    +,\n"
            "  ),\n"
            "  Dense(20 => 10),                      # 210 parameters\n"
            ")         # Total: 10 trainable arrays, 2_310 parameters,\n"
            "          # plus 2 non-trainable, 10 parameters, summarysize " +
                format_bytes(bytes) + ".");
  EXPECT_EQ(format_bytes(bytes), "9.062 KiB");
  EXPECT_EQ(shape(m(torch::rand({2, 1, 28, 28}))), (Shape{2, 10}));  // 28 -> 14 -> 4: 5·4·4 = 80
}

TEST(Printing, RecurShowsItsStateAsNonTrainable) {
  Recur r = RNN({3, 5});
  EXPECT_EQ(parameter_count(r), 50);  // 15 + 25 + 5 + 5
  EXPECT_EQ(printed(r),
            "Recur(\n"
            "  RNNCell(3 => 5, tanh),                # 50 parameters\n"
            ")         # Total: 4 trainable arrays, 50 parameters,\n"
            "          # plus 1 non-trainable, 5 parameters, summarysize 220 bytes.");
}

TEST(Printing, NumbersAndBytes) {
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(2310), "2_310");
  EXPECT_EQ(format_count(1607680), "1_607_680");
  EXPECT_EQ(format_bytes(1023), "1023 bytes");
  EXPECT_EQ(format_bytes(1024), "1.000 KiB");
}

TEST(ParameterCount, MatchesFluxsNumbers) {
  EXPECT_EQ(parameter_count(Bilinear(InOut{5, 7})), 182);
  EXPECT_EQ(parameter_count(LSTM({3, 5})), 190);
  EXPECT_EQ(parameter_count(GRU({3, 5})), 140);
  EXPECT_EQ(parameter_count(Embedding({26, 4})), 104);
  EXPECT_EQ(parameter_count(Scale(std::vector<int64_t>{1, 4}, identity, {.bias = false})), 4);
  Dense shared({3, 3});
  EXPECT_EQ(parameter_count(Chain(shared, shared)), 12);  // tied arrays count once
}

TEST(Dense, ComputesWxPlusB) {
  Tensor W = torch::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}), b = torch::tensor({0.5, -1.0, 2.0});
  Dense d(W, b, relu);
  Tensor y = d(torch::tensor({{1.0, -1.0}}));
  EXPECT_TRUE(torch::allclose(y, torch::tensor({{0.0, 0.0, 1.0}})));  // relu([-0.5, -2, 1])
  expect_error<std::invalid_argument>([&] { d(torch::rand({4, 3})); }, {"Dense(2 => 3, relu)", "last dimension 2", "[4, 3]"});
  expect_error<std::invalid_argument>([] { Dense(torch::ones({2, 5}), torch::ones({3})); }, {"bias of shape [2]"});
}

TEST(Layers, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(Dense({4, 3}, flux::tanh), torch::randn({2, 4}));
  expect_layer_gradients(Bilinear(Bilinear2{3, 3, 4}, sigmoid), torch::randn({2, 3}));
  expect_layer_gradients(Scale(std::vector<int64_t>{3}, swish), torch::randn({2, 3}));
  expect_layer_gradients(Maxout(Dense({3, 2}), Dense({3, 2})), torch::randn({2, 3}));
  expect_layer_gradients(RNN({3, 4}).ptr()->cell, torch::randn({2, 3}));
  expect_layer_gradients(LSTM({3, 4}).ptr()->cell, torch::randn({2, 3}));
  expect_layer_gradients(GRU({3, 4}).ptr()->cell, torch::randn({2, 3}));
}

TEST(Embedding, LooksUpRowsAndChecksRange) {
  Tensor w = torch::arange(12, torch::kFloat32).reshape({4, 3});
  Embedding e(w);
  EXPECT_TRUE(torch::equal(e(torch::tensor({2, 0})), torch::stack({w[2], w[0]})));
  expect_error<std::out_of_range>([&] { e(torch::tensor({4})); }, {"Embedding(4 => 3)", "[0, 4)"});
}

TEST(Recurrent, LstmAndGruMatchTorchCells) {
  torch::manual_seed(3);
  auto lstm = LSTM({3, 4});
  auto cell = std::dynamic_pointer_cast<LSTMCellImpl>(lstm->cell);
  torch::nn::LSTMCell ref(torch::nn::LSTMCellOptions(3, 4));
  torch::NoGradGuard no_grad;
  ref->weight_ih.copy_(cell->Wi);
  ref->weight_hh.copy_(cell->Wh);
  ref->bias_ih.copy_(cell->b);
  ref->bias_hh.zero_();
  Tensor x = torch::randn({2, 3});
  auto [h, c] = ref(x, std::make_tuple(torch::zeros({2, 4}), torch::zeros({2, 4})));
  EXPECT_TRUE(torch::allclose(lstm(x), h, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(lstm->state[1], c, 1e-5, 1e-6));

  auto gru = GRU({3, 4});
  auto g = std::dynamic_pointer_cast<GRUCellImpl>(gru->cell);
  torch::nn::GRUCell gref(torch::nn::GRUCellOptions(3, 4));
  gref->weight_ih.copy_(g->Wi);
  gref->weight_hh.copy_(g->Wh);
  gref->bias_ih.copy_(g->b);
  gref->bias_hh.zero_();  // Flux's single bias sits outside the reset product
  Tensor h0 = torch::randn({1, 4});
  g->h0.copy_(h0);
  reset(gru);
  EXPECT_TRUE(torch::allclose(gru(x), gref(x, h0.expand({2, 4}).contiguous()), 1e-5, 1e-6));
}

TEST(Recurrent, RunsASequenceAndForgetsBiasStartsAtOne) {
  auto lstm = LSTM({3, 5});
  auto cell = std::dynamic_pointer_cast<LSTMCellImpl>(lstm->cell);
  EXPECT_TRUE(torch::equal(cell->b.slice(0, 5, 10), torch::ones({5})));
  EXPECT_TRUE(torch::equal(cell->b.slice(0, 0, 5), torch::zeros({5})));
  EXPECT_EQ(shape(lstm(torch::randn({7, 2, 3}))), (Shape{7, 2, 5}));
  EXPECT_EQ(shape(lstm->state[0]), (Shape{2, 5}));
}

TEST(Parallel, RefusesTheWrongNumberOfInputs) {
  Parallel p(plus, Dense({2, 2}), Dense({2, 2}));
  Tensor x = torch::rand({1, 2});
  expect_error<std::invalid_argument>([&] { p(x, x, x); },
                                      {"Parallel with 2 sub-layers can take one input or 2 inputs, but got 3 inputs"});
  EXPECT_TRUE(torch::allclose(p(x), p[0](x) + p[1](x)));
}

TEST(Maxout, TakesTheElementwiseMaximum) {
  Maxout m([] { return Layer(Dense({3, 2})); }, 3);
  Tensor x = torch::randn({4, 3});
  Chain c(m);
  Tensor expected = torch::maximum(torch::maximum(c[0].as<MaxoutImpl>()->forward(x), x.new_full({4, 2}, -1e9)), x.new_full({4, 2}, -1e9));
  EXPECT_TRUE(torch::allclose(m(x), expected));
  EXPECT_EQ(parameter_count(m), 3 * 8);
}

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

TEST(Init, FollowsFluxsFanRules) {
  using Fans = std::pair<int64_t, int64_t>;
  EXPECT_EQ(nfan(Shape{5, 3}), Fans(3, 5));          // Dense (out, in)
  EXPECT_EQ(nfan(Shape{3, 3, 4, 8}), Fans(36, 72));  // Conv (k, k, in, out)
  EXPECT_EQ(nfan(Shape{7}), Fans(1, 7));
  torch::manual_seed(0);
  Tensor u = glorot_uniform(Shape{200, 300});
  double a = std::sqrt(6.0 / 500);
  EXPECT_LE(u.abs().max().item<double>(), a);
  EXPECT_NEAR(u.std().item<double>(), a / std::sqrt(3.0), 2e-3);
  EXPECT_NEAR(glorot_normal(Shape{200, 300}).std().item<double>(), std::sqrt(2.0 / 500), 2e-3);
  EXPECT_NEAR(kaiming_normal(Shape{200, 300}).std().item<double>(), std::sqrt(2.0 / 300), 2e-3);
  EXPECT_NEAR(kaiming_uniform(Shape{200, 300}).abs().max().item<double>(), std::sqrt(2.0) * std::sqrt(3.0 / 300), 1e-3);
  Tensor t = TruncatedNormal{.mean = 0, .std = 1, .lo = -0.5, .hi = 1}(Shape{10000});
  EXPECT_GE(t.min().item<double>(), -0.5);
  EXPECT_LE(t.max().item<double>(), 1.0);
  EXPECT_TRUE(torch::equal(zeros32(Shape{2}), torch::zeros({2})));
  EXPECT_EQ(ones32(Shape{2}).dtype(), torch::kFloat32);
  EXPECT_EQ(shape(Conv({3, 2}, {4, 8}, identity, {.init = kaiming_normal})->weight), (Shape{8, 4, 3, 2}));
}

TEST(Pooling, MeanPoolCountsPaddingAndAdaptiveUsesFluxWindows) {
  Tensor x = torch::ones({1, 1, 3});
  Tensor y = MeanPool({3}, {.pad = 1, .stride = Dims{1}})(x);
  EXPECT_TRUE(torch::allclose(y, torch::tensor({2.0 / 3, 1.0, 2.0 / 3}).view({1, 1, 3})));
  Tensor v = torch::tensor({1.0, 5.0, 2.0, 4.0, 3.0}).view({1, 1, 5});
  // I = 5, out = 3: stride 1, window 3 -> [0,3), [1,4), [2,5)
  EXPECT_TRUE(torch::allclose(AdaptiveMaxPool({3})(v), torch::tensor({5.0, 5.0, 4.0}).view({1, 1, 3})));
  expect_error<std::invalid_argument>([] { MaxPool({5, 5})(torch::rand({1, 1, 3, 3})); }, {"MaxPool((5, 5))", "[1, 1, 3, 3]"});
  Tensor m = torch::randn({1, 2, 6, 6});
  EXPECT_TRUE(torch::allclose(MaxPool({3, 3}, {.pad = 1, .stride = Dims{2}})(m), torch::max_pool2d(m, {3, 3}, {2, 2}, {1, 1})));
}

TEST(PixelShuffle, IsTorchsPixelShuffle) {
  Tensor x = torch::randn({2, 8, 3, 3});
  EXPECT_TRUE(torch::equal(PixelShuffle(2)(x), torch::pixel_shuffle(x, 2)));
  EXPECT_EQ(shape(PixelShuffle(2)(torch::randn({1, 8, 3}))), (Shape{1, 4, 6}));
  EXPECT_EQ(shape(PixelShuffle(2)(torch::randn({1, 16, 2, 2, 2}))), (Shape{1, 2, 4, 4, 4}));
}

TEST(Upsample, BilinearAlignsCorners) {
  Tensor x = torch::tensor({0.0, 1.0}).view({1, 1, 1, 2});
  Tensor y = Upsample(UpsampleMode::bilinear, {.size = Shape{1, 3}})(x);
  EXPECT_TRUE(torch::allclose(y, torch::tensor({0.0, 0.5, 1.0}).view({1, 1, 1, 3})));
  Tensor n = Upsample(2.0)(torch::tensor({1.0, 2.0}).view({1, 1, 2}));
  EXPECT_TRUE(torch::equal(n, torch::tensor({1.0, 1.0, 2.0, 2.0}).view({1, 1, 4})));
  expect_error<std::invalid_argument>([] { Upsample(UpsampleMode::nearest, {}); }, {"exactly one of scale and size"});
}
