// optimize_for_inference (issue 16): the optimised model computes what the model computes
// in test mode, for each pattern the engine fuses and for every registry model; the
// original is left untouched; bad input and options are refused clearly.
#include "randomise_norms.h"
#include <metalhead/inference.h>
#include <metalhead/metalhead.h>

#include <ATen/Parallel.h>

#include "flux/testing.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace {

using flux::Chain;
using flux::Layer;
using metalhead::Model;

// The CPU's flags as the kernel lists them in /proc/cpuinfo.
std::set<std::string> cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  return flags;
}

// A model of `body` (on [N, c, H, W] images) with a flatten-and-Dense head.
Model model_of(Chain body, int64_t c) { return Model("Test", std::move(body), Chain(flux::flatten), c); }

// BatchNorm statistics that are not the identity, so folding is visible.
// max |optimised − plain| / max |plain|, in test mode.
double relative_error(const Model& model, const torch::Tensor& x, metalhead::Precision precision = metalhead::Precision::fp32,
                      bool native = false, const std::vector<std::string>& expect = {},
                      metalhead::Layout layout = metalhead::Layout::automatic, const std::vector<std::string>& absent = {}) {
  flux::testmode(model);
  torch::Tensor reference;
  {
    torch::NoGradGuard no_grad;
    reference = model(x);
  }
  Model fast = metalhead::optimize_for_inference(model, {.precision = precision, .layout = layout});
  const torch::Tensor y = fast(x);
  std::ostringstream printed;
  printed << fast;
  if (layout == metalhead::Layout::blocked) {
    EXPECT_NE(printed.str().find("activations in 16-channel blocks"), std::string::npos) << printed.str();
  }
  if (native) {
    // Only reshapes (flattens) may run on libtorch: every other operation has a oneDNN kernel.
    const std::string report = printed.str();
    const auto libtorch = report.find("other operations on libtorch");
    EXPECT_TRUE(report.find("; 0 other operations") != std::string::npos ||
                report.find("(aten::reshape ×1)", libtorch) != std::string::npos ||
                report.find("(aten::reshape ×2)", libtorch) != std::string::npos)
        << report;
  }
  for (const std::string& part : expect) EXPECT_NE(printed.str().find(part), std::string::npos) << part << " in " << printed.str();
  for (const std::string& part : absent) EXPECT_EQ(printed.str().find(part), std::string::npos) << part << " in " << printed.str();
  EXPECT_EQ(y.sizes(), reference.sizes());
  EXPECT_EQ(y.scalar_type(), torch::kFloat);
  const torch::Tensor again = fast(x);  // the second run executes the built primitives
  EXPECT_TRUE(torch::equal(y, again));
  return ((y - reference).abs().max() / reference.abs().max().clamp_min(1e-12)).item<double>();
}

struct Pattern {
  std::string name;
  std::function<Chain()> body;
  int64_t channels = 8, side = 12;
  bool native = true;  // every operation on oneDNN (but the head's flatten)
  std::vector<std::string> expect = {};  // in what the optimised model prints
};

