#include <flux/upsample.h>

#include <torch/types.h>

#include <cmath>
#include <sstream>

namespace flux {
namespace {
const char* mode_name(UpsampleMode m) {
  switch (m) {
    case UpsampleMode::nearest: return ":nearest";
    case UpsampleMode::bilinear: return ":bilinear";
    default: return ":trilinear";
  }
}
}  // namespace

UpsampleImpl::UpsampleImpl(UpsampleMode m, UpsampleOptions o) : mode(m), options(std::move(o)) {
  if (options.scale.has_value() == options.size.has_value()) {
    throw std::invalid_argument("Upsample: give exactly one of scale and size");
  }
  if (options.scale) {
    if (options.scale->empty()) throw std::invalid_argument("Upsample: scale is empty");
    for (double s : *options.scale) {
      if (!(s > 0)) throw std::invalid_argument("Upsample: scale must be positive");
      if (mode == UpsampleMode::nearest && s != std::floor(s)) {
        throw std::invalid_argument("Upsample: :nearest needs integer scales");
      }
    }
  } else {
    for (int64_t s : *options.size) {
      if (s < 1) throw std::invalid_argument("Upsample: size must be positive");
    }
  }
}

Tensor UpsampleImpl::forward(const Tensor& x) {
  const int64_t n = x.dim() - 2;
  const int64_t want = mode == UpsampleMode::bilinear ? 2 : mode == UpsampleMode::trilinear ? 3 : n;
  if (n < 1 || n > 3 || n != want) input_error("a [N, C, spatial...] input for " + std::string(mode_name(mode)), x);
  std::vector<int64_t> out(x.sizes().begin() + 2, x.sizes().end());
  if (options.size) {
    if (static_cast<int64_t>(options.size->size()) > n) input_error("at most " + std::to_string(options.size->size()) + " spatial dimensions", x);
    for (size_t d = 0; d < options.size->size(); ++d) out[d] = (*options.size)[d];
  } else {
    const auto& s = *options.scale;
    if (static_cast<int64_t>(s.size()) > n) input_error("at least " + std::to_string(s.size()) + " spatial dimensions", x);
    for (int64_t d = 0; d < n; ++d) {
      double f = s.size() == 1 ? s[0] : d < static_cast<int64_t>(s.size()) ? s[static_cast<size_t>(d)] : 1.0;
      out[static_cast<size_t>(d)] = static_cast<int64_t>(std::floor(f * static_cast<double>(x.size(d + 2))));
    }
  }
  Tensor xf = x.is_floating_point() ? x : x.to(torch::kFloat32);
  if (mode == UpsampleMode::nearest) {
    Tensor y = xf;
    for (int64_t d = 0; d < n; ++d) {
      int64_t in = x.size(d + 2);
      if (out[static_cast<size_t>(d)] % in != 0) input_error("a size that divides the output size " + shape_string(out), x);
      int64_t rep = out[static_cast<size_t>(d)] / in;
      if (rep > 1) y = y.repeat_interleave(rep, d + 2);
    }
    return y;
  }
  if (std::equal(out.begin(), out.end(), x.sizes().begin() + 2)) return xf;
  if (mode == UpsampleMode::bilinear) return torch::upsample_bilinear2d(xf, out, /*align_corners=*/true);
  return torch::upsample_trilinear3d(xf, out, /*align_corners=*/true);
}

void UpsampleImpl::pretty_print(std::ostream& os) const {
  os << "Upsample(" << mode_name(mode) << ", ";
  if (options.scale) {
    os << "scale = ";
    const auto& s = *options.scale;
    auto num = [](double v) {
      std::ostringstream o;
      if (v == std::floor(v)) o << static_cast<int64_t>(v);
      else o << v;
      return o.str();
    };
    if (s.size() == 1) os << num(s[0]);
    else {
      os << '(';
      for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << num(s[i]);
      os << ')';
    }
  } else {
    os << "size = (";
    for (size_t i = 0; i < options.size->size(); ++i) os << (i ? ", " : "") << (*options.size)[i];
    os << ')';
  }
  os << ')';
}

PixelShuffleImpl::PixelShuffleImpl(int64_t factor) : r(factor) {
  if (r < 1) throw std::invalid_argument("PixelShuffle: the factor must be positive, got " + std::to_string(r));
}

Tensor PixelShuffleImpl::forward(const Tensor& x) {
  const int64_t d = x.dim() - 2;
  if (d < 1) input_error("a [N, C, spatial...] input", x);
  int64_t rd = 1;
  for (int64_t i = 0; i < d; ++i) rd *= r;
  if (x.size(1) % rd != 0) input_error("channels divisible by " + std::to_string(rd), x);
  if (d == 2) return torch::pixel_shuffle(x, r);
  // General d: channel index c·r^d + (offsets, slowest = first spatial dim).
  const int64_t c = x.size(1) / rd;
  std::vector<int64_t> shape{x.size(0), c};
  for (int64_t i = 0; i < d; ++i) shape.push_back(r);
  for (int64_t i = 0; i < d; ++i) shape.push_back(x.size(2 + i));
  Tensor y = x.reshape(shape);
  std::vector<int64_t> perm{0, 1};
  for (int64_t i = 0; i < d; ++i) {
    perm.push_back(2 + d + i);
    perm.push_back(2 + i);
  }
  std::vector<int64_t> out{x.size(0), c};
  for (int64_t i = 0; i < d; ++i) out.push_back(x.size(2 + i) * r);
  return y.permute(perm).reshape(out);
}

}  // namespace flux
