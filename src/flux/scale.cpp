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
  if (options.bias) bias = register_parameter("bias", torch::zeros(size));
}

ScaleImpl::ScaleImpl(Tensor s, Bias b, Activation act) : activation(std::move(act)) {
  if (!s.defined() || s.dim() == 0) throw std::invalid_argument("Scale: expected a scale array, got " + shape_string(s));
  scale = register_parameter("scale", s.to(torch::kFloat32).clone());
  if (b.on()) {
    auto v = b.make(s.numel(), "Scale");
    bias = register_parameter("bias", v->reshape(s.sizes()));
  }
}

Tensor ScaleImpl::forward(const Tensor& x) {
  const int64_t k = scale.dim();
  bool ok = x.dim() >= k;
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
