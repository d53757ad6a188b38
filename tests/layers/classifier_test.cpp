// create_classifier (both forms, every keyword combination) and AdaptiveMeanMaxPool.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(CreateClassifier, DefaultPoolsFlattensAndProjects) {
  Chain head = ml::create_classifier(512, 10);
  EXPECT_EQ(reprs(head), (Strings{"AdaptiveMeanPool((1, 1))", "Flux.flatten", "Dense(512 => 10)"}));
  EXPECT_EQ(parameter_count(head), 512 * 10 + 10);
  EXPECT_EQ(shape(head(torch::randn({2, 512, 7, 7}))), (Shape{2, 10}));
}

TEST(CreateClassifier, DropoutNoneVersusZero) {
  EXPECT_EQ(ml::create_classifier(64, 5).size(), 3u);
  Chain zero = ml::create_classifier(64, 5, identity, {.dropout_prob = 0.0});
  EXPECT_EQ(reprs(zero), (Strings{"AdaptiveMeanPool((1, 1))", "Flux.flatten", "Dropout(0.0)", "Dense(64 => 5)"}));
  Chain half = ml::create_classifier(64, 5, softmax, {.dropout_prob = 0.5});
  EXPECT_EQ(reprs(half)[2], "Dropout(0.5)");
  EXPECT_EQ(reprs(half)[3], "Dense(64 => 5, softmax)");
}

TEST(CreateClassifier, EveryKeywordCombinationHasTheRightShape) {
  Tensor x = torch::randn({3, 16, 4, 4});
  for (bool use_conv : {false, true})
    for (int pool = 0; pool < 3; ++pool)
      for (std::optional<double> p : {std::optional<double>{}, std::optional<double>{0.0}, std::optional<double>{0.3}}) {
        // pool: 0 = default mean pool, 1 = none (identity), 2 = AdaptiveMeanMaxPool
        if (use_conv && pool != 1) continue;  // refused, tested below
        Layer pool_layer = pool == 0 ? Layer(AdaptiveMeanPool({1, 1})) : pool == 1 ? Layer(identity) : ml::AdaptiveMeanMaxPool();
        Chain head = ml::create_classifier(16, 7, identity, {.use_conv = use_conv, .pool_layer = pool_layer, .dropout_prob = p});
        testmode(head);
        // Without pooling a Dense head takes features that are already flat.
        Tensor input = (pool == 1 && !use_conv) ? torch::randn({3, 16}) : x;
        Shape expected = use_conv ? Shape{3, 7, 4, 4} : Shape{3, 7};
        EXPECT_EQ(shape(head(input)), expected) << "use_conv=" << use_conv << " pool=" << pool;
        const size_t n = 1 + (pool != 1 && !use_conv) + p.has_value() + 1;
        EXPECT_EQ(head.size(), n) << "use_conv=" << use_conv << " pool=" << pool;
        EXPECT_EQ(reprs(head).back(), use_conv ? "Conv((1, 1), 16 => 7)" : "Dense(16 => 7)");
      }
}

TEST(CreateClassifier, ConvHeadNeedsIdentityPool) {
  Chain conv = ml::create_classifier(16, 7, identity, {.use_conv = true, .pool_layer = identity});
  EXPECT_EQ(reprs(conv), (Strings{"identity", "Conv((1, 1), 16 => 7)"}));
  expect_error<std::invalid_argument>([] { ml::create_classifier(16, 7, identity, {.use_conv = true}); },
                                      {"create_classifier", "pool_layer", "identity"});
}

TEST(CreateClassifier, HiddenLayerForm) {
  Chain head = ml::create_classifier(960, 1280, 1000, {hardswish, identity}, {.dropout_prob = 0.2});
  EXPECT_EQ(reprs(head), (Strings{"AdaptiveMeanPool((1, 1))", "Flux.flatten", "Dense(960 => 1280, hardswish)",
                                  "Dropout(0.2)", "Dense(1280 => 1000)"}));
  // torchvision's mobilenet_v3_large classifier: 960·1280 + 1280 + 1280·1000 + 1000.
  EXPECT_EQ(parameter_count(head), 2'511'080);
  EXPECT_EQ(ml::create_classifier(8, 6, 3).size(), 4u);  // no Dropout without a rate
  EXPECT_EQ(reprs(ml::create_classifier(8, 6, 3))[2], "Dense(8 => 6, relu)");
}

TEST(CreateClassifier, HiddenLayerFormEveryCombination) {
  Tensor x = torch::randn({2, 8, 3, 3});
  for (auto use_conv : {std::array<bool, 2>{false, false}, std::array<bool, 2>{true, true}})
    for (std::optional<double> p : {std::optional<double>{}, std::optional<double>{0.0}}) {
      Layer pool = use_conv[0] ? Layer(identity) : Layer(AdaptiveMeanPool({1, 1}));
      Chain head = ml::create_classifier(8, 6, 3, {relu, identity}, {.use_conv = use_conv, .pool_layer = pool, .dropout_prob = p});
      testmode(head);
      EXPECT_EQ(shape(head(x)), use_conv[0] ? (Shape{2, 3, 3, 3}) : (Shape{2, 3}));
      EXPECT_EQ(head.size(), (use_conv[0] ? 1u : 2u) + 2u + p.has_value());
    }
  expect_error<std::invalid_argument>([] { ml::create_classifier(8, 6, 3, {relu, identity}, {.use_conv = {true, true}}); },
                                      {"create_classifier", "pool_layer"});
}

TEST(CreateClassifier, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(ml::create_classifier(3, 2, flux::tanh), torch::randn({2, 3, 2, 2}));
  expect_layer_gradients(ml::create_classifier(3, 4, 2, {flux::tanh, identity}), torch::randn({2, 3, 2, 2}));
}

TEST(AdaptiveMeanMaxPool, SumsMeanAndMaxPools) {
  Layer pool = ml::AdaptiveMeanMaxPool();
  EXPECT_EQ(pool->repr(), "Parallel(+, AdaptiveMeanPool((1, 1)), AdaptiveMaxPool((1, 1)))");
  Tensor x = torch::randn({2, 3, 6, 6});
  Tensor expected = x.mean({2, 3}, true) + x.amax({2, 3}, true);
  EXPECT_TRUE(close(pool(x), expected));
  Layer two = ml::AdaptiveMeanMaxPool({2, 2});
  Tensor expected2 = at::adaptive_avg_pool2d(x, {2, 2}) + std::get<0>(at::adaptive_max_pool2d(x, {2, 2}));
  EXPECT_TRUE(close(two(x), expected2));
  Layer cat = ml::AdaptiveMeanMaxPool(ml::cat_channels);
  EXPECT_EQ(shape(cat(x)), (Shape{2, 6, 1, 1}));
  expect_layer_gradients(ml::AdaptiveMeanMaxPool(), torch::randn({1, 2, 3, 3}));
}
