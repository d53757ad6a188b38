// Every example of the Flux docstrings in the seeds, in torch's order
// (Julia's W×H×C×N batch is our [N, C, H, W]); batches of 2 instead of 50.
#include "testing.h"

using namespace flux;

TEST(SeedChain, ComposesFunctionsAndLayers) {
  Chain m([](const Tensor& x) { return x * x; }, [](const Tensor& x) { return x + 1; });
  EXPECT_EQ(m(torch::tensor(5.0)).item<double>(), 26);
  Chain d(Dense({10, 5}), Dense({5, 2}));
  Tensor x = torch::rand({10});
  EXPECT_TRUE(torch::equal(d(x), d[1](d[0](x))));
  EXPECT_TRUE(torch::equal(d.slice(0, 1)(x), d[0](x)));
}

TEST(SeedDense, ShapesAndExplicitWeight) {
  Dense d({5, 2});
  EXPECT_EQ(shape(d(torch::rand({64, 5}))), (Shape{64, 2}));
  EXPECT_EQ(shape(d(torch::rand({64, 1, 1, 5}))), (Shape{64, 1, 1, 2}));  // three batch dims
  Dense d1(torch::ones({2, 5}), false, flux::tanh);
  EXPECT_EQ(parameter_count(d1), 10);
  Tensor y = d1(torch::ones({5}, torch::kFloat64));
  EXPECT_NEAR(y[0].item<double>(), 0.9999092042625951, 1e-6);  // tanh(5)
  EXPECT_NEAR(y[1].item<double>(), 0.9999092042625951, 1e-6);
  EXPECT_EQ(d1->parameters().size(), 1u);  // no trainable bias
}

TEST(SeedConv, OutputSizes) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  Conv layer({5, 5}, {3, 7}, relu, {.bias = false});
  EXPECT_EQ(parameter_count(layer), 525);
  EXPECT_EQ(shape(layer(xs)), (Shape{2, 7, 96, 96}));
  EXPECT_EQ(shape(Conv({5, 5}, {3, 7}, identity, {.stride = 2})(xs)), (Shape{2, 7, 48, 48}));
  EXPECT_EQ(shape(Conv({5, 5}, {3, 7}, identity, {.stride = 2, .pad = SamePad{}})(xs)), (Shape{2, 7, 50, 50}));
  // Julia pad (20, 10, 0, 0) pads W: ours lists H first.
  EXPECT_EQ(shape(Conv({1, 1}, {3, 7}, identity, {.pad = {0, 0, 20, 10}})(xs)), (Shape{2, 7, 100, 130}));
  EXPECT_EQ(shape(Conv({5, 5}, {3, 7}, identity, {.stride = 2, .dilation = 4})(xs)), (Shape{2, 7, 42, 42}));
}

TEST(SeedPooling, AdaptiveAndFixedWindowsAgree) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  EXPECT_EQ(shape(AdaptiveMaxPool({25, 25})(xs)), (Shape{2, 3, 25, 25}));
  EXPECT_TRUE(torch::allclose(MaxPool({4, 4})(xs), AdaptiveMaxPool({25, 25})(xs)));
  EXPECT_EQ(shape(AdaptiveMeanPool({25, 25})(xs)), (Shape{2, 3, 25, 25}));
  EXPECT_TRUE(torch::allclose(MeanPool({4, 4})(xs), AdaptiveMeanPool({25, 25})(xs)));
}

TEST(SeedPooling, MaxPoolWithSamePad) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  Chain m(Conv({5, 5}, {3, 7}, identity, {.pad = SamePad{}}), MaxPool({5, 5}, {.pad = SamePad{}}));
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Conv((5, 5), 3 => 7, pad=2),          # 532 parameters\n"
            "  MaxPool((5, 5), pad=2),\n"
            ")");
  EXPECT_EQ(shape(m[0](xs)), (Shape{2, 7, 100, 100}));
  EXPECT_EQ(shape(m(xs)), (Shape{2, 7, 20, 20}));
  MaxPool lay({5}, {.pad = 2, .stride = Dims{3}});
  EXPECT_EQ(lay->repr(), "MaxPool((5,), pad=2, stride=3)");
  EXPECT_EQ(shape(lay(torch::rand({2, 7, 100}))), (Shape{2, 7, 34}));
}

