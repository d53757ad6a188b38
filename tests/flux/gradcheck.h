// Finite-difference gradient checks for the flux tests (double precision).
#pragma once

#include <flux/flux.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <vector>

/// Compares autograd's gradient of sum(f() * probe) (a fixed random probe) with
/// central differences on the first, middle and last entries of each tensor in
/// `wrt`. The tensors must be double and require grad.
inline void expect_gradients_match(const std::function<torch::Tensor()>& f, std::vector<torch::Tensor> wrt,
                                   double tol = 1e-6) {
  torch::manual_seed(1);
  torch::Tensor probe = torch::randn_like(f().detach());
  auto loss = [&] { return (f() * probe).sum(); };
  for (auto& t : wrt) {
    ASSERT_EQ(t.scalar_type(), torch::kFloat64) << "gradient checks need double precision";
    if (t.grad().defined()) t.mutable_grad().zero_();
  }
  loss().backward();
  for (auto& t : wrt) {
    ASSERT_TRUE(t.grad().defined());
    torch::Tensor g = t.grad().clone().reshape(-1);
    torch::NoGradGuard no_grad;
    auto flat = t.view(-1);
    const int64_t n = flat.numel();
    for (int64_t i : {int64_t{0}, n / 2, n - 1}) {
      const double orig = flat[i].item<double>();
      const double h = 1e-6;
      flat[i].fill_(orig + h);
      const double up = loss().item<double>();
      flat[i].fill_(orig - h);
      const double down = loss().item<double>();
      flat[i].fill_(orig);
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(g[i].item<double>(), numeric, tol * (1 + std::abs(numeric))) << "entry " << i << " of " << n;
    }
  }
}

/// Gradient check of a layer's parameters and of its input, in double precision
/// and training mode.
inline void expect_layer_gradients(flux::Layer layer, torch::Tensor x, double tol = 1e-6) {
  layer->to(torch::kFloat64);
  flux::trainmode(layer);
  x = x.to(torch::kFloat64).requires_grad_(true);
  std::vector<torch::Tensor> wrt{x};
  for (auto& p : layer->parameters()) wrt.push_back(p);
  expect_gradients_match([&] { return layer(x); }, wrt, tol);
}

/// Gradient check of a layer's parameters only (for inputs that are not
/// differentiable, such as token ids).
inline void expect_parameter_gradients(flux::Layer layer, torch::Tensor x, double tol = 1e-6) {
  layer->to(torch::kFloat64);
  flux::trainmode(layer);
  std::vector<torch::Tensor> wrt;
  for (auto& p : layer->parameters()) wrt.push_back(p);
  expect_gradients_match([&] { return layer(x); }, wrt, tol);
}
