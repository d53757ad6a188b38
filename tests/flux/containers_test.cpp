// Chain, Parallel, SkipConnection and Maxout.
#include "testing.h"

using namespace flux;

// ---------------------------------------------------------------- Chain

TEST(Chain, SeedExampleComposesFunctions) {
  Chain m([](const Tensor& x) { return x * x; }, [](const Tensor& x) { return x + 1; });
  EXPECT_EQ(m(torch::tensor(5.0)).item<double>(), 26);
}

TEST(Chain, SeedExampleCallsLayersLeftToRight) {
  Chain m(Dense({10, 5}), Dense({5, 2}));
  Tensor x = torch::rand({10});
  EXPECT_TRUE(torch::equal(m(x), m[1](m[0](x))));
  EXPECT_TRUE(torch::equal(m.slice(0, 1)(x), m[0](x)));  // Flux's m[1:1]
  EXPECT_TRUE(torch::equal(m.slice(0, 2)(x), m(x)));
  EXPECT_EQ(m.size(), 2u);
}

TEST(Chain, NamedLayersAreReachableByName) {
  Dense enc({2, 3}), dec({3, 2});
  Chain m(NamedLayers{{"enc", enc}, {"dec", dec}});
  EXPECT_EQ(m["enc"].ptr(), enc.ptr());
  EXPECT_EQ(m[1].ptr(), dec.ptr());
  EXPECT_EQ(m->repr(), "Chain(enc = Dense(2 => 3), dec = Dense(3 => 2))");
  EXPECT_EQ(m.slice(1, 2)->repr(), "Chain(dec = Dense(3 => 2))");
  expect_error<std::out_of_range>([&] { m["nope"]; }, {"nope"});
  expect_error<std::out_of_range>([&] { m[2]; }, {"index 2"});
  expect_error<std::invalid_argument>([] { Chain(NamedLayers{{"layers", Dense({2, 2})}}); }, {"reserved"});
}

TEST(Chain, ActivationsListsEveryOutput) {
  Chain m(Dense({3, 4}), relu, Dense({4, 2}));
  Tensor x = torch::randn({2, 3});
  auto acts = m->activations(x);
  ASSERT_EQ(acts.size(), 3u);
  EXPECT_TRUE(torch::equal(acts[0], m[0](x)));
  EXPECT_TRUE(torch::equal(acts[1], torch::relu(acts[0])));
  EXPECT_TRUE(torch::equal(acts[2], m(x)));
}

TEST(Chain, EmptyChainIsTheIdentityAndVectorsAreSpliced) {
  Tensor x = torch::randn({3});
  EXPECT_TRUE(torch::equal(Chain()(x), x));
  std::vector<Layer> block{Dense({3, 3}), relu};
  Chain m(block, Dense({3, 1}));
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m->repr(), "Chain(Dense(3 => 3), relu, Dense(3 => 1))");
}

TEST(Chain, SharedLayersAreCountedOnce) {
  Dense shared({3, 3});
  EXPECT_EQ(parameter_count(Chain(shared, shared)), 12);
  EXPECT_EQ(parameter_count(Chain(Dense({3, 3}), Dense({3, 3}))), 24);
}

// ---------------------------------------------------------------- Parallel

TEST(Parallel, SeedExampleVcatOfBranches) {
  Chain model(Dense({3, 5}), Parallel(vcat, Dense({5, 4}), Chain(Dense({5, 7}), Dense({7, 4}))), Dense({8, 17}));
  EXPECT_EQ(shape(model(torch::rand({3}))), (Shape{17}));
  EXPECT_EQ(shape(model(torch::rand({6, 3}))), (Shape{6, 17}));
}

TEST(Parallel, SeedExampleTwoInputsZippedWithTheLayers) {
  Parallel p(plus, Dense({10, 2}), Dense({5, 2}));
  Tensor x = torch::rand({10}), y = torch::rand({5});
  EXPECT_EQ(shape(p(x, y)), (Shape{2}));
  EXPECT_TRUE(close(p(x, y), p[0](x) + p[1](y)));
  EXPECT_TRUE(close(p(std::vector<Tensor>{x, y}), p[0](x) + p[1](y)));
}

TEST(Parallel, CallsTheConnectionOnceWithEveryOutput) {
  int calls = 0;
  Connection weighted("weighted", [&calls](const std::vector<Tensor>& ys) {
    ++calls;
    return ys.size() == 3 ? ys[0] + 2 * ys[1] + 3 * ys[2] : torch::full({1}, -1.0);
  });
  Parallel p(weighted, fn("a", [](const Tensor& x) { return x; }), fn("b", [](const Tensor& x) { return x * x; }),
             fn("c", [](const Tensor& x) { return x + 1; }));
  Tensor x = torch::tensor({2.0});
  EXPECT_EQ(p(x).item<double>(), 2 + 2 * 4 + 3 * 3);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(p->repr(), "Parallel(weighted, a, b, c)");
}

TEST(Parallel, RefusesTheWrongNumberOfInputs) {
  Parallel p(plus, Dense({2, 2}), Dense({2, 2}));
  Tensor x = torch::rand({1, 2});
  expect_error<std::invalid_argument>([&] { p(x, x, x); },
                                      {"Parallel with 2 sub-layers can take one input or 2 inputs, but got 3 inputs"});
  EXPECT_TRUE(close(p(x), p[0](x) + p[1](x)));
}

