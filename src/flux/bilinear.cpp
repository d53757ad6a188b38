#include <flux/bilinear.h>

#include <torch/types.h>

namespace flux {

BilinearImpl::BilinearImpl(Bilinear2 s, Activation act, DenseOptions options) : activation(std::move(act)) {
  if (s.in1 < 1 || s.in2 < 1 || s.out < 1) throw std::invalid_argument("Bilinear: sizes must be positive");
  weight = register_parameter("weight", options.init({s.out, s.in1, s.in2}).reshape({s.out, s.in1, s.in2}));
  if (options.bias) bias = register_parameter("bias", torch::zeros({s.out}, torch::TensorOptions().dtype(weight.scalar_type())));
}

BilinearImpl::BilinearImpl(Tensor w, Bias b, Activation act) : activation(std::move(act)) {
  if (!w.defined() || w.dim() != 3) {
    throw std::invalid_argument("Bilinear: expected a weight [out, in1, in2], got " + shape_string(w));
  }
  weight = register_parameter("weight", parameter_copy(w));
  if (auto v = b.make(w.size(0), "Bilinear", weight.scalar_type())) bias = register_parameter("bias", *v);
}

Tensor BilinearImpl::forward(const Tensor& x) { return forward_multi({x, x}); }

Tensor BilinearImpl::forward_multi(const std::vector<Tensor>& xs) {
  if (xs.size() == 1) return forward_multi({xs[0], xs[0]});
  if (xs.size() != 2) {
    throw std::invalid_argument(repr() + ": expected one or two inputs, got " + std::to_string(xs.size()));
  }
  const Tensor &x = xs[0], &y = xs[1];
  if (x.dim() == 0 || x.size(-1) != weight.size(1)) input_error("a first input with last dimension " + std::to_string(weight.size(1)), x);
  if (y.dim() == 0 || y.size(-1) != weight.size(2)) input_error("a second input with last dimension " + std::to_string(weight.size(2)), y);
  if (x.sizes().slice(0, x.dim() - 1) != y.sizes().slice(0, y.dim() - 1)) {
    input_error("inputs with the same batch dimensions as " + shape_string(x), y);
  }
  // CPU libtorch has no Half matrix products: compute in Float32 and return Half.
  const bool half = weight.scalar_type() == torch::kHalf && weight.device().is_cpu();
  const auto type = half ? torch::kFloat : weight.scalar_type();
  auto cast = [&](const Tensor& t) { return !t.defined() || t.scalar_type() == type ? t : t.to(type); };
  Tensor z = torch::bilinear(cast(x), cast(y), cast(weight), cast(bias.defined() ? bias : Tensor()));
  if (half) z = z.to(torch::kHalf);
  return activation(std::move(z));
}

void BilinearImpl::pretty_print(std::ostream& os) const {
  os << "Bilinear(";
  if (weight.size(1) == weight.size(2)) os << weight.size(1);
  else os << '(' << weight.size(1) << ", " << weight.size(2) << ')';
  os << " => " << weight.size(0);
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!bias.defined()) os << "; bias=false";
  os << ')';
}

}  // namespace flux