std::vector<Pattern> patterns() {
  using namespace flux;
  auto conv_bn = [](Activation a) {
    return [a] { return Chain(Conv({3, 3}, {8, 16}, identity, {.pad = 1, .bias = false}), BatchNorm(16, a)); };
  };
  std::vector<Pattern> p;
  for (const auto& [name, a] : std::vector<std::pair<std::string, Activation>>{
           {"relu", relu}, {"relu6", relu6}, {"hardswish", hardswish}, {"hardsigmoid", hardsigmoid},
           {"swish", swish}, {"sigmoid", sigmoid}, {"gelu", gelu}, {"gelu_erf", gelu_erf}, {"elu", elu}, {"tanh", flux::tanh}, {"leakyrelu", leakyrelu},
           {"identity", identity}}) {
    // Flux's elu and leakyrelu are written out (where, expm1): they run on libtorch.
    p.push_back(Pattern{"conv_bn_" + name, conv_bn(a), 8, 12, name != "elu" && name != "leakyrelu"});
  }
  p.push_back(Pattern{"conv_relu_with_bias", [] { return Chain(Conv({3, 3}, {8, 16}, relu, {.stride = 2, .pad = 1})); }});
  p.push_back(Pattern{"depthwise_bn", [] {
                 return Chain(Conv({3, 3}, {8, 8}, identity, {.pad = 1, .groups = 8, .bias = false}), BatchNorm(8, relu6));
               }});
  p.push_back(Pattern{"grouped_dilated", [] {
                 return Chain(Conv({3, 3}, {8, 16}, identity, {.pad = 2, .dilation = 2, .groups = 4}), BatchNorm(16, relu));
               }});
  p.push_back(Pattern{"residual", [] {
                 return Chain(SkipConnection(Chain(Conv({3, 3}, {8, 8}, identity, {.pad = 1}), BatchNorm(8)), plus), relu);
               }});
  // One convolution between the residual's start and its sum: its input is the residual
  // (EfficientNetV2's first stage), so its buffer cannot take the result.
  for (const int64_t k : {1, 3}) {
    p.push_back(Pattern{"residual_over_one_conv_" + std::to_string(k), [k] {
                   return Chain(Conv({1, 1}, {8, 16}, relu),
                                SkipConnection(Chain(Conv({k, k}, {16, 16}, identity, {.pad = k / 2, .bias = false}),
                                                     BatchNorm(16, swish)),
                                               plus));
                 }});
  }
  p.push_back(Pattern{"residual_then_conv", [] {
                 return Chain(Conv({1, 1}, {8, 8}, relu),
                              SkipConnection(Chain(Conv({3, 3}, {8, 8}, relu, {.pad = 1}), Conv({1, 1}, {8, 8})), plus),
                              Conv({1, 1}, {8, 4}, relu));
               }});
  p.push_back(Pattern{"squeeze_excite", [] {
                 return Chain(Conv({1, 1}, {8, 16}, relu),
                              metalhead::layers::squeeze_excite(16, {.reduction = 4, .gate_activation = hardsigmoid}));
               }});
  p.push_back(Pattern{"max_pool", [] { return Chain(Conv({3, 3}, {8, 8}, relu, {.pad = 1}), MaxPool({3, 3}, {.pad = 1, .stride = 2})); }});
  p.push_back(Pattern{"mean_pool", [] { return Chain(Conv({3, 3}, {8, 8}, relu, {.pad = 1}), MeanPool({2, 2})); }});
  p.push_back(Pattern{"global_pool", [] { return Chain(Conv({3, 3}, {8, 8}, relu, {.pad = 1}), GlobalMeanPool()); }});
  p.push_back(Pattern{"concat", [] {
                 return Chain(Parallel(cat(1), Conv({1, 1}, {8, 8}, relu), Conv({3, 3}, {8, 16}, relu, {.pad = 1})),
                              BatchNorm(24, relu), Conv({1, 1}, {24, 8}));
               }});
  p.push_back(Pattern{"dense_block", [] {
                 auto layer = [](int64_t c) {
                   return SkipConnection(Chain(BatchNorm(c, relu), Conv({1, 1}, {c, 16}, identity, {.bias = false}),
                                               BatchNorm(16, relu), Conv({3, 3}, {16, 4}, identity, {.pad = 1, .bias = false})),
                                         cat(1));
                 };
                 return Chain(layer(8), layer(12), layer(16), BatchNorm(20, relu), Conv({1, 1}, {20, 8}), MeanPool({2, 2}));
               }});
  // A plain channel slice concatenated with a convolution's output, as in ShuffleNet's
  // units: the two inputs come in different layouts; with 24 channels, in part blocks.
  for (const int64_t half : {16, 24, 48}) {
    p.push_back(Pattern{"concat_slice_and_conv_" + std::to_string(half), [half] {
                   return Chain(Conv({1, 1}, {8, 2 * half}, relu),
                                Parallel(cat(1), fn("first_half", [half](const torch::Tensor& x) { return x.narrow(1, 0, half); }),
                                         Chain(fn("second_half", [half](const torch::Tensor& x) { return x.narrow(1, half, half); }),
                                               Conv({3, 3}, {half, half}, relu, {.pad = 1}))),
                                Conv({1, 1}, {2 * half, 8}));
                 }, 8, 12, false});
    // Two convolutions' outputs (both laid out by oneDNN) of `half` channels each.
    p.push_back(Pattern{"concat_convs_" + std::to_string(half), [half] {
                   return Chain(Parallel(cat(1), Conv({1, 1}, {8, half}, relu), Conv({3, 3}, {8, half}, relu, {.pad = 1})),
                                Conv({1, 1}, {2 * half, 8}));
                 }});
  }
  // Whole 16-channel blocks: at batch 1 in blocks the convolutions write their parts of the
  // concatenations in place, DenseNet's chain growing in one storage.
  p.push_back(Pattern{"dense_block_whole_blocks", [] {
                 auto layer = [](int64_t c) {
                   return SkipConnection(Chain(BatchNorm(c, relu), Conv({1, 1}, {c, 32}, identity, {.bias = false}),
                                               BatchNorm(32, relu), Conv({3, 3}, {32, 16}, identity, {.pad = 1, .bias = false})),
                                         cat(1));
                 };
                 return Chain(layer(16), layer(32), layer(48), BatchNorm(64, relu), Conv({1, 1}, {64, 8}));
               }, 16});
  p.push_back(Pattern{"inception_whole_blocks", [] {
                 return Chain(Parallel(cat(1), Conv({1, 1}, {16, 16}, relu), Conv({3, 3}, {16, 32}, relu, {.pad = 1}),
                                       Chain(MeanPool({3, 3}, {.pad = 1, .stride = 1}), Conv({1, 1}, {16, 16}, relu))),
                              Conv({1, 1}, {64, 8}));
               }, 16});
  p.push_back(Pattern{"norm_first", [] { return Chain(BatchNorm(8), Conv({1, 1}, {8, 8})); }});
  p.push_back(Pattern{"max_pool_ceil", [] {
                 return Chain(Conv({3, 3}, {8, 8}, relu), MaxPool({3, 3}, {.stride = 2}), MaxPool({2, 2}, {.pad = 1}));
               }, 8, 13});
  p.push_back(Pattern{"dense_bn", [] { return Chain(flatten, Dense({8 * 12 * 12, 32}), BatchNorm(32, relu), Dense({32, 10})); }});
  p.push_back(Pattern{"dense_gelu", [] { return Chain(flatten, Dense({8 * 12 * 12, 32}, gelu), Dense({32, 10})); }});
  // Transformer parts, on the map's 144 positions as tokens of 8 channels.
  auto tokens = fn("tokens", [](const torch::Tensor& x) { return x.flatten(2).transpose(1, 2); });
  p.push_back(Pattern{"layer_norm_dense_residual", [tokens] {
                 return Chain(tokens, metalhead::layers::LayerNormV2({8}),
                              SkipConnection(Chain(metalhead::layers::LayerNormV2({8}), Dense({8, 32}, gelu), Dense({32, 8})), plus));
               }, 8, 12, false, {"2 inner products", "2 layer norms", "1 with fused activations, 1 with fused residual sums"}});
  p.push_back(Pattern{"self_attention", [tokens] {
                 return Chain(tokens, SkipConnection(Chain(metalhead::layers::LayerNormV2({8}), metalhead::layers::MultiHeadSelfAttention(
                                                                             8, 2, {.qkv_bias = true})),
                                                     plus));
               }, 8, 12, false, {"2 matrix products", "1 softmaxes", "1 layer norms", "1 with fused residual sums"}});
  // A strided constant operand (a transposed map) is made dense once for oneDNN's binary.
  p.push_back(Pattern{"add_strided_constant", [] {
                 const torch::Tensor c = torch::randn({1, 8, 12, 12}).transpose(2, 3);
                 return Chain(fn("plus_transposed", [c](const torch::Tensor& x) { return x + c; }), Conv({1, 1}, {8, 8}));
               }});
  p.push_back(Pattern{"softmax", [] {
                 return Chain(Conv({1, 1}, {8, 8}), fn("softmax", [](const torch::Tensor& x) { return x.softmax(1); }));
               }, 8, 12, true, {"1 softmaxes"}});
  return p;
}

}  // namespace

