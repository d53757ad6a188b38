// upsample.h — Upsample and PixelShuffle.
#pragma once

#include <flux/layer.h>

#include <optional>
#include <string>
#include <vector>

namespace flux {

enum class UpsampleMode { nearest, bilinear, trilinear };

struct UpsampleOptions {
  std::optional<std::vector<double>> scale;  // one value for all spatial dims, or one each (leading dims)
  std::optional<std::vector<int64_t>> size;  // the output's spatial size
};

/// Upsample(mode = nearest, {.scale | .size}): exactly one of scale and size.
/// `nearest` repeats each element an integer number of times; `bilinear` and
/// `trilinear` interpolate with align_corners = true, as NNlib does.
/// Example: Upsample(UpsampleMode::nearest, {.scale = {{2, 3}}}) maps [1, 1, 2, 2] to [1, 1, 4, 6].
class UpsampleImpl : public LayerImpl {
 public:
  UpsampleImpl(UpsampleMode mode, UpsampleOptions options);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  UpsampleMode mode;
  UpsampleOptions options;
};

class Upsample : public Holder<UpsampleImpl> {
 public:
  using Holder::Holder;
  Upsample(UpsampleMode mode, UpsampleOptions options) : Holder(make(mode, std::move(options))) {}
  Upsample(UpsampleOptions options) : Holder(make(UpsampleMode::nearest, std::move(options))) {}
  /// Upsample(scale, mode): Flux's positional form.
  Upsample(double scale, UpsampleMode mode = UpsampleMode::nearest)
      : Holder(make(mode, UpsampleOptions{.scale = std::vector<double>{scale}, .size = std::nullopt})) {}
};

/// PixelShuffle(r): [N, C·r^d, spatial...] → [N, C, spatial·r...], as torch's pixel_shuffle for d = 2.
class PixelShuffleImpl : public LayerImpl {
 public:
  explicit PixelShuffleImpl(int64_t r);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override { os << "PixelShuffle(" << r << ')'; }

  int64_t r;
};

class PixelShuffle : public Holder<PixelShuffleImpl> {
 public:
  using Holder::Holder;
  PixelShuffle(int64_t r) : Holder(make(r)) {}
};

}  // namespace flux
