// Shared helpers for the flux tests: shapes, error messages, printing.
#pragma once

#include <flux/flux.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "gradcheck.h"

using Shape = std::vector<int64_t>;

inline Shape shape(const torch::Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end()); }

/// Runs `f`, expects an exception of type E whose what() contains every one of `parts`.
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

/// What `std::cout << m` prints.
template <class M>
std::string printed(const M& m) {
  std::ostringstream os;
  os << m;
  return os.str();
}

using Strings = std::vector<std::string>;

/// The one-line form of each layer of a Chain.
inline Strings reprs(const flux::Chain& c) {
  Strings out;
  for (const auto& l : c) out.push_back(l->repr());
  return out;
}

/// Same shape and values within a tolerance, with a readable failure.
inline ::testing::AssertionResult close(const torch::Tensor& a, const torch::Tensor& b, double rtol = 1e-5,
                                        double atol = 1e-6) {
  if (a.sizes() != b.sizes()) {
    return ::testing::AssertionFailure() << "shapes differ: " << flux::shape_string(a) << " vs " << flux::shape_string(b);
  }
  if (torch::allclose(a, b.to(a.scalar_type()), rtol, atol)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max difference " << (a - b.to(a.scalar_type())).abs().max().item<double>();
}