// Each pattern in oneDNN's own layouts, in 16-channel blocks and channels-last, at batch 1
// (in-place concatenations), 2 and 8 (where a layout bug reading unwritten memory showed),
// and in the automatic choice at 8.
TEST(OptimizeForInference, EachFusedPatternMatchesThePlainModel) {
  using metalhead::Layout;
  for (const Pattern& p : patterns()) {
    for (const auto& [layout, batch] : std::vector<std::pair<Layout, int64_t>>{
             {Layout::native, 1}, {Layout::blocked, 1}, {Layout::native, 2}, {Layout::blocked, 2}, {Layout::native, 8},
             {Layout::blocked, 8}, {Layout::automatic, 8}, {Layout::channels_last, 1}, {Layout::channels_last, 2}}) {
      SCOPED_TRACE(p.name + " in layout " + std::to_string(static_cast<int>(layout)) + " at batch " + std::to_string(batch));
      torch::manual_seed(1);
      Model m = model_of(p.body(), p.channels);
      randomise_norms(*m.ptr());
      const auto x = torch::randn({batch, p.channels, p.side, p.side});
      try {
        EXPECT_LT(relative_error(m, x, metalhead::Precision::fp32, p.native, p.expect, layout), 1e-5);
      } catch (const std::exception& e) {
        ADD_FAILURE() << p.name << ": " << e.what();
      }
    }
  }
}



namespace {

// Every registry model but those above 150M parameters (`make parity` runs them too).
std::vector<std::string> registry_models() {
  const char* all = std::getenv("METALHEAD_PARITY_ALL");
  const bool everything = all && *all && std::string(all) != "0";
  const std::set<std::string> largest = {"vit_huge_patch14_224", "vit_giant_patch14_224", "vit_gigantic_patch14_224",
                                         "vgg19_bn", "vgg19", "vgg16", "vgg16_bn", "vgg13", "vgg13_bn", "vgg11",
                                         "vgg11_bn", "vit_large_patch16_224", "vit_large_patch14_224",
                                         "regnet_y_128gf", "convnext_large", "efficientnet_v2_l"};
  std::vector<std::string> names;
  for (const auto& info : metalhead::registered_models()) {
    if (everything || !largest.count(info.name)) names.push_back(info.name);
  }
  return names;
}

class EveryModel : public testing::TestWithParam<std::string> {};


// The registry model's optimised logits against its plain ones, relative.
double registry_error(const std::string& name, metalhead::Layout layout) {
  torch::manual_seed(0);
  Model m = metalhead::create_model(name, {.nclasses = 10});
  randomise_norms(*m.ptr());
  // A small input where the model takes one (fixed-size models keep their own).
  torch::Tensor x = torch::randn({2, 3, 64, 64});
  try {
    torch::NoGradGuard no_grad;
    flux::testmode(m);
    m(x);
  } catch (const std::exception&) {
    const auto& size = metalhead::model_info(name).input_size;
    x = torch::randn({1, 3, size[0], size[1]});
  }
  return relative_error(m, x, metalhead::Precision::fp32, false, {}, layout);
}

}  // namespace

