#include <flux/scale.h>

#include <torch/types.h>

namespace flux {

ScaleImpl::ScaleImpl(std::vector<int64_t> size, Activation act, ScaleOptions options) : activation(std::move(act)) {
  if (size.empty()) throw std::invalid_argument("Scale: needs at least one size");
  for (int64_t s : size) {
    if (s < 1) throw std::invalid_argument("Scale: sizes must be positive");
  }
  // Flux's init sees Julia's dimension order.
  std::vector<int64_t> julia(size.rbegin(), size.rend());
  // Julia's S[i, j, ...] is torch's scale[..., j, i]: reverse the dimensions, not just the shape.
  Tensor s = options.init(julia).reshape(julia);
  std::vector<int64_t> reversed;
  for (int64_t d = s.dim() - 1; d >= 0; --d) reversed.push_back(d);
  scale = register_parameter("scale", s.permute(reversed).contiguous());
  if (options.bias) bias = register_parameter("bias", torch::zeros(size, torch::TensorOptions().dtype(scale.scalar_type())));
}

ScaleImpl::ScaleImpl(Tensor s, Bias b, Activation act) : activation(std::move(act)) {
  if (!s.defined() || s.dim() == 0) throw std::invalid_argument("Scale: expected a scale array, got " + shape_string(s));
  scale = register_parameter("scale", parameter_copy(s));
  if (b.on()) {
    auto v = b.make(s.numel(), "Scale", scale.scalar_type());
    bias = register_parameter("bias", v->reshape(s.sizes()));
  }
}

Tensor ScaleImpl::forward(const Tensor& x) {
  // Trailing dimensions broadcast; an input of lower rank than the scale too, as in Flux.
  const int64_t k = std::min(scale.dim(), x.dim());
  bool ok = true;
  for (int64_t i = 1; ok && i <= k; ++i) {
    ok = x.size(-i) == scale.size(-i) || x.size(-i) == 1 || scale.size(-i) == 1;
  }
  if (!ok) input_error("input whose trailing dimensions broadcast with " + shape_string(scale), x);
  Tensor y = scale * x;
  if (bias.defined()) y = y + bias;
  return activation(y);
}

void ScaleImpl::pretty_print(std::ostream& os) const {
  os << "Scale(";
  for (int64_t i = 0; i < scale.dim(); ++i) os << (i ? ", " : "") << scale.size(i);
  if (!activation.is_identity()) os << ", " << activation.name();
  if (!bias.defined()) os << "; bias=false";
  os << ')';
}

}  // namespace flux
