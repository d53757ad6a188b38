#include <flux/embedding.h>

#include <torch/types.h>

namespace flux {
namespace {

// Rows of `weight` for integer ids of any shape: [ids..., out]. One-hot (float or bool)
// rows [..., in] are multiplied instead.
Tensor lookup(const LayerImpl& layer, const Tensor& weight, const Tensor& x) {
  const int64_t vocab = weight.size(0);
  if (x.is_floating_point() || x.scalar_type() == torch::kBool) {
    if (x.dim() == 0 || x.size(-1) != vocab) layer.input_error("one-hot input with last dimension " + std::to_string(vocab), x);
    return torch::matmul(x.to(weight.dtype()), weight);
  }
  if (x.numel() > 0) {
    int64_t lo = x.min().item<int64_t>(), hi = x.max().item<int64_t>();
    if (lo < 0 || hi >= vocab) {
      throw std::out_of_range(layer.repr() + ": token ids must be in [0, " + std::to_string(vocab) + "), got " +
                              std::to_string(lo < 0 ? lo : hi));
    }
  }
  return torch::embedding(weight, x.to(torch::kLong));
}

Tensor checked_weight(const Tensor& w, const char* who) {
  if (!w.defined() || w.dim() != 2) throw std::invalid_argument(std::string(who) + ": expected a weight [in, out], got " + shape_string(w));
  return parameter_copy(w);
}

// Flux's weight is (out, in) in Julia, the same memory as our [in, out].
Tensor drawn_weight(InOut io, const Init& init, const char* who) {
  if (io.in < 1 || io.out < 1) throw std::invalid_argument(std::string(who) + ": sizes must be positive");
  return init({io.out, io.in}).reshape({io.out, io.in}).t().contiguous();
}

}  // namespace

EmbeddingImpl::EmbeddingImpl(InOut io, EmbeddingOptions options) {
  weight = register_parameter("weight", drawn_weight(io, options.init, "Embedding"));
}

EmbeddingImpl::EmbeddingImpl(Tensor w) { weight = register_parameter("weight", checked_weight(w, "Embedding")); }

Tensor EmbeddingImpl::forward(const Tensor& x) { return lookup(*this, weight, x); }

void EmbeddingImpl::pretty_print(std::ostream& os) const {
  os << "Embedding(" << weight.size(0) << " => " << weight.size(1) << ')';
}

// ---- EmbeddingBag ---------------------------------------------------------------------

EmbeddingBagImpl::EmbeddingBagImpl(InOut io, BagReduction r, EmbeddingBagOptions options) : reduction(r) {
  weight = register_parameter("weight", drawn_weight(io, options.init, "EmbeddingBag"));
}

EmbeddingBagImpl::EmbeddingBagImpl(Tensor w, BagReduction r) : reduction(r) {
  weight = register_parameter("weight", checked_weight(w, "EmbeddingBag"));
}

Tensor EmbeddingBagImpl::reduce(const Tensor& rows, int64_t dim) const {
  switch (reduction) {
    case BagReduction::sum: return rows.sum(dim);
    case BagReduction::max:
      if (rows.size(dim) == 0) throw std::invalid_argument(repr() + ": the maximum of an empty bag");
      return std::get<0>(rows.max(dim));
    case BagReduction::mean: break;
  }
  return rows.mean(dim);
}

Tensor EmbeddingBagImpl::forward(const Tensor& x) {
  const bool one_hot = x.is_floating_point() || x.scalar_type() == torch::kBool;
  // As Flux: a bag is at least one dimension of ids, or two of one-hot rows.
  if (x.dim() == 0) throw std::invalid_argument(repr() + ": expects an array of indices, not just one");
  if (one_hot && x.dim() == 1) throw std::invalid_argument(repr() + ": not defined for a one-hot vector");
  return reduce(lookup(*this, weight, x), -2);
}

Tensor EmbeddingBagImpl::forward(const Tensor& inputs, const Tensor& offsets) { return forward_offsets(inputs, offsets); }

Tensor EmbeddingBagImpl::forward_offsets(const Tensor& inputs, const Tensor& offsets) {
  if (inputs.dim() != 1 || inputs.is_floating_point()) input_error("a vector of token ids with offsets", inputs);
  if (offsets.dim() != 1 || offsets.numel() == 0 || offsets.is_floating_point()) {
    input_error("a non-empty vector of integer offsets", offsets);
  }
  const Tensor starts = offsets.to(torch::kLong).contiguous();
  const int64_t n = inputs.size(0), bags = starts.size(0);
  const int64_t* s = starts.data_ptr<int64_t>();
  if (s[0] != 0) throw std::invalid_argument(repr() + ": offsets must begin with 0, got " + std::to_string(s[0]));
  std::vector<Tensor> out;
  for (int64_t i = 0; i < bags; ++i) {
    const int64_t end = i + 1 < bags ? s[i + 1] : n;
    // Flux's _splitat: increasing, no duplicates, none past the data.
    if ((i + 1 < bags && end <= s[i]) || s[i] > n || end > n) {
      throw std::invalid_argument(repr() + ": offsets must increase with no duplicates and be at most " +
                                  std::to_string(n) + ", got " + std::to_string(end) + " after " + std::to_string(s[i]));
    }
    out.push_back(reduce(lookup(*this, weight, inputs.slice(0, s[i], end)), 0));
  }
  return torch::stack(out, 0);
}

Tensor EmbeddingBagImpl::forward_multi(const std::vector<Tensor>& xs) {
  if (xs.size() == 1) return forward(xs[0]);
  if (xs.size() == 2) return forward(xs[0], xs[1]);
  throw std::invalid_argument(repr() + ": takes bags, or inputs and offsets; got " + std::to_string(xs.size()) + " inputs");
}

Tensor EmbeddingBagImpl::forward_bags(const std::vector<Tensor>& bags) {
  if (bags.empty()) return torch::empty({0, weight.size(1)}, weight.options().requires_grad(false));
  std::vector<Tensor> out;
  for (const auto& bag : bags) {
    const bool one_hot = bag.is_floating_point() || bag.scalar_type() == torch::kBool;
    if (bag.dim() != (one_hot ? 2 : 1)) input_error("bags of token ids [n] or of one-hot rows [n, in]", bag);
    out.push_back(forward(bag));
  }
  return torch::stack(out, 0);
}

void EmbeddingBagImpl::pretty_print(std::ostream& os) const {
  os << "EmbeddingBag(" << weight.size(0) << " => " << weight.size(1);
  if (reduction == BagReduction::sum) os << ", sum";
  if (reduction == BagReduction::max) os << ", max";
  os << ')';
}

}  // namespace flux
