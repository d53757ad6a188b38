// Port of Flux.jl v0.14.25 test/layers/conv.jl (pooling, Conv, CrossCor, ConvTranspose,
// DepthwiseConv). Julia's WHCN (W, H, C, N) array is our NCHW [N, C, H, W] with the same
// memory; Flux kernel, stride, dilation and window tuples (kW, kH) are our {kH, kW}; Flux's
// 2N pad (W_lo, W_hi, H_lo, H_hi) is our {H_lo, H_hi, W_lo, W_hi}. Cases the API cannot
// express are listed in PORTED.md.
#include "testing.h"

#include <algorithm>

using namespace flux;

namespace {

// A Julia size or tuple in our (reversed) order.
Shape jl(Shape julia) {
  std::reverse(julia.begin(), julia.end());
  return julia;
}

enum class Kind { conv, conv_transpose, depthwise, crosscor };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::conv: return "Conv";
    case Kind::conv_transpose: return "ConvTranspose";
    case Kind::depthwise: return "DepthwiseConv";
    default: return "CrossCor";
  }
}
const Kind all_kinds[] = {Kind::conv, Kind::conv_transpose, Kind::depthwise, Kind::crosscor};

// `ltype(kernel, 1 => 1; pad, stride, dilation)` with a kernel in torch order.
Layer make(Kind kind, Shape kernel, Padding pad, Dims stride = 1, Dims dilation = 1) {
  switch (kind) {
    case Kind::conv: return Conv(kernel, {1, 1}, identity, {.stride = stride, .pad = pad, .dilation = dilation});
    case Kind::conv_transpose:
      return ConvTranspose(kernel, {1, 1}, identity, {.stride = stride, .pad = pad, .dilation = dilation});
    case Kind::depthwise: return DepthwiseConv(kernel, {1, 1}, identity, {.stride = stride, .pad = pad, .dilation = dilation});
    default: return CrossCor(kernel, {1, 1}, identity, {.stride = stride, .pad = pad, .dilation = dilation});
  }
}

Shape spatial(const Tensor& t) { return Shape(t.sizes().begin() + 2, t.sizes().end()); }

bool has_grads(const torch::nn::Module& m) {
  for (const auto& p : m.parameters()) {
    if (!p.grad().defined()) return false;
  }
  return true;
}

}  // namespace

// Flux test/layers/conv.jl: "Pooling"
TEST(FluxConv, Pooling) {
  Tensor x = torch::randn(jl({10, 10, 3, 2})), y = torch::randn(jl({20, 20, 3, 2}));
  EXPECT_TRUE(torch::equal(AdaptiveMaxPool({5, 5})(x), torch::max_pool2d(x, {2, 2})));  // maxpool(x, PoolDims(x, 2))
  EXPECT_TRUE(close(AdaptiveMeanPool({5, 5})(x), torch::avg_pool2d(x, {2, 2})));
  // AdaptiveMaxPool((10, 5)): W to 10, H to 5 — PoolDims(y, (2, 4)) is our window {4, 2}.
  EXPECT_TRUE(torch::equal(AdaptiveMaxPool(jl({10, 5}))(y), torch::max_pool2d(y, jl({2, 4}))));
  EXPECT_TRUE(close(AdaptiveMeanPool(jl({10, 5}))(y), torch::avg_pool2d(y, jl({2, 4}))));
  EXPECT_EQ(shape(GlobalMaxPool()(x)), jl({1, 1, 3, 2}));
  EXPECT_EQ(shape(GlobalMeanPool()(x)), jl({1, 1, 3, 2}));
  EXPECT_TRUE(torch::equal(MaxPool({2, 2})(x), torch::max_pool2d(x, {2, 2})));
  EXPECT_TRUE(close(MeanPool({2, 2})(x), torch::avg_pool2d(x, {2, 2})));
}

