#include <flux/padding.h>

#include <sstream>
#include <stdexcept>

namespace flux {

std::vector<int64_t> Dims::expand(size_t n, const char* what) const {
  if (values_.size() == 1) return std::vector<int64_t>(n, values_[0]);
  if (values_.size() != n) {
    throw std::invalid_argument(std::string(what) + ": expected 1 or " + std::to_string(n) +
                                " values, got " + std::to_string(values_.size()));
  }
  return values_;
}

std::vector<int64_t> Padding::resolve(const std::vector<int64_t>& kernel,
                                      const std::vector<int64_t>& dilation) const {
  const size_t n = kernel.size();
  std::vector<int64_t> out;
  if (is_same()) {
    for (size_t d = 0; d < n; ++d) {
      int64_t total = (kernel[d] - 1) * dilation[d];  // effective kernel - 1
      out.push_back((total + 1) / 2);                 // the odd pixel goes first
      out.push_back(total / 2);
    }
    return out;
  }
  const auto& v = std::get<std::vector<int64_t>>(form_);
  if (v.size() == 1) {
    out.assign(2 * n, v[0]);
  } else if (v.size() == n) {
    for (int64_t p : v) out.insert(out.end(), {p, p});
  } else if (v.size() == 2 * n) {
    out = v;
  } else {
    throw std::invalid_argument("pad: expected 1, " + std::to_string(n) + " or " +
                                std::to_string(2 * n) + " values, got " + std::to_string(v.size()));
  }
  for (int64_t p : out) {
    if (p < 0) throw std::invalid_argument("pad: padding must be non-negative, got " + std::to_string(p));
  }
  return out;
}

bool is_symmetric(const std::vector<int64_t>& pad2n) {
  for (size_t i = 0; i + 1 < pad2n.size(); i += 2) {
    if (pad2n[i] != pad2n[i + 1]) return false;
  }
  return true;
}

std::vector<int64_t> torch_pad_order(const std::vector<int64_t>& pad2n) {
  std::vector<int64_t> out;
  for (size_t i = pad2n.size(); i >= 2; i -= 2) out.insert(out.end(), {pad2n[i - 2], pad2n[i - 1]});
  return out;
}

std::string tuple_string(const std::vector<int64_t>& values) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << values[i];
  if (values.size() == 1) os << ',';
  os << ')';
  return os.str();
}

std::string compact_string(const std::vector<int64_t>& values) {
  for (int64_t v : values) {
    if (v != values[0]) return tuple_string(values);
  }
  return values.empty() ? "()" : std::to_string(values[0]);
}

std::string pad_string(const std::vector<int64_t>& pad2n) {
  for (int64_t v : pad2n) {
    if (v != pad2n[0]) {
      if (!is_symmetric(pad2n)) return tuple_string(pad2n);
      std::vector<int64_t> half;
      for (size_t i = 0; i < pad2n.size(); i += 2) half.push_back(pad2n[i]);
      return tuple_string(half);
    }
  }
  return std::to_string(pad2n.empty() ? 0 : pad2n[0]);
}

}  // namespace flux
