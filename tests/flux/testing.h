// Shared helpers for the flux tests: shapes, error messages, finite differences.
#pragma once

#include <flux/flux.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

using Shape = std::vector<int64_t>;

inline Shape shape(const torch::Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end()); }

/// Runs `f`, expects an exception of type E whose message contains every `parts`.
template <class E, class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

/// Compares autograd's gradient of sum(f() * w) with central differences on a
/// few entries of each tensor in `wrt` (double precision expected).
inline void expect_gradients_match(const std::function<torch::Tensor()>& f, std::vector<torch::Tensor> wrt,
                                   double tol = 1e-6) {
  torch::manual_seed(1);
  torch::Tensor probe = torch::randn_like(f().detach());
  auto loss = [&] { return (f() * probe).sum(); };
  for (auto& t : wrt) {
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
      double orig = flat[i].item<double>();
      const double h = 1e-6;
      flat[i].fill_(orig + h);
      double up = loss().item<double>();
      flat[i].fill_(orig - h);
      double down = loss().item<double>();
      flat[i].fill_(orig);
      double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(g[i].item<double>(), numeric, tol * (1 + std::abs(numeric))) << "entry " << i;
    }
  }
}

/// Gradient check of a layer's parameters and its input, in double precision.
inline void expect_layer_gradients(flux::Layer layer, torch::Tensor x, double tol = 1e-6) {
  layer->to(torch::kFloat64);
  flux::trainmode(layer);
  x = x.to(torch::kFloat64).requires_grad_(true);
  std::vector<torch::Tensor> wrt{x};
  for (auto& p : layer->parameters()) wrt.push_back(p);
  expect_gradients_match([&] { return layer(x); }, wrt, tol);
}

inline std::string printed(const flux::Layer& m) {
  std::ostringstream os;
  os << m;
  return os.str();
}
