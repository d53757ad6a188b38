// Flux's initialisers and fan rules, and what each layer asks its initialiser for.
#include "testing.h"

using namespace flux;

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

namespace {
// An initialiser that records the (Julia-order) dimensions it is asked for.
struct Recorder {
  std::shared_ptr<std::vector<Shape>> calls = std::make_shared<std::vector<Shape>>();
  Tensor operator()(at::IntArrayRef dims) const {
    calls->push_back(Shape(dims.begin(), dims.end()));
    return torch::arange(c10::multiply_integers(dims), torch::kFloat32).reshape(dims);
  }
};
}  // namespace

TEST(Init, LayersAskForFluxsDimensions) {
  Recorder r;
  Dense({5, 3}, identity, {.init = r});
  Conv({3, 2}, {4, 8}, identity, {.init = r});           // torch kernel {kH, kW} = {3, 2}: Julia (kW, kH, in, out)
  Conv({3, 3}, {4, 8}, identity, {.groups = 2, .init = r});
  ConvTranspose({3, 2}, {4, 6}, identity, {.init = r});  // Julia (kW, kH, out, in)
  Bilinear(Bilinear2{2, 3, 4}, identity, {.init = r});
  ASSERT_EQ(r.calls->size(), 5u);
  EXPECT_EQ((*r.calls)[0], (Shape{3, 5}));
  EXPECT_EQ((*r.calls)[1], (Shape{2, 3, 4, 8}));
  EXPECT_EQ((*r.calls)[2], (Shape{3, 3, 2, 8}));
  EXPECT_EQ((*r.calls)[3], (Shape{2, 3, 6, 4}));
  EXPECT_EQ((*r.calls)[4], (Shape{4, 2, 3}));
}

TEST(Init, TheInitialisersArrayIsFluxsWeight) {
  // The initialiser returns Flux's array W[kw, kh, i, o] (as a tensor of Julia's dimensions);
  // torch's weight[o][i][kh][kw] is the same entry, and Conv's flux_weight() gives it back.
  Recorder r;
  Tensor julia = torch::arange(12, torch::kFloat32).reshape({2, 3, 1, 2});  // (kW, kH, in, out)
  Tensor as_torch = julia.permute({3, 2, 1, 0});                            // [out, in, kH, kW]
  CrossCor c({3, 2}, {1, 2}, identity, {.init = r});
  EXPECT_TRUE(torch::equal(c->weight, as_torch));
  Conv v({3, 2}, {1, 2}, identity, {.init = r});
  EXPECT_TRUE(torch::equal(v->flux_weight(), as_torch));
  // So Conv(kernel; init = f) is the same layer as Conv(f(...)).
  Tensor x = torch::randn({1, 1, 5, 4});
  EXPECT_TRUE(close(v(x), Conv(as_torch, true)(x)));
  ConvTranspose t({3, 2}, {2, 1}, identity, {.init = r});  // Flux (kW, kH, out, in) = (2, 3, 1, 2)
  EXPECT_TRUE(torch::equal(t->flux_weight(), as_torch));
  EXPECT_EQ(shape(t(torch::randn({1, 2, 3, 3}))), (Shape{1, 1, 5, 4}));
  // Scale's Julia S[i, j] is torch's scale[j][i].
  Scale s(std::vector<int64_t>{3, 2}, identity, {.init = r});  // Julia size (2, 3)
  EXPECT_TRUE(torch::equal(s->scale, torch::arange(6, torch::kFloat32).reshape({2, 3}).t()));
}

TEST(Init, FansOfHigherDimensionalArrays) {
  using Fans = std::pair<int64_t, int64_t>;
  EXPECT_EQ(nfan(Shape{}), Fans(1, 1));
  EXPECT_EQ(nfan(Shape{7, 5, 5}), Fans(35, 35));     // Bilinear (out, in1, in2): out·in1, out·in2
  EXPECT_EQ(nfan(Shape{3, 3, 2, 6}), Fans(18, 54));  // ConvTranspose (k, k, out/g, in)
  EXPECT_EQ(nfan(Shape{2, 3, 4, 5, 6}), Fans(120, 144));  // 24·5, 24·6
}

TEST(Init, GainScalesTheDistributions) {
  torch::manual_seed(1);
  Tensor u = GlorotUniform{.gain = 2}(Shape{300, 200});
  const double a = 2 * std::sqrt(6.0 / 500);
  EXPECT_LE(u.abs().max().item<double>(), a);
  EXPECT_GT(u.abs().max().item<double>(), 0.99 * a);
  EXPECT_NEAR(KaimingNormal{.gain = 1}(Shape{300, 200}).std().item<double>(), 1 / std::sqrt(200.0), 2e-3);
  EXPECT_NEAR(GlorotNormal{.gain = 3}(Shape{300, 200}).std().item<double>(), 3 * std::sqrt(2.0 / 500), 5e-3);
}

TEST(Init, ConstantAndRandomHelpersAreFloat32) {
  torch::manual_seed(2);
  Tensor r = rand32(Shape{10000});
  EXPECT_EQ(r.scalar_type(), torch::kFloat32);
  EXPECT_GE(r.min().item<double>(), 0.0);
  EXPECT_LT(r.max().item<double>(), 1.0);
  EXPECT_NEAR(randn32(Shape{10000}).std().item<double>(), 1.0, 0.03);
  EXPECT_EQ(glorot_uniform(Shape{2, 3}).scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(ones32(Shape{2, 3}), torch::ones({2, 3})));
}

TEST(Init, TruncatedNormalUsesAbsoluteBounds) {
  torch::manual_seed(3);
  Tensor t = TruncatedNormal{.mean = 5, .std = 10, .lo = 4, .hi = 6}(Shape{10000});
  EXPECT_GE(t.min().item<double>(), 4.0);
  EXPECT_LE(t.max().item<double>(), 6.0);
  EXPECT_NEAR(t.mean().item<double>(), 5.0, 0.05);  // nearly uniform on [4, 6]
  expect_error<std::invalid_argument>([] { TruncatedNormal{.lo = 1, .hi = 0}(Shape{2}); }, {"lo must be below hi"});
}

TEST(SkipInit, SkipsTheDrawsButKeepsTheShapes) {
  EXPECT_FALSE(skipping_init());
  {
    SkipInit outer;
    EXPECT_TRUE(skipping_init());
    {
      SkipInit inner;
      EXPECT_TRUE(skipping_init());
    }
    EXPECT_TRUE(skipping_init());  // restored to the outer state, not switched off
    Dense d({300, 200});
    EXPECT_EQ(shape(d->weight), (Shape{200, 300}));
    EXPECT_TRUE(d->weight.is_meta());  // no memory behind it
    Conv c({3, 3}, {2, 4});
    EXPECT_EQ(shape(c->weight), (Shape{4, 2, 3, 3}));
    EXPECT_TRUE(c->weight.is_meta());
    EXPECT_TRUE(torch::equal(d->bias, torch::zeros({200})));  // zeros still fill
    EXPECT_TRUE(torch::equal(ones32({2}), torch::ones({2})));
  }
  EXPECT_FALSE(skipping_init());
  // Outside, the draws are real: a glorot_uniform matrix stays within its bound.
  Tensor w = glorot_uniform({300, 200});
  EXPECT_LE(w.abs().max().item<double>(), std::sqrt(6.0 / 500) + 1e-7);
  EXPECT_GT(w.abs().max().item<double>(), 0.5 * std::sqrt(6.0 / 500));
}
