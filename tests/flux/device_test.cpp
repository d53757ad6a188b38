// The layers on a CUDA device give the CPU's results. Skipped without CUDA.
#include <flux/flux.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

namespace {

// Runs `layer` on `x` on the CPU and on the GPU (parameters moved with it).
void expect_same_on_cuda(flux::Layer layer, const torch::Tensor& x, double tol = 1e-4) {
  torch::NoGradGuard no_grad;
  flux::testmode(layer);
  flux::reset(layer);
  torch::Tensor cpu = layer(x);
  layer->to(torch::kCUDA);
  flux::reset(layer);  // a Recur's running state stays where it was computed
  torch::Tensor gpu = layer(x.to(torch::kCUDA)).cpu();
  ASSERT_EQ(cpu.sizes(), gpu.sizes()) << layer->repr();
  double scale = cpu.abs().max().item<double>() + 1e-6;
  EXPECT_LT((cpu - gpu).abs().max().item<double>() / scale, tol) << layer->repr();
}

}  // namespace

TEST(Cuda, LayersMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  torch::manual_seed(0);
  using namespace flux;
  Tensor img = torch::randn({2, 3, 16, 16});
  expect_same_on_cuda(Conv({3, 3}, {3, 8}, relu, {.pad = SamePad{}, .groups = 1}), img);
  expect_same_on_cuda(Conv({4, 4}, {3, 6}, identity, {.stride = 2, .pad = {1, 2, 0, 1}}), img);
  expect_same_on_cuda(DepthwiseConv({3, 3}, {3, 6}), img);
  expect_same_on_cuda(ConvTranspose({3, 3}, {3, 4}, identity, {.stride = 2, .pad = SamePad{}}), img);
  expect_same_on_cuda(CrossCor({3, 3}, {3, 4}), img);
  expect_same_on_cuda(Chain(BatchNorm(3), GroupNorm(3, 3), InstanceNorm(3, identity, {.affine = true})), img);
  expect_same_on_cuda(Chain(MaxPool({3, 3}, {.pad = SamePad{}}), MeanPool({2, 2}), AdaptiveMaxPool({2, 2})), img);
  expect_same_on_cuda(Chain(Upsample(UpsampleMode::bilinear, {.scale = std::vector<double>{2}}), PixelShuffle(1)), img);
  expect_same_on_cuda(Chain(flatten, Dense({3 * 16 * 16, 10}, gelu), LayerNorm(10)), img);
  expect_same_on_cuda(Chain(LSTM({5, 7}), GRU({7, 4})), torch::randn({6, 2, 5}));
  expect_same_on_cuda(Parallel(plus, Dense({5, 3}), Bilinear(InOut{5, 3})), torch::randn({4, 5}));
}
