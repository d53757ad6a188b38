#include <flux/dense.h>

#include <torch/types.h>

namespace flux {

Tensor parameter_copy(const Tensor& w) {
  return w.is_floating_point() ? w.detach().clone() : w.to(torch::kFloat32);
}

std::optional<Tensor> Bias::make(int64_t n, const std::string& who, at::ScalarType dtype) const {
  if (!on_) return std::nullopt;
  if (!value_.defined()) return torch::zeros({n}, torch::TensorOptions().dtype(dtype));
  if (value_.dim() != 1 || value_.size(0) != n) {
    throw std::invalid_argument(who + ": expected a bias of shape [" + std::to_string(n) + "], got " +
                                shape_string(value_));
  }
  return value_.detach().to(dtype).clone();
}

namespace {
void check_io(InOut io, const char* who) {
  if (io.in < 1 || io.out < 1) {
    throw std::invalid_argument(std::string(who) + ": sizes must be positive, got " + std::to_string(io.in) +
                                " => " + std::to_string(io.out));
  }
}
}  // namespace

DenseImpl::DenseImpl(InOut io, Activation act, DenseOptions options) : activation(std::move(act)) {
  check_io(io, "Dense");
  weight = register_parameter("weight", options.init({io.out, io.in}).reshape({io.out, io.in}));
  if (options.bias) bias = register_parameter("bias", torch::zeros({io.out}, torch::TensorOptions().dtype(weight.scalar_type())));
}

DenseImpl::DenseImpl(Tensor w, Bias b, Activation act) : activation(std::move(act)) {
  if (!w.defined() || w.dim() != 2) {
    throw std::invalid_argument("Dense: expected a weight matrix [out, in], got " + shape_string(w));
  }
  weight = register_parameter("weight", parameter_copy(w));
  if (auto v = b.make(w.size(0), "Dense", weight.scalar_type())) bias = register_parameter("bias", *v);
}

Tensor DenseImpl::forward(const Tensor& x) {
  if (x.dim() == 0 || x.size(-1) != weight.size(1)) {
    input_error("input with last dimension " + std::to_string(weight.size(1)), x);
  }
  // Flux converts other element types (Float64, integers) to the weight's.
  Tensor xf = x.scalar_type() == weight.scalar_type() ? x : x.to(weight.scalar_type());
  return activation(torch::linear(xf, weight, bias.defined() ? bias : Tensor()));
}

void DenseImpl::pretty_print(std::ostream& os) const {
  os << "Dense(" << weight.size(1) << " => " << weight.size(0);
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!bias.defined()) os << "; bias=false";
  os << ')';
}

}  // namespace flux