// Flux test/layers/conv.jl: "CNN"
TEST(FluxConv, CNN) {
  Tensor r = torch::zeros(jl({28, 28, 1, 5}));
  Chain m(Conv({2, 2}, {1, 16}, relu), MaxPool({2, 2}), Conv({2, 2}, {16, 8}, relu), MaxPool({2, 2}),
          [](const Tensor& x) { return x.reshape({x.size(0), -1}); },  // reshape(x, :, size(x, 4))
          Dense({288, 10}), softmax);
  EXPECT_EQ(shape(m(r)), jl({10, 5}));

  // Test bias switch
  Conv bias(torch::ones(jl({2, 2, 1, 3})), torch::ones({3}));
  Tensor ip = torch::zeros(jl({28, 28, 1, 1}));
  Tensor op = bias(ip);
  EXPECT_EQ(op.sum().item<double>(), static_cast<double>(op.numel()));
}

// Flux test/layers/conv.jl: "CNN" / "No bias mapped through $lmap" for identity, cpu, f32
TEST(FluxConv, NoBiasMappedThroughLmap) {
  Tensor ip = torch::zeros(jl({28, 28, 1, 1}));
  for (int lmap = 0; lmap < 3; ++lmap) {
    SCOPED_TRACE(lmap == 0 ? "identity" : lmap == 1 ? "cpu" : "f32");
    Conv bias({2, 2}, {1, 3}, identity, {.bias = false});
    if (lmap == 1) bias->to(torch::kCPU);
    if (lmap == 2) bias->to(torch::kFloat32);
    EXPECT_NEAR(bias(ip).sum().item<double>(), 0.0, 1e-6);
    EXPECT_FALSE(bias->bias.defined());
    bias(ip).sum().backward();
    auto params = bias->parameters();
    ASSERT_EQ(params.size(), 1u);  // bias ∉ gs.params
    EXPECT_TRUE(params[0].is_same(bias->weight));
    EXPECT_TRUE(params[0].grad().defined());
  }
}

// Flux test/layers/conv.jl: "CNN" — train without bias: only a bias could fit the target.
TEST(FluxConv, CNNTrainWithoutBias) {
  Conv bias({2, 2}, {1, 3}, identity, {.bias = false});
  Tensor ip = torch::zeros(jl({28, 28, 1, 1}));
  Tensor op = torch::zeros(jl({27, 27, 3, 1})) + 2.0f;
  auto mse = [](const Tensor& a, const Tensor& b) { return (a - b).pow(2).mean(); };
  for (int i = 0; i < 100; ++i) {  // Flux: 10^3 steps of Descent(0.1); the loss cannot move at all
    bias->zero_grad();
    mse(bias(ip), op).backward();
    torch::NoGradGuard no_grad;
    for (auto& p : bias->parameters()) p.sub_(0.1 * p.grad());
  }
  EXPECT_NEAR(mse(bias(ip), op).item<double>(), 4.0, 1e-6);
}

// Flux test/layers/conv.jl: "CNN" / "Grouped Conv"
TEST(FluxConv, GroupedConv) {
  Tensor ip = torch::rand(jl({28, 100, 2}));
  Conv c({3}, {100, 25}, identity, {.groups = 5});
  EXPECT_EQ(shape(c->weight), jl({3, 20, 25}));
  EXPECT_EQ(shape(c(ip)), jl({26, 25, 2}));

  Tensor ip2 = torch::rand(jl({28, 28, 100, 2}));
  Conv c2({3, 3}, {100, 25}, identity, {.groups = 5});
  EXPECT_EQ(shape(c2->weight), jl({3, 3, 20, 25}));
  EXPECT_EQ(shape(c2(ip2)), jl({26, 26, 25, 2}));

  Tensor ip3 = torch::rand(jl({10, 11, 12, 100, 2}));
  Conv c3(jl({3, 4, 5}), {100, 25}, identity, {.groups = 5});
  EXPECT_EQ(shape(c3->weight), jl({3, 4, 5, 20, 25}));
  EXPECT_EQ(shape(c3(ip3)), jl({8, 8, 8, 25, 2}));

  // no non-integer multiplication factors
  EXPECT_ANY_THROW(Conv({2, 2}, {3, 10}, identity, {.groups = 2}));
  EXPECT_ANY_THROW(Conv({2, 2}, {2, 9}, identity, {.groups = 2}));
}

