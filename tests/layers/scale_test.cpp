// LayerScale and inputscale.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

TEST(LayerScale, ScalesTheLastDimensionByLambda) {
  Layer ls = ml::LayerScale(4, 1e-5);
  EXPECT_EQ(parameter_count(ls), 4);  // no bias
  Tensor x = torch::randn({2, 3, 4});
  EXPECT_TRUE(close(ls(x), x * 1e-5));
  auto scale = ls.as<ScaleImpl>();
  ASSERT_TRUE(scale);
  EXPECT_FALSE(scale->bias.defined());
  expect_layer_gradients(ml::LayerScale(3, 0.1), torch::randn({2, 3}));
}

TEST(LayerScale, NonPositiveLambdaIsIdentity) {
  EXPECT_EQ(ml::LayerScale(4, 0)->repr(), "identity");
  EXPECT_EQ(ml::LayerScale(4, -1)->repr(), "identity");
  expect_error<std::invalid_argument>([] { ml::LayerScale(0, 0.1); }, {"LayerScale", "planes"});
}

TEST(InputScale, MultipliesThenActivates) {
  Tensor x = torch::randn({5});
  EXPECT_TRUE(close(ml::inputscale(2.0)(x), 2 * x));
  EXPECT_TRUE(close(ml::inputscale(-3.0, relu)(x), torch::relu(-3 * x)));
  EXPECT_EQ(ml::inputscale(0.5, relu)->repr(), "inputscale(0.5, relu)");
}
