// pooling.h — MaxPool, MeanPool, their adaptive and global forms, and flatten.
#pragma once

#include <flux/activations.h>
#include <flux/layer.h>
#include <flux/padding.h>

#include <optional>
#include <vector>

namespace flux {

struct PoolOptions {
  Padding pad = 0;
  std::optional<Dims> stride;  // defaults to the window
};

/// MaxPool(window, {.pad = 0, .stride = window}) / MeanPool(...): window in torch order,
/// pad in any of Flux's forms incl. SamePad. Output floor((I + lo + hi - k) / s) + 1
/// per dimension. MeanPool always divides by the full window, padding counting as
/// zeros (torch's count_include_pad); MaxPool ignores padding.
/// Example: MaxPool({5}, {.pad = 2, .stride = 3}) maps [50, 7, 100] to [50, 7, 34].
class PoolImpl : public LayerImpl {
 public:
  PoolImpl(bool max, std::vector<int64_t> window, PoolOptions options);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  const std::vector<int64_t>& window() const { return window_; }
  const std::vector<int64_t>& stride() const { return stride_; }
  const std::vector<int64_t>& pad() const { return pad_; }

 private:
  bool max_;
  std::vector<int64_t> window_, stride_, pad_;
};

class MaxPool : public Holder<PoolImpl> {
 public:
  using Holder::Holder;
  MaxPool(std::vector<int64_t> window, PoolOptions options = {}) : Holder(make(true, std::move(window), std::move(options))) {}
};

class MeanPool : public Holder<PoolImpl> {
 public:
  using Holder::Holder;
  MeanPool(std::vector<int64_t> window, PoolOptions options = {}) : Holder(make(false, std::move(window), std::move(options))) {}
};

/// Pools `x` with a window over its spatial dimensions (the functional form).
Tensor maxpool(const Tensor& x, const std::vector<int64_t>& window, const std::vector<int64_t>& stride,
               const std::vector<int64_t>& pad2n);
Tensor meanpool(const Tensor& x, const std::vector<int64_t>& window, const std::vector<int64_t>& stride,
                const std::vector<int64_t>& pad2n);

/// AdaptiveMaxPool(out) / AdaptiveMeanPool(out): an output of spatial size `out`, with
/// Flux's windows: stride = I ÷ out, k = I - (out - 1)·stride. (torch's adaptive
/// pools use other windows when `out` does not divide I.)
class AdaptivePoolImpl : public LayerImpl {
 public:
  AdaptivePoolImpl(bool max, std::vector<int64_t> out);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;
  const std::vector<int64_t>& output_size() const { return out_; }

 private:
  bool max_;
  std::vector<int64_t> out_;
};

class AdaptiveMaxPool : public Holder<AdaptivePoolImpl> {
 public:
  using Holder::Holder;
  AdaptiveMaxPool(std::vector<int64_t> out) : Holder(make(true, std::move(out))) {}
};

class AdaptiveMeanPool : public Holder<AdaptivePoolImpl> {
 public:
  using Holder::Holder;
  AdaptiveMeanPool(std::vector<int64_t> out) : Holder(make(false, std::move(out))) {}
};

/// GlobalMaxPool() / GlobalMeanPool(): [N, C, spatial...] → [N, C, 1, ...].
class GlobalPoolImpl : public LayerImpl {
 public:
  explicit GlobalPoolImpl(bool max) : max_(max) {}
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override { os << (max_ ? "GlobalMaxPool()" : "GlobalMeanPool()"); }

 private:
  bool max_;
};

class GlobalMaxPool : public Holder<GlobalPoolImpl> {
 public:
  using Holder::Holder;
  GlobalMaxPool() : Holder(make(true)) {}
};

class GlobalMeanPool : public Holder<GlobalPoolImpl> {
 public:
  using Holder::Holder;
  GlobalMeanPool() : Holder(make(false)) {}
};

/// flatten: [N, ...] → [N, prod(...)], Flux.flatten (keeps the batch dimension).
extern const Activation flatten;

}  // namespace flux