// Flux test/layers/conv.jl: "_channels_in, _channels_out"
TEST(FluxConv, ChannelsInChannelsOut) {
  EXPECT_EQ(Conv(jl({3}), {2, 4})->in_channels(), 2);
  EXPECT_EQ(Conv(jl({5, 6}), {2, 4})->in_channels(), 2);
  EXPECT_EQ(Conv(jl({1, 2, 3}), {2, 4})->in_channels(), 2);
  EXPECT_EQ(Conv(jl({3}), {2, 4})->out_channels(), 4);
  EXPECT_EQ(Conv(jl({5, 6}), {2, 4})->out_channels(), 4);
  EXPECT_EQ(Conv(jl({1, 2, 3}), {2, 4})->out_channels(), 4);

  EXPECT_EQ(ConvTranspose(jl({3}), {1, 4})->in_channels(), 1);
  EXPECT_EQ(ConvTranspose(jl({5, 6}), {2, 4})->in_channels(), 2);
  EXPECT_EQ(ConvTranspose(jl({1, 2, 3}), {3, 4})->in_channels(), 3);
  EXPECT_EQ(ConvTranspose(jl({3}), {2, 1})->out_channels(), 1);
  EXPECT_EQ(ConvTranspose(jl({5, 6}), {2, 2})->out_channels(), 2);
  EXPECT_EQ(ConvTranspose(jl({1, 2, 3}), {2, 3})->out_channels(), 3);

  EXPECT_EQ(ConvTranspose(jl({6}), {8, 4}, identity, {.groups = 4})->in_channels(), 8);
  EXPECT_EQ(ConvTranspose(jl({5, 6}), {2, 4}, identity, {.groups = 2})->in_channels(), 2);
  EXPECT_EQ(ConvTranspose(jl({1, 2, 3}), {3, 6}, identity, {.groups = 3})->in_channels(), 3);

  EXPECT_EQ(ConvTranspose(jl({1}), {10, 15}, identity, {.groups = 5})->out_channels(), 15);
  EXPECT_EQ(ConvTranspose(jl({3, 2}), {10, 15}, identity, {.groups = 5})->out_channels(), 15);
  EXPECT_EQ(ConvTranspose(jl({5, 6}), {2, 2}, identity, {.groups = 2})->out_channels(), 2);

  torch::manual_seed(0);
  auto rnd = [](int64_t lo, int64_t hi) { return torch::randint(lo, hi + 1, {1}).item<int64_t>(); };  // rand(lo:hi)
  for (int i = 0; i < 10; ++i) {
    for (bool transpose : {false, true}) {
      const int64_t groups = rnd(1, 10);
      Shape kernel(static_cast<size_t>(rnd(1, 3)));
      for (auto& k : kernel) k = rnd(1, 5);
      const int64_t cin = rnd(1, 5) * groups, cout = rnd(1, 5) * groups;
      SCOPED_TRACE(std::string(transpose ? "ConvTranspose" : "Conv") + " " + tuple_string(kernel) + " " +
                   std::to_string(cin) + " => " + std::to_string(cout) + " groups=" + std::to_string(groups));
      if (transpose) {
        ConvTranspose l(kernel, {cin, cout}, identity, {.groups = groups});
        EXPECT_EQ(l->in_channels(), cin);
        EXPECT_EQ(l->out_channels(), cout);
      } else {
        Conv l(kernel, {cin, cout}, identity, {.groups = groups});
        EXPECT_EQ(l->in_channels(), cin);
        EXPECT_EQ(l->out_channels(), cout);
      }
    }
  }
}

