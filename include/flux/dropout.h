// dropout.h — dropout, Dropout and AlphaDropout.
#pragma once

#include <flux/mode.h>

#include <optional>
#include <vector>

namespace flux {

struct DropoutOptions {
  /// Dimensions that get their own random decision (torch order); the mask is
  /// shared along every other dimension. Empty: every element (Flux's `:`).
  /// Flux's `dims = 3` on WHCN images (one decision per channel, shared by the
  /// whole batch) is `{1}` here.
  std::vector<int64_t> dims = {};
  std::optional<bool> active;
};

/// dropout(x, p, {.dims}): zeroes each element (or slice, with dims) with probability p
/// and scales the rest by 1/(1-p); an element is kept when u > p for u ~ U[0,1).
/// p = 0 returns x, p = 1 returns zeros.
Tensor dropout(const Tensor& x, double p, const std::vector<int64_t>& dims = {});

/// Dropout(p, {.dims, .active}): dropout in training, the identity in test mode.
class DropoutImpl : public ModalLayerImpl {
 public:
  explicit DropoutImpl(double p, DropoutOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  double p;
  std::vector<int64_t> dims;
};

class Dropout : public Holder<DropoutImpl> {
 public:
  using Holder::Holder;
  Dropout(double p, DropoutOptions options = {}) : Holder(make(p, std::move(options))) {}
};

/// AlphaDropout(p): dropout for self-normalising networks (selu): keeps mean and
/// variance, dropped values set to selu's negative saturation, then an affine fix.
class AlphaDropoutImpl : public ModalLayerImpl {
 public:
  explicit AlphaDropoutImpl(double p, std::optional<bool> active = std::nullopt);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  double p;
};

class AlphaDropout : public Holder<AlphaDropoutImpl> {
 public:
  using Holder::Holder;
  AlphaDropout(double p, std::optional<bool> active = std::nullopt) : Holder(make(p, active)) {}
};

}  // namespace flux
