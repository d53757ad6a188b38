#include <flux/embedding.h>

#include <torch/types.h>

namespace flux {

EmbeddingImpl::EmbeddingImpl(InOut io, EmbeddingOptions options) {
  if (io.in < 1 || io.out < 1) throw std::invalid_argument("Embedding: sizes must be positive");
  // Flux's weight is (out, in) in Julia, the same memory as our [in, out].
  weight = register_parameter("weight", options.init({io.out, io.in}).reshape({io.out, io.in}).t().contiguous());
}

EmbeddingImpl::EmbeddingImpl(Tensor w) {
  if (!w.defined() || w.dim() != 2) throw std::invalid_argument("Embedding: expected a weight [in, out], got " + shape_string(w));
  weight = register_parameter("weight", w.to(torch::kFloat32).clone());
}

Tensor EmbeddingImpl::forward(const Tensor& x) {
  const int64_t vocab = weight.size(0);
  if (x.is_floating_point() || x.scalar_type() == torch::kBool) {
    if (x.dim() == 0 || x.size(-1) != vocab) input_error("one-hot input with last dimension " + std::to_string(vocab), x);
    return torch::matmul(x.to(weight.dtype()), weight);
  }
  if (x.numel() > 0) {
    int64_t lo = x.min().item<int64_t>(), hi = x.max().item<int64_t>();
    if (lo < 0 || hi >= vocab) {
      throw std::out_of_range(repr() + ": token ids must be in [0, " + std::to_string(vocab) + "), got " +
                              std::to_string(lo < 0 ? lo : hi));
    }
  }
  return torch::embedding(weight, x.to(torch::kLong));
}

void EmbeddingImpl::pretty_print(std::ostream& os) const {
  os << "Embedding(" << weight.size(0) << " => " << weight.size(1) << ')';
}

}  // namespace flux