// Flux test/layers/conv.jl: "asymmetric padding"
TEST(FluxConv, AsymmetricPadding) {
  Tensor r = torch::ones(jl({28, 28, 1, 1}));
  Conv m({3, 3}, {1, 1}, relu, {.pad = {1, 2, 0, 1}});  // Flux pad = (0, 1, 1, 2): W (0, 1), H (1, 2)
  {
    torch::NoGradGuard no_grad;
    m->weight.fill_(1.0);
    m->bias.fill_(0.0);
  }
  Tensor y = m(r)[0][0];  // Flux y_hat = m(r)[:, :, 1, 1] is (W, H); ours [H, W]
  EXPECT_EQ(shape(y), jl({27, 29}));
  auto at = [&](int64_t w, int64_t h) { return y[h][w].item<double>(); };  // Flux y_hat[w + 1, h + 1]
  EXPECT_NEAR(at(0, 0), 6.0, 1e-5);
  EXPECT_NEAR(at(1, 1), 9.0, 1e-5);
  EXPECT_NEAR(at(26, 0), 4.0, 1e-5);   // y_hat[end, 1]
  EXPECT_NEAR(at(0, 28), 3.0, 1e-5);   // y_hat[1, end]
  EXPECT_NEAR(at(0, 27), 6.0, 1e-5);   // y_hat[1, end-1]
  EXPECT_NEAR(at(26, 28), 2.0, 1e-5);  // y_hat[end, end]
}

// Flux test/layers/conv.jl: "Depthwise Conv"
TEST(FluxConv, DepthwiseConv) {
  Tensor r = torch::zeros(jl({28, 28, 3, 5}));
  Conv m1 = DepthwiseConv({2, 2}, {3, 15});
  EXPECT_EQ(m1(r).size(1), 15);
  Conv m2 = DepthwiseConv(jl({2, 3}), {3, 9});
  EXPECT_EQ(m2(r).size(1), 9);
  Conv m3 = DepthwiseConv(jl({2, 3}), {3, 9}, identity, {.bias = false});
  EXPECT_EQ(m2(r).size(1), 9);  // (sic: Flux tests m2 again)
  EXPECT_EQ(m3(r).size(1), 9);
  EXPECT_ANY_THROW(DepthwiseConv({2, 2}, {3, 10}));  // no non-integer multiplication factors
}

