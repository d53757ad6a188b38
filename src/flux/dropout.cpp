#include <flux/dropout.h>
#include <flux/padding.h>
#include <flux/printing.h>

#include <torch/types.h>

#include <sstream>

namespace flux {
namespace {
void check_probability(double p, const char* who) {
  if (!(p >= 0 && p <= 1)) {
    std::ostringstream os;
    os << who << ": the probability must be in [0, 1], got " << p;
    throw std::invalid_argument(os.str());
  }
}
}  // namespace

Tensor dropout(const Tensor& x, double p, const std::vector<int64_t>& dims) {
  check_probability(p, "dropout");
  if (p == 0) return x;
  if (p == 1) return torch::zeros_like(x);  // avoids 0 · ∞
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  if (dims.empty()) {
    shape.assign(x.sizes().begin(), x.sizes().end());
  } else {
    for (int64_t d : dims) {
      int64_t dd = d < 0 ? d + x.dim() : d;
      if (dd < 0 || dd >= x.dim()) {
        throw std::invalid_argument("dropout: dimension " + std::to_string(d) + " out of range for a tensor of shape " +
                                    shape_string(x));
      }
      shape[static_cast<size_t>(dd)] = x.size(dd);
    }
  }
  Tensor keep = torch::rand(shape, x.options().dtype(x.is_floating_point() ? x.scalar_type() : torch::kFloat32)) > p;
  return x * keep.to(x.scalar_type()) / (1 - p);
}

DropoutImpl::DropoutImpl(double prob, DropoutOptions options) : p(prob), dims(std::move(options.dims)) {
  check_probability(p, "Dropout");
  active = options.active;
  if (active) torch::nn::Module::train(*active);
}

Tensor DropoutImpl::forward(const Tensor& x) { return is_active(x) ? dropout(x, p, dims) : x; }

void DropoutImpl::pretty_print(std::ostream& os) const {
  os << "Dropout(" << float_string(p);
  if (dims.size() == 1) os << ", dims=" << dims[0];
  else if (!dims.empty()) os << ", dims=" << tuple_string(dims);
  print_active(os);
  os << ')';
}

AlphaDropoutImpl::AlphaDropoutImpl(double prob, std::optional<bool> act) : p(prob) {
  check_probability(p, "AlphaDropout");
  active = act;
  if (active) torch::nn::Module::train(*active);
}

Tensor AlphaDropoutImpl::forward(const Tensor& x) {
  if (!is_active(x) || p == 0) return x;
  if (p == 1) return torch::zeros_like(x);
  const double alpha1 = -1.7580993408473766;  // -λα of selu
  const double A = 1 / std::sqrt((1 - p) * (1 + p * alpha1 * alpha1));
  const double B = -A * alpha1 * p;
  Tensor keep = torch::rand_like(x) > p;
  return torch::where(keep, A * x + B, torch::full_like(x, A * alpha1 + B));
}

void AlphaDropoutImpl::pretty_print(std::ostream& os) const { os << "AlphaDropout(" << float_string(p) << ')'; }

}  // namespace flux
