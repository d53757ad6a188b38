// padding.h — per-dimension integer options (stride, dilation) and Flux's pad forms.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

namespace flux {

/// One integer for every spatial dimension, or one per dimension (torch order).
class Dims {
 public:
  Dims(int64_t all) : values_{all} {}
  Dims(std::initializer_list<int64_t> each) : values_(each) {}
  Dims(std::vector<int64_t> each) : values_(std::move(each)) {}

  /// The values for `n` spatial dimensions; `what` names the option in errors.
  std::vector<int64_t> expand(size_t n, const char* what) const;
  const std::vector<int64_t>& values() const { return values_; }

 private:
  std::vector<int64_t> values_;
};

/// `pad = SamePad()`: output size = ceil(input / stride). When the total padding
/// is odd Flux puts the extra pixel first (top/left), unlike torch and TensorFlow.
struct SamePad {};

/// Flux's pad forms: an integer (all sides), N integers (both ends of each
/// dimension), 2N integers `{lo1, hi1, lo2, hi2, ...}` per dimension in torch
/// order, or SamePad.
class Padding {
 public:
  Padding(int64_t all) : form_(std::vector<int64_t>{all}) {}
  Padding(std::initializer_list<int64_t> values) : form_(std::vector<int64_t>(values)) {}
  Padding(std::vector<int64_t> values) : form_(std::move(values)) {}
  Padding(SamePad same) : form_(same) {}

  bool is_same() const { return std::holds_alternative<SamePad>(form_); }
  /// The 2N form `{lo1, hi1, ...}` for a window `kernel` with `dilation`; SamePad
  /// uses the effective kernel k + (k-1)(d-1). Throws for a negative or
  /// wrongly-sized pad.
  std::vector<int64_t> resolve(const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& dilation) const;

 private:
  std::variant<std::vector<int64_t>, SamePad> form_;
};

/// True when every dimension is padded equally at both ends.
bool is_symmetric(const std::vector<int64_t>& pad2n);
/// `{lo1, hi1, ...}` → `{lo_last, hi_last, ...}`: the order torch's pad functions want.
std::vector<int64_t> torch_pad_order(const std::vector<int64_t>& pad2n);
/// Flux's printing of a pad: `2` when all equal, `(1, 2)` when symmetric, else the 2N tuple.
std::string pad_string(const std::vector<int64_t>& pad2n);
/// `(5, 5)`, `(3,)`: a Julia tuple.
std::string tuple_string(const std::vector<int64_t>& values);
/// `2` when all equal, else the tuple.
std::string compact_string(const std::vector<int64_t>& values);

}  // namespace flux