// Flux test/layers/conv.jl: "ConvTranspose"
TEST(FluxConv, ConvTranspose) {
  Tensor x = torch::zeros(jl({5, 5, 1, 1}));
  Tensor y = Conv({3, 3}, {1, 1})(x);
  Tensor x_hat1 = ConvTranspose({3, 3}, {1, 1})(y);
  Tensor x_hat2 = ConvTranspose({3, 3}, {1, 1}, identity, {.bias = false})(y);
  EXPECT_EQ(shape(x_hat1), shape(x));
  EXPECT_EQ(shape(x_hat2), shape(x));

  // The gradient call does not throw (issue 900).
  ConvTranspose m({3, 3}, {1, 1});
  EXPECT_NO_THROW(m(x).sum().backward());
  EXPECT_TRUE(has_grads(*m));

  Tensor x2 = torch::zeros(jl({5, 5, 2, 4}));
  ConvTranspose m2x({3, 3}, {2, 3});
  EXPECT_NO_THROW(m2x(x2).sum().backward());
  EXPECT_TRUE(has_grads(*m2x));

  // groups
  Tensor xg = torch::randn(jl({10, 10, 2, 3}));
  ConvTranspose g1({3, 3}, {2, 4}, identity, {.pad = SamePad{}});
  EXPECT_EQ(shape(g1->weight), jl({3, 3, 4, 2}));
  EXPECT_EQ(shape(g1(xg)), jl({10, 10, 4, 3}));
  ConvTranspose g2({3, 3}, {2, 4}, identity, {.pad = SamePad{}, .groups = 2});
  EXPECT_EQ(shape(g2->weight), jl({3, 3, 2, 2}));
  EXPECT_EQ(shape(g1(xg)), shape(g2(xg)));
  EXPECT_NO_THROW(g2(xg).sum().backward());
  EXPECT_TRUE(has_grads(*g2));

  Tensor x1d = torch::randn(jl({10, 2, 1}));
  ConvTranspose t1({3}, {2, 4}, identity, {.pad = SamePad{}, .groups = 2});
  EXPECT_EQ(shape(t1(x1d)), jl({10, 4, 1}));
  EXPECT_EQ(t1->weight.numel(), 3 * (2 * 4) / 2);

  Tensor x2d = torch::randn(jl({10, 11, 4, 2}));
  ConvTranspose t2(jl({3, 5}), {4, 4}, identity, {.pad = SamePad{}, .groups = 4});
  EXPECT_EQ(shape(t2(x2d)), jl({10, 11, 4, 2}));
  EXPECT_EQ(t2->weight.numel(), (3 * 5) * (4 * 4) / 4);

  Tensor x3d = torch::randn(jl({10, 11, 12, 3, 2}));
  ConvTranspose t3(jl({3, 5, 3}), {3, 6}, identity, {.pad = SamePad{}, .groups = 3});
  EXPECT_EQ(shape(t3(x3d)), jl({10, 11, 12, 6, 2}));
  EXPECT_EQ(t3->weight.numel(), (3 * 5 * 3) * (3 * 6) / 3);

  const std::string shown = ConvTranspose({3, 3}, {2, 4}, identity, {.groups = 2})->repr();
  EXPECT_NE(shown.find("groups=2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("2 => 4"), std::string::npos) << shown;

  // outpad for stride > 1: Flux outpad = (1, 0) adds one to W (our last dimension).
  Tensor xo = torch::randn(jl({10, 11, 3, 2}));
  ConvTranspose o1(jl({3, 5}), {3, 6}, identity, {.stride = 3});
  ConvTranspose o2(jl({3, 5}), {3, 6}, identity, {.stride = 3, .outpad = jl({1, 0})});
  EXPECT_EQ(spatial(o2(xo)), (Shape{o1(xo).size(2) + 0, o1(xo).size(3) + 1}));

  Tensor xo3 = torch::randn(jl({10, 11, 12, 3, 2}));
  ConvTranspose p1(jl({3, 5, 3}), {3, 6}, identity, {.stride = 3});
  ConvTranspose p2(jl({3, 5, 3}), {3, 6}, identity, {.stride = 3, .outpad = jl({1, 0, 1})});
  Tensor q1 = p1(xo3);
  EXPECT_EQ(spatial(p2(xo3)), (Shape{q1.size(2) + 1, q1.size(3) + 0, q1.size(4) + 1}));
}

// Flux test/layers/conv.jl: "CrossCor"
TEST(FluxConv, CrossCor) {
  Tensor x = torch::rand(jl({28, 28, 1, 1}));
  Tensor w = torch::rand(jl({2, 2, 1, 1}));
  CrossCor y(w, torch::tensor({0.0}, torch::kFloat64));
  // sum(w .* x[1:2, 1:2, :, :]) ≈ y(x)[1, 1, 1, 1]
  EXPECT_NEAR((w[0][0] * x[0][0].slice(0, 0, 2).slice(1, 0, 2)).sum().item<double>(), y(x)[0][0][0][0].item<double>(),
              2e-7 * std::abs(y(x)[0][0][0][0].item<double>()) + 1e-7);

  Tensor r = torch::zeros(jl({28, 28, 1, 5}));
  Chain m(CrossCor({2, 2}, {1, 16}, relu), MaxPool({2, 2}), CrossCor({2, 2}, {16, 8}, relu, {.bias = false}), MaxPool({2, 2}),
          [](const Tensor& v) { return v.reshape({v.size(0), -1}); }, Dense({288, 10}), softmax);
  EXPECT_EQ(shape(m(r)), jl({10, 5}));
  EXPECT_FALSE(torch::equal(y(x), Conv(w, torch::tensor({0.0}, torch::kFloat64))(x)));
  // CrossCor(w[end:-1:1, end:-1:1, :, :]) ≈ Conv(w)
  EXPECT_TRUE(close(CrossCor(w.flip({2, 3}), torch::tensor({0.0}, torch::kFloat64))(x),
                    Conv(w, torch::tensor({0.0}, torch::kFloat64))(x), 1e-6, 1e-7));
}

// Flux test/layers/conv.jl: "Conv with non quadratic window #700"
TEST(FluxConv, ConvWithNonQuadraticWindow700) {
  Tensor data = torch::zeros(jl({7, 7, 1, 1}));
  data[0][0][3][3] = 1;  // data[4, 4, 1, 1] = 1

  Conv l({3, 3}, {1, 1});
  Tensor expected = torch::zeros(jl({5, 5, 1, 1}));
  expected[0][0].slice(0, 1, 4).slice(1, 1, 4).copy_(l->flux_weight().detach()[0][0]);  // [2:end-1, 2:end-1] = l.weight
  EXPECT_TRUE(close(expected, l(data)));

  Conv l2(jl({3, 1}), {1, 1});  // Flux (3, 1): three along W
  Tensor expected2 = torch::zeros(jl({5, 7, 1, 1}));
  expected2[0][0][3].slice(0, 1, 4).copy_(l2->flux_weight().detach()[0][0][0]);  // expected[2:end-1, 4, 1, 1]
  EXPECT_TRUE(close(expected2, l2(data)));

  Conv l3(jl({1, 3}), {1, 1});  // three along H
  Tensor expected3 = torch::zeros(jl({7, 5, 1, 1}));
  expected3[0][0].slice(0, 1, 4).select(1, 3).copy_(l3->flux_weight().detach()[0][0].select(1, 0));  // expected[4, 2:end-1, 1, 1]
  EXPECT_TRUE(close(expected3, l3(data)));

  EXPECT_NO_THROW(Conv(jl({6, 1}), {1, 1}, sigmoid)(torch::randn(jl({10, 10, 1, 1}))));
}

// Flux test/layers/conv.jl: "$ltype $(nd)D symmetric non-constant padding"
TEST(FluxConv, SymmetricNonConstantPadding) {
  for (Kind kind : all_kinds) {
    for (int64_t nd = 1; nd <= 3; ++nd) {
      SCOPED_TRACE(std::string(kind_name(kind)) + " " + std::to_string(nd) + "D");
      Shape kernel(static_cast<size_t>(nd), 3);
      Shape julia_data(static_cast<size_t>(nd), 8);  // kernel .+ 5
      julia_data.push_back(1);
      julia_data.push_back(1);
      Tensor data = torch::ones(jl(julia_data));
      Shape pad, expanded;  // Flux pad = (1, 2, ..., nd), expanded (1, 1, 2, 2, ...), both reversed here
      for (int64_t i = 1; i <= nd; ++i) pad.push_back(i);
      for (int64_t i = 1; i <= nd; ++i) {
        expanded.push_back(i);
        expanded.push_back(i);
      }
      pad = jl(pad);
      expanded = jl(expanded);  // (p_nd, p_nd, ..., p1, p1): pairs stay (lo, hi)
      Layer l = make(kind, kernel, pad);
      Layer l_expanded = make(kind, kernel, expanded);
      Tensor y = l(data);
      EXPECT_EQ(shape(y), shape(l_expanded(data)));
      // By hand, Julia dimension i has pad i at both ends.
      Shape sizes = spatial(y);
      for (int64_t d = 0; d < nd; ++d) {
        const int64_t p = nd - d;  // our dimension d is Julia dimension nd - d
        EXPECT_EQ(sizes[static_cast<size_t>(d)], kind == Kind::conv_transpose ? 7 + 3 - 2 * p : 8 + 2 * p - 3 + 1);
      }
    }
  }
}

// Flux test/layers/conv.jl: "$ltype SamePad kernelsize $k"
TEST(FluxConv, SamePadKernelsize) {
  const std::vector<Shape> ks{{1}, {2}, {3}, {4, 5}, {6, 7, 8}};  // Flux's tuples
  for (Kind kind : all_kinds) {
    for (const Shape& k : ks) {
      SCOPED_TRACE(std::string(kind_name(kind)) + " kernel " + tuple_string(k));
      Shape julia_data = k;
      for (auto& d : julia_data) d += 3;
      julia_data.push_back(1);
      julia_data.push_back(1);
      Tensor data = torch::ones(jl(julia_data));
      Shape kernel = jl(k);

      EXPECT_EQ(shape(make(kind, kernel, SamePad{})(data)), shape(data));

      Shape dilation = jl(k);
      for (auto& d : dilation) d /= 2;  // k .÷ 2 (0 for a kernel of 1, which has a single tap)
      EXPECT_EQ(shape(make(kind, kernel, SamePad{}, 1, dilation)(data)), shape(data));

      const int64_t stride = 3;
      Shape out = spatial(make(kind, kernel, SamePad{}, stride)(data));
      Shape want = spatial(data);
      for (auto& s : want) s = kind == Kind::conv_transpose ? stride * s : (s + stride - 1) / stride;  // cld
      EXPECT_EQ(out, want);
    }
  }
}

// spec (/tmp/api-spec.md): ConvTranspose with SamePad when stride > kernel.
TEST(FluxConv, ConvTransposeSamePadStrideAboveKernel) {
  for (int64_t k : {1, 2}) {
    ConvTranspose t({k, k}, {1, 1}, identity, {.stride = 3, .pad = SamePad{}});
    EXPECT_EQ(shape(t(torch::ones({1, 1, 4, 5}))), (Shape{1, 1, 12, 15})) << "kernel " << k;
    ConvTranspose t1({k}, {1, 1}, identity, {.stride = 3, .pad = SamePad{}});
    EXPECT_EQ(shape(t1(torch::ones({1, 1, 4}))), (Shape{1, 1, 12})) << "kernel " << k;
  }
}

// Flux test/layers/conv.jl: "$ltype SamePad windowsize $k" for MeanPool, MaxPool
TEST(FluxConv, SamePadWindowsize) {
  const std::vector<Shape> ks{{1}, {2}, {3}, {4, 5}, {6, 7, 8}};
  for (bool max : {false, true}) {
    for (const Shape& k : ks) {
      SCOPED_TRACE(std::string(max ? "MaxPool" : "MeanPool") + " window " + tuple_string(k));
      Shape julia_data = k;
      for (auto& d : julia_data) d += 3;
      julia_data.push_back(1);
      julia_data.push_back(1);
      Tensor data = torch::ones(jl(julia_data));
      Shape window = jl(k);
      Tensor y = max ? MaxPool(window, {.pad = SamePad{}})(data) : MeanPool(window, {.pad = SamePad{}})(data);
      Shape want = spatial(data);
      for (size_t d = 0; d < want.size(); ++d) want[d] = (want[d] + window[d] - 1) / window[d];  // cld(size, k)
      EXPECT_EQ(spatial(y), want);
    }
  }
}

// Flux test/layers/conv.jl: "bugs fixed" (issue 1421)
TEST(FluxConv, BugsFixed) {
  Conv c({5, 5}, {10, 20}, identity, {.init = [](at::IntArrayRef d) { return torch::randn(d, torch::kFloat64); }});
  EXPECT_EQ(c->bias.scalar_type(), torch::kFloat64);  // init = Base.randn: a Float64 bias
}

// Flux test/layers/conv.jl: "constructors: $fun" for Conv, CrossCor, ConvTranspose, DepthwiseConv
TEST(FluxConv, Constructors) {
  auto r = [](Shape julia) { return torch::rand(jl(julia), torch::kFloat64); };
  // fun(rand(2, 3, 4)).bias isa Vector{Float64}
  EXPECT_EQ(Conv(r({2, 3, 4}))->bias.scalar_type(), torch::kFloat64);
  EXPECT_EQ(CrossCor(r({2, 3, 4}))->bias.scalar_type(), torch::kFloat64);
  EXPECT_EQ(ConvTranspose(r({2, 3, 4}))->bias.scalar_type(), torch::kFloat64);
  EXPECT_EQ(DepthwiseConv(r({2, 3, 4}))->bias.scalar_type(), torch::kFloat64);
  EXPECT_EQ(shape(Conv(r({2, 3, 4}))->bias), (Shape{4}));
  EXPECT_EQ(shape(ConvTranspose(r({2, 3, 4}))->bias), (Shape{3}));
  EXPECT_EQ(shape(DepthwiseConv(r({2, 3, 4}))->bias), (Shape{12}));  // in 3 × multiplier 4
  // fun(rand(2, 3, 4, 5), false).bias === false
  EXPECT_FALSE(Conv(r({2, 3, 4, 5}), false)->bias.defined());
  EXPECT_FALSE(CrossCor(r({2, 3, 4, 5}), false)->bias.defined());
  EXPECT_FALSE(ConvTranspose(r({2, 3, 4, 5}), false)->bias.defined());
  EXPECT_FALSE(DepthwiseConv(r({2, 3, 4, 5}), false)->bias.defined());
  // Conv: fun(rand(2, 3, 4, 5, 6), rand(6)); DepthwiseConv: fun(rand(2, 3, 4, 5, 6), rand(30))
  EXPECT_EQ(Conv(r({2, 3, 4, 5, 6}), torch::rand({6}, torch::kFloat64))->bias.scalar_type(), torch::kFloat64);
  EXPECT_EQ(DepthwiseConv(r({2, 3, 4, 5, 6}), torch::rand({30}, torch::kFloat64))->bias.scalar_type(), torch::kFloat64);
  // fun(rand(2, 3, 4), rand(6)): DimensionMismatch
  EXPECT_THROW(Conv(r({2, 3, 4}), torch::rand({6}, torch::kFloat64)), std::invalid_argument);
  EXPECT_THROW(CrossCor(r({2, 3, 4}), torch::rand({6}, torch::kFloat64)), std::invalid_argument);
  EXPECT_THROW(ConvTranspose(r({2, 3, 4}), torch::rand({6}, torch::kFloat64)), std::invalid_argument);
  EXPECT_THROW(DepthwiseConv(r({2, 3, 4}), torch::rand({6}, torch::kFloat64)), std::invalid_argument);
}

// spec (/tmp/api-spec.md): DepthwiseConv(weight) reads Flux's (k..., in, mult) as
// (k..., 1, in·mult): a Conv with groups = in.
TEST(FluxConv, DepthwiseConvFromWeightIsAGroupedConv) {
  Tensor w = torch::randn({2, 3, 4}, torch::kFloat64);  // Flux (k = 4, in = 3, mult = 2)
  Tensor b = torch::randn({6}, torch::kFloat64);
  Conv d = DepthwiseConv(w, b, relu);
  EXPECT_EQ(d->groups, 3);
  EXPECT_EQ(d->in_channels(), 3);
  EXPECT_EQ(d->out_channels(), 6);
  Tensor x = torch::randn({2, 3, 9}, torch::kFloat64);
  Tensor reshaped = w.reshape({6, 1, 4});  // Flux's reshape, same memory
  Conv same(reshaped, b, relu, {.groups = 3});
  EXPECT_TRUE(close(d(x), same(x), 1e-10, 1e-12));
  // By torch: output channel o sees input channel o ÷ 2 with its kernel flipped (a true convolution).
  Tensor ref = torch::relu(torch::conv1d(x, reshaped.flip({2}), b, Shape{1}, Shape{0}, Shape{1}, 3));
  EXPECT_TRUE(close(d(x), ref, 1e-10, 1e-12));
}

// Flux test/layers/conv.jl: "type matching"
TEST(FluxConv, TypeMatching) {
  Tensor x = torch::rand(jl({10, 2, 5}), torch::kFloat64);
  Tensor xi = torch::randint(-3, 4, jl({10, 2, 5}), torch::kInt64);
  Conv c1({3}, {2, 4}, relu);
  EXPECT_EQ(c1(x).scalar_type(), torch::kFloat32);
  EXPECT_EQ(c1(x).dim(), 3);
  EXPECT_EQ(c1(xi).scalar_type(), torch::kFloat32);
  CrossCor c2({3}, {2, 1}, relu);
  EXPECT_EQ(c2(x).scalar_type(), torch::kFloat32);
  ConvTranspose c3({3}, {2, 4}, relu);
  EXPECT_EQ(c3(x).scalar_type(), torch::kFloat32);
  EXPECT_EQ(c3(x).dim(), 3);
}