TEST(Parallel, HcatAndCatJoinAlongTheirDimensions) {
  Tensor a = torch::ones({2, 3}), b = torch::zeros({2, 3});
  auto id = [](const Tensor& x) { return x; };
  auto zero = [](const Tensor& x) { return torch::zeros_like(x); };
  EXPECT_EQ(shape(Parallel(vcat, id, zero)(a)), (Shape{2, 6}));
  EXPECT_EQ(shape(Parallel(hcat, id, zero)(a)), (Shape{4, 3}));
  EXPECT_EQ(shape(Parallel(cat(0), id, zero)(a)), (Shape{4, 3}));
  EXPECT_TRUE(torch::equal(Parallel(vcat, id, zero)(a), torch::cat({a, b}, 1)));
}

// ---------------------------------------------------------------- SkipConnection

TEST(SkipConnection, SeedExampleConcatenatesChannels) {
  Conv m({3, 3}, {4, 7}, identity, {.pad = {1, 1}});
  Tensor x = torch::ones({10, 4, 5, 5});
  EXPECT_EQ(shape(m(x)), (Shape{10, 7, 5, 5}));
  SkipConnection sm(m, cat(1));
  Tensor y = sm(x);
  EXPECT_EQ(shape(y), (Shape{10, 11, 5, 5}));
  EXPECT_TRUE(torch::equal(y.slice(1, 0, 7), m(x)));  // the layer's output comes first
  EXPECT_TRUE(torch::equal(y.slice(1, 7, 11), x));
}

TEST(SkipConnection, WithPlusIsAResidualBlock) {
  Dense d({3, 3}, relu);
  SkipConnection s(d, plus);
  Tensor x = torch::randn({4, 3});
  EXPECT_TRUE(close(s(x), d(x) + x));
  EXPECT_EQ(s->repr(), "SkipConnection(Dense(3 => 3, relu), +)");
  EXPECT_EQ(parameter_count(s), 12);
}

TEST(SkipConnection, PassesTheLayerOutputAsTheFirstArgument) {
  SkipConnection s(fn("double", [](const Tensor& x) { return 2 * x; }),
                   [](const Tensor& mx, const Tensor& x) { return mx - x; });
  EXPECT_EQ(s(torch::tensor({3.0})).item<double>(), 3.0);  // 6 - 3, not 3 - 6
}

// ---------------------------------------------------------------- Maxout

TEST(Maxout, TakesTheElementwiseMaximumOfItsLayers) {
  Dense a({3, 2}), b({3, 2}), c({3, 2});
  Maxout m(a, b, c);
  Tensor x = torch::randn({4, 3});
  EXPECT_TRUE(torch::equal(m(x), torch::maximum(torch::maximum(a(x), b(x)), c(x))));
  EXPECT_EQ(m->repr(), "Maxout(Dense(3 => 2), Dense(3 => 2), Dense(3 => 2))");
}

TEST(Maxout, BuildsNLayersFromAFunctionAndBroadcasts) {
  Maxout m([] { return Layer(Dense({5, 7}, flux::tanh)); }, 4);
  EXPECT_EQ(parameter_count(m), 4 * (5 * 7 + 7));
  EXPECT_EQ(m->children().size(), 4u);
  Maxout b(fn("col", [](const Tensor& x) { return x.sum(-1, true); }), fn("id", [](const Tensor& x) { return x; }));
  Tensor x = torch::tensor({{1.0, -2.0}});  // sum -1 broadcast against [1, -2]
  EXPECT_TRUE(torch::equal(b(x), torch::tensor({{1.0, -1.0}})));
}

TEST(Containers, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(Maxout(Dense({3, 2}), Dense({3, 2})), torch::randn({2, 3}));
  expect_layer_gradients(Chain(Dense({3, 4}, flux::tanh), Parallel(plus, Dense({4, 2}), Dense({4, 2}))), torch::randn({2, 3}));
  expect_layer_gradients(SkipConnection(Dense({3, 3}, sigmoid), plus), torch::randn({2, 3}));
}

TEST(SkipConnection, AParallelConnectionKeepsItsParameters) {
  // A Parallel is callable with two tensors, yet it is a layer: its BatchNorm belongs to the model.
  SkipConnection s(Dense({4, 4}), Parallel(plus, identity, BatchNorm(4)));
  EXPECT_EQ(parameter_count(s), 4 * 4 + 4 + 2 * 4);
}

TEST(SkipConnection, ResidualSumReusesTheBranchOutputOnlyWhenSafe) {
  Dense d({3, 3});
  SkipConnection s(d, plus);
  Tensor x = torch::randn({2, 3});
  Tensor expected = d(x) + x;
  {
    torch::NoGradGuard no_grad;  // no history wanted: the branch output may take the sum
    EXPECT_TRUE(close(s(x), expected));
  }
  EXPECT_TRUE(close(s(x), expected));  // with gradients: the plain sum
  // An identity branch returns x itself: it must not be overwritten.
  SkipConnection twice(identity, plus);
  Tensor y = torch::ones({2});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(close(twice(y), torch::full({2}, 2.0)));
  EXPECT_TRUE(close(y, torch::ones({2})));
  // A branch that broadcasts against x cannot hold the sum: y + x has x's shape.
  SkipConnection wide(fn("colsum", [](const Tensor& t) { return t.sum(0, true); }), plus);
  EXPECT_EQ(shape(wide(torch::ones({3, 2}))), (Shape{3, 2}));
}