TEST(SeedPooling, MeanPoolChainAndGlobalPools) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  Chain m(Conv({5, 5}, {3, 7}), MeanPool({5, 5}, {.pad = SamePad{}}));
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Conv((5, 5), 3 => 7),                 # 532 parameters\n"
            "  MeanPool((5, 5), pad=2),\n"
            ")");
  EXPECT_EQ(shape(m[0](xs)), (Shape{2, 7, 96, 96}));
  EXPECT_EQ(shape(m(xs)), (Shape{2, 7, 20, 20}));
  EXPECT_EQ(shape(Chain(Conv({3, 3}, {3, 7}), GlobalMaxPool())(xs)), (Shape{2, 7, 1, 1}));
  EXPECT_EQ(shape(Chain(Conv({3, 3}, {3, 7}), GlobalMeanPool())(xs)), (Shape{2, 7, 1, 1}));
  EXPECT_EQ(shape(GlobalMaxPool()(torch::rand({7, 5, 3}))), (Shape{7, 5, 1}));  // Julia (3,5,7) -> (1,5,7)
}

TEST(SeedConv, DepthwiseTransposeCrossCor) {
  Tensor xs = torch::rand({2, 3, 100, 100});
  auto lay = DepthwiseConv({5, 5}, {3, 6}, relu, {.bias = false});
  EXPECT_EQ(parameter_count(lay), 150);
  EXPECT_EQ(shape(lay(xs)), (Shape{2, 6, 96, 96}));
  EXPECT_EQ(shape(DepthwiseConv({5, 5}, {3, 9}, identity, {.stride = 2, .pad = 2})(xs)), (Shape{2, 9, 50, 50}));

  ConvTranspose t({5, 5}, {3, 7}, relu);
  EXPECT_EQ(printed(t), "ConvTranspose((5, 5), 3 => 7, relu)  # 532 parameters");
  EXPECT_EQ(shape(t(xs)), (Shape{2, 7, 104, 104}));
  EXPECT_EQ(shape(ConvTranspose({5, 5}, {3, 7}, identity, {.stride = 2})(xs)), (Shape{2, 7, 203, 203}));
  EXPECT_EQ(shape(ConvTranspose({5, 5}, {3, 7}, identity, {.stride = 3, .pad = SamePad{}})(xs)), (Shape{2, 7, 300, 300}));

  CrossCor c({5, 5}, {3, 6}, relu, {.bias = false});
  EXPECT_EQ(printed(c), "CrossCor((5, 5), 3 => 6, relu, bias=false)  # 450 parameters");
  EXPECT_EQ(shape(c(xs)), (Shape{2, 6, 96, 96}));
  EXPECT_EQ(shape(CrossCor({5, 5}, {3, 7}, identity, {.stride = 3, .pad = {0, 2}})(xs)), (Shape{2, 7, 32, 34}));
}

TEST(SeedFlatten, KeepsTheBatchDimension) {
  EXPECT_EQ(shape(flatten(torch::rand({5, 4, 3}))), (Shape{5, 12}));
  Tensor xs = torch::rand({7, 3, 10, 10});
  Chain m(Conv({3, 3}, {3, 4}, identity, {.pad = 1}), flatten, Dense({400, 33}));
  EXPECT_EQ(shape(m[0](xs)), (Shape{7, 4, 10, 10}));
  EXPECT_EQ(shape(m(xs)), (Shape{7, 33}));
}

TEST(SeedUpsample, ScaleAndSize) {
  Upsample m({.scale = std::vector<double>{2, 3}});
  EXPECT_EQ(m->repr(), "Upsample(:nearest, scale = (2, 3))");
  EXPECT_EQ(shape(m(torch::ones({1, 1, 2, 2}))), (Shape{1, 1, 4, 6}));
  Upsample b(UpsampleMode::bilinear, {.size = Shape{4, 5}});
  EXPECT_EQ(b->repr(), "Upsample(:bilinear, size = (4, 5))");
  EXPECT_EQ(shape(b(torch::ones({1, 1, 2, 2}))), (Shape{1, 1, 4, 5}));
}

