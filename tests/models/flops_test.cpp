// Multiply-adds: hand-computed layers, and torchvision's documented GFLOPS per model.
#include <gtest/gtest.h>
#include <metalhead/flops.h>
#include <metalhead/metalhead.h>

#include <torch/torch.h>

#include <cmath>

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
