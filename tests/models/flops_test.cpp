// Multiply-adds: hand-computed layers, and torchvision's documented GFLOPS per model.
#include <gtest/gtest.h>
#include <metalhead/flops.h>
#include <metalhead/metalhead.h>

#include <torch/torch.h>

#include <cmath>
#include <fstream>

TEST(Flops, HandComputedLayers) {
  flux::Conv conv({3, 3}, {3, 8}, flux::identity, {.pad = 1});
  // 8 × 10 × 10 outputs, each 3 × 3 × 3 multiply-adds.
  EXPECT_EQ(metalhead::count_multiply_adds([&] { conv(torch::zeros({1, 3, 10, 10})); }), 8 * 10 * 10 * 27);
  flux::Conv grouped({3, 3}, {4, 8}, flux::identity, {.stride = 2, .groups = 2});
  // 8 × 4 × 4 outputs (10 → 4 with stride 2, no pad), each 2 × 3 × 3.
  EXPECT_EQ(metalhead::count_multiply_adds([&] { grouped(torch::zeros({1, 4, 10, 10})); }), 8 * 4 * 4 * 18);
  flux::Dense dense({5, 2});
  EXPECT_EQ(metalhead::count_multiply_adds([&] { dense(torch::zeros({3, 5})); }), 3 * 5 * 2);
  // Batched matrix products (attention): 4 × (6 × 7 × 8).
  EXPECT_EQ(metalhead::count_multiply_adds([] { torch::matmul(torch::zeros({4, 6, 7}), torch::zeros({4, 7, 8})); }),
            4 * 6 * 7 * 8);
}

TEST(Flops, MatchTorchvisionsDocumentedGflops) {
  // torchvision's model table (GFLOPS at 224², 299² for inception_v3).
  const std::vector<std::pair<std::string, double>> documented = {
      {"resnet18", 1.81}, {"resnet50", 4.09}, {"alexnet", 0.71}, {"vgg16", 15.47}, {"mobilenet_v3_large", 0.22},
      {"efficientnet_b0", 0.39}, {"vit_b_16", 17.56}, {"convnext_tiny", 4.46}};
  for (const auto& [name, g] : documented) EXPECT_NEAR(metalhead::gflops(name), g, 0.02 * g + 0.005) << name;
}

TEST(Flops, WithWeightsEqualsWithout) {
  auto m = metalhead::create_model("resnet18", {.nclasses = 10});
  EXPECT_EQ(metalhead::multiply_adds(m, {64, 64}),
            static_cast<int64_t>(std::llround(metalhead::gflops("resnet18", {64, 64}) * 1e9)) -
                (1000 - 10) * 512);  // the registry model has 1000 classes
}

TEST(Flops, TheTableCoversEveryModelAndAgreesWithACount) {
  for (const auto& info : metalhead::registered_models()) {
    EXPECT_GT(metalhead::tabulated_multiply_adds(info.name), 0) << info.name << ": rerun scripts/gflops-table";
  }
  EXPECT_EQ(metalhead::tabulated_multiply_adds("no_such_model"), -1);
  // Recounted now: a few models of different families, small enough to be quick.
  for (const char* name : {"resnet18", "mobilenet_v3_small", "squeezenet1_1", "vit_tiny_patch16_224",
                           "mixer_s32_224", "efficientnet_b0"}) {
    const auto& info = metalhead::model_info(name);
    const double live = metalhead::gflops(name, info.input_size);
    EXPECT_EQ(static_cast<int64_t>(std::llround(live * 1e9)), metalhead::tabulated_multiply_adds(info.name)) << name;
    EXPECT_DOUBLE_EQ(metalhead::gflops(name), live) << name;
  }
}

#include <metalhead/placeholders.h>

#include "reference.h"

TEST(Rows, ParametersAndGflopsOfEveryRow) {
  int64_t checked = 0;
  for (const auto& info : metalhead::registered_models()) {
    SCOPED_TRACE(info.name);
    // The row's count is the model's (the table cannot drift) ...
    EXPECT_EQ(info.parameters, flux::parameter_count(*metalhead::placeholder_model(info).ptr()))
        << "rerun scripts/gflops-table";
    EXPECT_DOUBLE_EQ(info.gflops, metalhead::gflops(info.name));
    EXPECT_GT(info.gflops, 0);
    // ... and the original's, where torchvision or timm has the model (torchvision's
    // GoogLeNet and Inception v3 without their auxiliary heads, as ours).
    for (const char* source : {"torchvision", "timm"}) {
      const auto& section = reference_counts().at(source);
      for (const std::string key : {info.name + "_noaux", info.name}) {
        if (!section.contains(key)) continue;
        EXPECT_EQ(info.parameters, section.at(key).at("params").get<int64_t>()) << source << " " << key;
        ++checked;
        break;
      }
    }
  }
  EXPECT_GT(checked, 80);
}

// The rows' GFLOPs against the published figures (tests/data/published_gflops.json):
// torchvision's weights `_ops` and timm's benchmark infer_gmacs (two decimals), at the
// row's input size.
TEST(Rows, GflopsAgainstTorchvisionAndTimm) {
  std::ifstream in(METALHEAD_TEST_DATA "/published_gflops.json");
  const auto published = nlohmann::json::parse(in);
  int64_t compared = 0;
  for (const auto& info : metalhead::registered_models()) {
    for (const char* source : {"torchvision", "timm"}) {
      if (!published.at(source).contains(info.name)) continue;
      auto row = published.at(source).at(info.name);
      // vit_h_14's DEFAULT weights are SWAG at 518; ours are its 224 linear-probe weights.
      if (row.contains("alt_weights") && row.at("size").get<int64_t>() != info.input_size[0]) {
        row = row.at("alt_weights").begin().value();
      }
      if (row.at("size").get<int64_t>() != info.input_size[0]) continue;
      // timm's benchmark leaves most of ConvMixer's depthwise ('same'-padded) convolutions
      // out of its count (48.68 for convmixer_1536_20); the hand count is below.
      if (info.family == "ConvMixer" && std::string(source) == "timm") continue;
      const double theirs = row.contains("gflops") ? row.at("gflops").get<double>() : row.at("gmacs").get<double>();
      EXPECT_NEAR(info.gflops, theirs, 0.02 * theirs + 0.006) << info.name << " (" << source << ")";
      ++compared;
    }
  }
  EXPECT_GT(compared, 90);
  // convmixer_1536_20 by hand at 224: a 7×7/7 stem 3 → 1536 onto 32 × 32, then 20 blocks of
  // a 9×9 depthwise and a 1×1 1536 → 1536 convolution, and the 1536 → 1000 Dense.
  const int64_t grid = 32 * 32;
  const int64_t by_hand = 3 * 49 * 1536 * grid + 20 * (81 * 1536 * grid + 1536 * 1536 * grid) + 1536 * 1000;
  EXPECT_EQ(std::llround(metalhead::model_info("convmixer_1536_20").gflops * 1e9), by_hand);
}