TEST_P(EveryModel, OptimisedLogitsMatchThePlainModel) {
  EXPECT_LT(registry_error(GetParam(), metalhead::Layout::automatic), 1e-4) << GetParam();
}

// At batch 2 the automatic layout is oneDNN's own: one model of each family in blocks too.
TEST(OptimizeForInference, BlockedLayoutMatchesThePlainModelInEveryFamily) {
  for (const std::string name : {"resnet18", "resnext50_32x4d", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
                                 "densenet121", "inception_v3", "googlenet", "shufflenet_v2_x0_5", "squeezenet1_1",
                                 "mnasnet0_5", "regnet_y_400mf", "convnext_tiny", "vit_b_32", "swin_t", "maxvit_t"}) {
    EXPECT_LT(registry_error(name, metalhead::Layout::blocked), 1e-4) << name;
  }
}

// Channels-last, where libtorch's operators read oneDNN's results as strided views: a model
// of each kind of operation mix.
TEST(OptimizeForInference, ChannelsLastMatchesThePlainModel) {
  for (const std::string name : {"resnet18", "mobilenet_v3_small", "densenet121", "inception_v3", "shufflenet_v2_x0_5",
                                 "convnext_tiny", "vit_b_32", "swin_t", "maxvit_t"}) {
    EXPECT_LT(registry_error(name, metalhead::Layout::channels_last), 1e-4) << name;
  }
}