TEST(SeedRecur, AccumulatesItsState) {
  CellFn accum = [](const State& h, const Tensor& x) { return std::pair<State, Tensor>{{h[0] + x}, x}; };
  Recur rnn(accum, State{torch::tensor(0.0)});
  EXPECT_EQ(rnn(torch::tensor(2.0)).item<double>(), 2);
  EXPECT_EQ(rnn(torch::tensor(3.0)).item<double>(), 3);
  EXPECT_EQ(rnn->state[0].item<double>(), 5);
  rnn(torch::arange(1, 11, torch::kFloat64).reshape({10, 1, 1}));  // a sequence of 10 steps
  EXPECT_EQ(rnn->state[0].item<double>(), 60);
  reset(rnn);
  EXPECT_EQ(rnn->state[0].item<double>(), 0);
}

TEST(SeedSkipConnection, ConcatenatesChannels) {
  Conv m({3, 3}, {4, 7}, identity, {.pad = {1, 1}});
  Tensor x = torch::ones({10, 4, 5, 5});
  EXPECT_EQ(shape(m(x)), (Shape{10, 7, 5, 5}));
  SkipConnection sm(m, cat(1));
  EXPECT_EQ(shape(sm(x)), (Shape{10, 11, 5, 5}));
}

TEST(SeedParallel, VcatAndMultipleInputs) {
  Chain model(Dense({3, 5}), Parallel(vcat, Dense({5, 4}), Chain(Dense({5, 7}), Dense({7, 4}))), Dense({8, 17}));
  EXPECT_EQ(shape(model(torch::rand({3}))), (Shape{17}));
  Parallel p(plus, Dense({10, 2}), Dense({5, 2}));
  EXPECT_EQ(printed(p),
            "Parallel(\n"
            "  +,\n"
            "  Dense(10 => 2),                       # 22 parameters\n"
            "  Dense(5 => 2),                        # 12 parameters\n"
            ")                   # Total: 4 arrays, 34 parameters, 136 bytes.");  // 34 float32s
  EXPECT_EQ(shape(p(torch::rand({10}), torch::rand({5}))), (Shape{2}));
}

TEST(SeedBilinear, OneTwoAndTupleInputs) {
  Tensor x = torch::randn({32, 5}), y = torch::randn({32, 5});
  Bilinear B(Bilinear2{5, 5, 7});
  EXPECT_EQ(shape(B(x)), (Shape{32, 7}));
  EXPECT_TRUE(torch::equal(B(x, y), B(std::vector<Tensor>{x, y})));
  SkipConnection sc(Chain(Dense({5, 20}, flux::tanh), Dense({20, 9}, flux::tanh)),
                    Bilinear(Bilinear2{9, 5, 3}, identity, {.bias = false}));
  EXPECT_EQ(shape(sc(x)), (Shape{32, 3}));
  Bilinear w(torch::rand({4, 8, 16}), false, flux::tanh);
  EXPECT_EQ(w->repr(), "Bilinear((8, 16) => 4, tanh; bias=false)");
}

TEST(SeedEmbedding, IndicesEqualOneHot) {
  Embedding model({1000, 4});
  EXPECT_EQ(model->repr(), "Embedding(1000 => 4)");
  Tensor idx = torch::tensor({0, 721, 52, 219, 2});  // Flux's 1-based [1, 722, 53, 220, 3]
  Tensor onehot = torch::nn::functional::one_hot(idx, 1000).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(model(idx), model(onehot)));
  EXPECT_TRUE(torch::equal(model(idx)[1], model(idx)[1]));
  EXPECT_EQ(shape(model(idx)), (Shape{5, 4}));
}

TEST(SeedBatchNorm, ChainExample) {
  Chain m(Dense({28 * 28, 64}), BatchNorm(64, relu), Dense({64, 10}), BatchNorm(10), softmax);
  torch::NoGradGuard no_grad;
  Tensor y = m(torch::rand({3, 28 * 28}));
  EXPECT_EQ(shape(y), (Shape{3, 10}));
  EXPECT_TRUE(torch::allclose(y.sum(-1), torch::ones({3})));
}