// SiLU after a convolution against the function computed in double, over [-100, 100]: an
// identity 1x1 convolution passes the input through exactly. In fp32 the engine's own
// kernel (where the CPU has AVX-512) is within 1e-6, oneDNN's (elsewhere) within 2e-6 and
// flushes tiny results to zero. In bf16 (oneDNN's swish, fused) the result is the exact
// value rounded to nearest even.
TEST(OptimizeForInference, SiluMatchesTheExactFunction) {
  using metalhead::Layout;
  using metalhead::Precision;
  const std::set<std::string> flags = cpu_flags();
  const bool own = flags.count("avx512f") > 0;
  // 8 × 61 × 67 values: chunks for both threads and a part vector at the end.
  torch::Tensor x = torch::linspace(-100, 100, 8 * 61 * 67).reshape({1, 8, 61, 67});
  x.view({-1}).index_put_({torch::arange(0, x.numel(), 997)}, 0.f);
  for (const Precision precision : {Precision::fp32, Precision::bf16}) {
    if (precision == Precision::bf16 && !metalhead::cpu_has_bf16()) continue;
    const torch::Tensor in = precision == Precision::bf16 ? x.to(torch::kBFloat16).to(torch::kFloat) : x;
    const torch::Tensor xd = in.to(torch::kDouble), exact = xd / (1 + torch::exp(-xd));
    for (const Layout layout : {Layout::native, Layout::blocked}) {
      SCOPED_TRACE(std::string(precision == Precision::fp32 ? "fp32" : "bf16") + (layout == Layout::blocked ? " blocked" : ""));
      flux::Conv conv({1, 1}, {8, 8}, flux::swish, {.bias = false});
      {
        torch::NoGradGuard no_grad;
        conv->weight.copy_(torch::eye(8).reshape({8, 8, 1, 1}));
      }
      Model m = model_of(Chain(conv), 8);
      flux::testmode(m);
      const torch::Tensor y = metalhead::optimize_for_inference(m, {.precision = precision, .layout = layout})(in)
                                  .reshape(x.sizes()).to(torch::kDouble);
      if (precision == Precision::fp32) {
        EXPECT_LT(((y - exact).abs() / exact.abs().clamp_min(1e-30)).max().item<double>(), own ? 1e-6 : 2e-6);
        if (own) EXPECT_EQ((y == 0).sum().item<int64_t>(), (exact.to(torch::kFloat) == 0).sum().item<int64_t>());
      } else {
        // Nearest to the exact value: off by one bf16 step only where the exact value lies
        // within fp32 rounding of a halfway point. Below 1e-30 (x < -70) results only
        // need to be next to nothing.
        const torch::Tensor want = exact.to(torch::kFloat).to(torch::kBFloat16).to(torch::kDouble);
        const torch::Tensor step = want.abs().clamp_min(1e-30) * std::ldexp(1.0, -7);
        EXPECT_LE(((y - want).abs() / step).max().item<double>(), 1.0 + 1e-9);
        EXPECT_LT(((y != want) & (exact.abs() > 1e-30)).sum().item<int64_t>(), x.numel() / 1000);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryModel, testing::ValuesIn(registry_models()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(OptimizeForInference, LeavesTheOriginalAsItWas) {
  torch::manual_seed(2);
  Model m = metalhead::create_model("resnet18", {.nclasses = 10});
  randomise_norms(*m.ptr());
  flux::trainmode(m);  // a model in training: optimising must not change that
  std::vector<torch::Tensor> before;
  for (const auto& t : m.ptr()->parameters()) before.push_back(t.detach().clone());
  for (const auto& t : m.ptr()->buffers()) before.push_back(t.clone());
  std::vector<bool> grads;
  for (const auto& t : m.ptr()->parameters()) grads.push_back(t.requires_grad());
  const auto x = torch::randn({2, 3, 64, 64});

  Model fast = metalhead::optimize_for_inference(m);
  const torch::Tensor y = fast(x);
  EXPECT_TRUE(m.ptr()->is_training());
  size_t i = 0, changed = 0;
  for (const auto& t : m.ptr()->parameters()) changed += !torch::equal(t, before[i++]);
  for (const auto& t : m.ptr()->buffers()) changed += !torch::equal(t, before[i++]);
  EXPECT_EQ(changed, 0u);
  i = 0;
  for (const auto& t : m.ptr()->parameters()) EXPECT_EQ(t.requires_grad(), grads[i++]);
  // The optimised model keeps its own weights: training the original does not change it.
  {
    torch::NoGradGuard no_grad;
    for (auto& t : m.ptr()->parameters()) t.add_(1);
  }
  EXPECT_TRUE(torch::equal(fast(x), y));
  EXPECT_EQ(flux::parameter_count(*fast.ptr()), 0);  // inference only: nothing to train
}

TEST(OptimizeForInference, RefusesWhatItCannotDo) {
  Model m = metalhead::create_model("resnet18", {.nclasses = 10});
  Model fast = metalhead::optimize_for_inference(m);
  EXPECT_TRUE(metalhead::is_optimized(fast));
  EXPECT_FALSE(metalhead::is_optimized(m));
  expect_error<std::invalid_argument>([&] { metalhead::optimize_for_inference(fast); }, {"already optimised"});
  expect_error<std::invalid_argument>([&] { metalhead::optimize_for_inference(m, {.precision = metalhead::Precision::fp16}); },
                                      {"fp16", "CUDA"});
  expect_error<std::invalid_argument>([&] { metalhead::optimize_for_inference(m, {.threads = -1}); }, {"threads"});
  // Inputs: fp32 NCHW images with the model's channels.
  expect_error<std::invalid_argument>([&] { fast(torch::randn({2, 1, 32, 32})); }, {"ResNet", "[N, 3, H, W]", "[2, 1, 32, 32]"});
  expect_error<std::invalid_argument>([&] { fast(torch::randn({3, 32, 32})); }, {"ResNet", "[3, 32, 32]"});
  expect_error<std::invalid_argument>([&] { fast(torch::randn({1, 3, 32, 32}, torch::kDouble)); }, {"fp32"});
  expect_error<std::invalid_argument>([] { metalhead::precision_from_string("int8"); }, {"int8", "fp32, bf16, fp16"});
  expect_error<std::invalid_argument>([] { metalhead::layout_from_string("nhwc"); }, {"nhwc", "automatic, native, blocked, channels_last"});
  // A shape the model itself refuses is refused with the model's own message.
  Model vit = metalhead::create_model("vit_tiny_patch16_224", {.nclasses = 10});
  expect_error<std::exception>([&] { metalhead::optimize_for_inference(vit)(torch::randn({1, 3, 64, 64})); }, {});
}

TEST(OptimizeForInference, Bf16IsDetectedAsTheKernelReportsIt) {
  // Independent of our cpuid reading: the kernel's list of CPU flags.
  const std::set<std::string> flags = cpu_flags();
  const bool listed = flags.count("avx512_bf16") || flags.count("amx_bf16"), amx = flags.count("amx_bf16");
  EXPECT_EQ(metalhead::cpu_has_bf16(), listed);
  EXPECT_EQ(metalhead::cpu_has_amx_bf16(), amx);
  Model m = metalhead::create_model("resnet18", {.nclasses = 10});
  if (!listed) {
    expect_error<std::invalid_argument>([&] { metalhead::optimize_for_inference(m, {.precision = metalhead::Precision::bf16}); },
                                        {"bf16", "AVX512-BF16 or AMX"});
    GTEST_SKIP() << "this CPU has no bf16: the bf16 path is refused, as tested";
  }
  randomise_norms(*m.ptr());
  EXPECT_LT(relative_error(m, torch::randn({2, 3, 64, 64}), metalhead::Precision::bf16), 3e-2);
  // DenseNet's BatchNorms read bf16 maps and write bf16 for the convolutions after them.
  Model dense = metalhead::create_model("densenet121", {.nclasses = 10});
  randomise_norms(*dense.ptr());
  EXPECT_LT(relative_error(dense, torch::randn({2, 3, 64, 64}), metalhead::Precision::bf16), 3e-2);
  // bf16 in 16-channel blocks, as it runs from batch 8 where there is no AMX.
  const auto x = torch::randn({2, 3, 64, 64});
  EXPECT_LT(relative_error(dense, x, metalhead::Precision::bf16, false, {}, metalhead::Layout::blocked), 3e-2);
  Model mobile = metalhead::create_model("mobilenet_v3_small", {.nclasses = 10});
  randomise_norms(*mobile.ptr());
  EXPECT_LT(relative_error(mobile, x, metalhead::Precision::bf16, false, {}, metalhead::Layout::blocked), 3e-2);
  EXPECT_LT(relative_error(mobile, x, metalhead::Precision::bf16, false, {}, metalhead::Layout::native), 3e-2);
  std::ostringstream printed;
  printed << metalhead::optimize_for_inference(m, {.precision = metalhead::Precision::bf16});
  EXPECT_NE(printed.str().find("bf16"), std::string::npos) << printed.str();
}

// The automatic layout: blocks from batch 8, and below for depthwise convolutions,
// concatenations and Winograd's 3x3 convolutions; bf16 from batch 8, but in oneDNN's own
// layouts on AMX; channels-last for fp32 ConvNeXt.
TEST(OptimizeForInference, AutomaticLayoutFollowsTheBatch) {
  using metalhead::Precision;
  auto blocked = [](const std::string& name, int64_t batch, Precision precision, int64_t side = 32, bool winograd = true) {
    Model m = metalhead::create_model(name, {.nclasses = 10});
    flux::testmode(m);
    Model fast = metalhead::optimize_for_inference(m, {.precision = precision, .winograd = winograd});
    fast(torch::randn({batch, 3, side, side}));
    std::ostringstream printed;
    printed << fast;
    return printed.str().find("activations in 16-channel blocks") != std::string::npos;
  };
  EXPECT_FALSE(blocked("resnet18", 2, Precision::fp32));
  EXPECT_TRUE(blocked("resnet18", 8, Precision::fp32));
  // Depthwise convolutions or concatenations: blocks at every batch in fp32.
  EXPECT_TRUE(blocked("mobilenet_v3_small", 1, Precision::fp32));
  EXPECT_TRUE(blocked("mobilenet_v3_small", 8, Precision::fp32));
  EXPECT_TRUE(blocked("densenet121", 1, Precision::fp32));
  EXPECT_FALSE(blocked("resnet18", 1, Precision::fp32));
  // 3x3 convolutions for Winograd's algorithm (on 16x16 maps from 64x64 images; 8x8 above).
  EXPECT_TRUE(blocked("resnet18", 1, Precision::fp32, 64));
  EXPECT_FALSE(blocked("resnet18", 1, Precision::fp32, 64, false));
  if (metalhead::cpu_has_bf16()) {
    EXPECT_EQ(blocked("resnet18", 8, Precision::bf16), !metalhead::cpu_has_amx_bf16());
    EXPECT_FALSE(blocked("resnet18", 2, Precision::bf16));
    EXPECT_FALSE(blocked("mobilenet_v3_small", 1, Precision::bf16));
  }
  auto channels_last = [](int64_t batch, Precision precision) {
    Model m = metalhead::create_model("convnext_tiny", {.nclasses = 10});
    flux::testmode(m);
    Model fast = metalhead::optimize_for_inference(m, {.precision = precision});
    fast(torch::randn({batch, 3, 32, 32}));
    std::ostringstream printed;
    printed << fast;
    return printed.str().find("activations channels-last") != std::string::npos;
  };
  EXPECT_TRUE(channels_last(1, Precision::fp32));
  EXPECT_TRUE(channels_last(8, Precision::fp32));
  if (metalhead::cpu_has_bf16()) EXPECT_FALSE(channels_last(1, Precision::bf16));
}

// Winograd's algorithm for 3x3 stride-1 convolutions of 16-channel multiples in blocks, with
// the post-ops it takes (a folded BatchNorm's bias, ReLU, a residual sum), against the
// plain model; direct convolution where it is turned off, and on maps below 14x14 pixels
// in the batch.
TEST(OptimizeForInference, WinogradMatchesThePlainModel) {
  using namespace flux;
  torch::manual_seed(4);
  Model m = model_of(Chain(Conv({3, 3}, {16, 32}, identity, {.pad = 1, .bias = false}), BatchNorm(32, relu),
                           SkipConnection(Chain(Conv({3, 3}, {32, 32}, identity, {.pad = 1, .bias = false}), BatchNorm(32)), plus),
                           relu, Conv({3, 3}, {32, 16}, relu, {.pad = 1})),
                     16);
  randomise_norms(*m.ptr());
  for (const auto& [batch, side, by_winograd] :
       std::vector<std::tuple<int64_t, int64_t, bool>>{{1, 16, true}, {2, 24, true}, {8, 14, true}, {1, 7, false}, {3, 8, false}}) {
    for (const bool winograd : {true, false}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + " on " + std::to_string(side) + "x" + std::to_string(side) +
                   (winograd ? "" : ", turned off"));
      const auto x = torch::randn({batch, 16, side, side});
      flux::testmode(m);
      torch::Tensor reference;
      {
        torch::NoGradGuard no_grad;
        reference = m(x);
      }
      Model fast = metalhead::optimize_for_inference(m, {.layout = metalhead::Layout::blocked, .winograd = winograd});
      const torch::Tensor y = fast(x);
      std::ostringstream printed;
      printed << fast;
      EXPECT_EQ(printed.str().find("3 convolutions by Winograd") != std::string::npos, winograd && by_winograd) << printed.str();
      EXPECT_LT(((y - reference).abs().max() / reference.abs().max()).item<double>(), 1e-5);
    }
  }
}

// At batch 1 a squeeze-excite gate before a convolution whose weights are much smaller than
// the map scales those weights instead of the map; at batch 2 (a gate per image) it does
// not. Both match the plain model, in both layouts and precisions.
TEST(OptimizeForInference, SqueezeExciteGatesScaleTheNextConvolution) {
  using namespace flux;
  torch::manual_seed(5);
  Model m = model_of(Chain(Conv({3, 3}, {16, 32}, identity, {.pad = 1, .bias = false}), BatchNorm(32, swish),
                           metalhead::layers::squeeze_excite(32, {.reduction = 4}),
                           Conv({1, 1}, {32, 8}, identity, {.bias = false}), BatchNorm(8)),
                     16);
  randomise_norms(*m.ptr());
  std::vector<metalhead::Precision> precisions{metalhead::Precision::fp32};
  if (metalhead::cpu_has_bf16()) precisions.push_back(metalhead::Precision::bf16);
  for (const auto precision : precisions) {
    for (const auto layout : {metalhead::Layout::blocked, metalhead::Layout::native}) {
      for (const int64_t batch : {1, 2}) {
        SCOPED_TRACE("batch " + std::to_string(batch) + (layout == metalhead::Layout::blocked ? ", blocked" : ", native") +
                     (precision == metalhead::Precision::bf16 ? ", bf16" : ""));
        const std::vector<std::string> folded{"1 squeeze-excite gates in convolution weights"}, none{};
        // (relative_error's second run scales the weights again, from the originals)
        const double error = relative_error(m, torch::randn({batch, 16, 16, 16}), precision, false, batch == 1 ? folded : none,
                                            layout, batch == 1 ? none : std::vector<std::string>{"squeeze-excite"});
        EXPECT_LT(error, precision == metalhead::Precision::bf16 ? 3e-2 : 1e-5);
      }
    }
  }
}

// A binary operation writes its result over an operand it reads last, and only then: in
// x·g + x the product may not take x's buffer, the sum may take either's.
TEST(OptimizeForInference, ResultsTakeOnlyDeadOperandsBuffers) {
  using namespace flux;
  torch::manual_seed(6);
  Model m = model_of(Chain(Conv({3, 3}, {16, 32}, relu, {.pad = 1}),
                           SkipConnection(metalhead::layers::squeeze_excite(32, {.reduction = 4}), plus),
                           SkipConnection(metalhead::layers::squeeze_excite(32, {.reduction = 4}), plus), Conv({1, 1}, {32, 8})),
                     16);
  for (const auto layout : {metalhead::Layout::blocked, metalhead::Layout::native, metalhead::Layout::channels_last}) {
    for (const int64_t batch : {1, 2}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + " in layout " + std::to_string(static_cast<int>(layout)));
      EXPECT_LT(relative_error(m, torch::randn({batch, 16, 12, 12}), metalhead::Precision::fp32, false, {}, layout), 1e-5);
    }
  }
}

// From the third run on, a run's activations come from one planned block: every run still
// matches the plain model, and an output stays as it was while later runs go on.
TEST(OptimizeForInference, RunsFromAPlannedBlockKeepEarlierOutputs) {
  torch::manual_seed(7);
  for (const std::string name : {"mobilenet_v3_small", "resnet18", "densenet121", "convnext_tiny"}) {
    SCOPED_TRACE(name);
    Model m = metalhead::create_model(name, {.nclasses = 10});
    randomise_norms(*m.ptr());
    flux::testmode(m);
    Model fast = metalhead::optimize_for_inference(m);
    std::vector<torch::Tensor> xs, ys;
    for (int run = 0; run < 5; ++run) {
      xs.push_back(torch::randn({1, 3, 64, 64}));
      ys.push_back(fast(xs.back()));
    }
    torch::NoGradGuard no_grad;
    for (size_t k = 0; k < xs.size(); ++k) {
      const torch::Tensor reference = m(xs[k]);
      EXPECT_LT(((ys[k] - reference).abs().max() / reference.abs().max()).item<double>(), 1e-4) << "run " << k;
    }
  }
}

// `threads` holds for the optimised model's own calls; the caller's setting is left as it was.
TEST(OptimizeForInference, ThreadsHoldForItsCallsOnly) {
  torch::manual_seed(3);
  Model m = metalhead::create_model("mobilenet_v3_small", {.nclasses = 10});
  randomise_norms(*m.ptr());
  flux::testmode(m);
  const auto x = torch::randn({2, 3, 64, 64});
  const int before = at::get_num_threads();
  const torch::Tensor y = metalhead::optimize_for_inference(m)(x);
  for (const int threads : {1, before + 1}) {
    Model fast = metalhead::optimize_for_inference(m, {.threads = threads});
    EXPECT_TRUE(torch::allclose(fast(x), y, 1e-5, 1e-6)) << threads << " threads";
    EXPECT_EQ(at::get_num_threads(), before);
  }
}

TEST(OptimizeForInference, RunsFromSeveralThreadsAtOnce) {
  torch::manual_seed(3);
  Model m = metalhead::create_model("mobilenet_v3_small", {.nclasses = 10});
  randomise_norms(*m.ptr());
  Model fast = metalhead::optimize_for_inference(m);
  const auto x = torch::randn({2, 3, 64, 64});
  const torch::Tensor expected = fast(x);  // traced and built here
  std::vector<torch::Tensor> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) got[t] = fast(x);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& y : got) EXPECT_TRUE(torch::equal(y, expected));
}

namespace {

// The optimised model at `batch`, against the plain one, and what it printed.
std::pair<double, std::string> at_batch(Model m, int64_t batch, int64_t side) {
  const auto x = torch::randn({batch, m->inchannels, side, side});
  flux::testmode(m);
  torch::Tensor reference;
  {
    torch::NoGradGuard no_grad;
    reference = m(x);
  }
  Model fast = metalhead::optimize_for_inference(m);
  const torch::Tensor y = fast(x);
  std::ostringstream printed;
  printed << fast;
  return {((y - reference).abs().max() / reference.abs().max()).item<double>(), printed.str()};
}

}  // namespace

// A batch above 3 is built from traces at batches 1-3 (whose eager passes need little
// memory) where the graphs differ only in sizes proportional to the batch: reshapes that
// name the batch, and a class token expanded to it.
TEST(OptimizeForInference, BuildsALargeBatchFromSmallTraces) {
  for (const auto& [name, side] : std::vector<std::pair<std::string, int64_t>>{
           {"resnet18", 64}, {"mobilenet_v3_small", 64}, {"vit_b_32", 224}}) {
    SCOPED_TRACE(name);
    torch::manual_seed(3);
    Model m = metalhead::create_model(name, {.nclasses = 10});
    randomise_norms(*m.ptr());
    const auto [error, printed] = at_batch(m, 5, side);
    EXPECT_LT(error, 1e-4);
    EXPECT_NE(printed.find("traced at [5, 3, " + std::to_string(side) + ", " + std::to_string(side) + "] (from batches 1-3)"),
              std::string::npos)
        << printed;
  }
  // A number that depends on the batch otherwise (here the batch as a scale) is traced at
  // the batch itself.
  torch::manual_seed(4);
  Model scaled = model_of(
      Chain(flux::Conv({3, 3}, {8, 8}, flux::relu, {.pad = 1}),
            flux::fn("batch_scaled", [](const torch::Tensor& x) { return x * static_cast<double>(x.size(0)); })),
      8);
  const auto [error, printed] = at_batch(scaled, 6, 12);
  EXPECT_LT(error, 1e-5);
  EXPECT_NE(printed.find("traced at [6, 8, 12, 12]:"), std::string::npos) << printed;
  // One that grows with the batch up to 3 and no further is caught by the first image's
  // output, and traced at the batch too.
  Model capped = model_of(Chain(flux::Conv({3, 3}, {8, 8}, flux::relu, {.pad = 1}),
                                flux::fn("capped", [](const torch::Tensor& x) {
                                  return x * std::min<int64_t>(x.size(0), 3);
                                })),
                          8);
  const auto [capped_error, capped_printed] = at_batch(capped, 6, 12);
  EXPECT_LT(capped_error, 1e-5);
  EXPECT_NE(capped_printed.find("traced at [6, 8, 12, 12]:"), std::string::npos) << capped_printed;
}
