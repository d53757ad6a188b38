// embedding.h — Embedding: a lookup table of `out`-vectors for a vocabulary of `in`;
// EmbeddingBag: the same table, each bag of tokens reduced to one vector.
#pragma once

#include <flux/dense.h>

namespace flux {

struct EmbeddingOptions {
  Init init = randn32;
};

/// Embedding({in, out}, {.init = randn32}) or Embedding(weight) with weight [in, out].
/// Integer input (0-based token ids, unlike Flux's 1-based) of shape `s` gives
/// `[s..., out]`; a one-hot (bool or float) input `[..., in]` is multiplied and
/// gives `[..., out]`. weight row k is token k, as torch's nn.Embedding.
class EmbeddingImpl : public LayerImpl {
 public:
  EmbeddingImpl(InOut io, EmbeddingOptions options = {});
  explicit EmbeddingImpl(Tensor weight);

  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight;  // [in, out]
};

class Embedding : public Holder<EmbeddingImpl> {
 public:
  using Holder::Holder;
  Embedding(InOut io, EmbeddingOptions options = {}) : Holder(make(io, std::move(options))) {}
  explicit Embedding(Tensor weight) : Holder(make(std::move(weight))) {}
};

/// How EmbeddingBag reduces a bag (Flux takes any reduction function; these are torch's).
enum class BagReduction { mean, sum, max };

struct EmbeddingBagOptions {
  Init init = randn32;
};

/// EmbeddingBag({in, out}, reduction = mean, {.init = randn32}) or EmbeddingBag(weight, reduction)
/// with weight [in, out] as Embedding's. Bags of 0-based token ids:
///   a bag [n]              → the reduction of its n rows, [out] (one id alone is refused, as in Flux)
///   bags [..., B, n]       → one row per bag (Flux's columns are our rows), [..., B, out]
///   (inputs [n], offsets [B]) → bag i is inputs[offsets[i] : offsets[i+1]] (torch's and
///                             Flux's 0-based starts; offsets[0] must be 0, then increasing), [B, out]
///   a vector of bags of any lengths (`forward_bags`) → [B, out]
///   one-hot rows [n, in] or [B, n, in] (float or bool) → [out], [B, out].
class EmbeddingBagImpl : public LayerImpl {
 public:
  EmbeddingBagImpl(InOut io, BagReduction reduction = BagReduction::mean, EmbeddingBagOptions options = {});
  explicit EmbeddingBagImpl(Tensor weight, BagReduction reduction = BagReduction::mean);

  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& inputs, const Tensor& offsets);
  Tensor forward_offsets(const Tensor& inputs, const Tensor& offsets);
  Tensor forward_multi(const std::vector<Tensor>& xs) override;
  Tensor forward_bags(const std::vector<Tensor>& bags);
  void pretty_print(std::ostream& os) const override;

  Tensor weight;  // [in, out]
  BagReduction reduction;

 private:
  Tensor reduce(const Tensor& rows, int64_t dim) const;
};

class EmbeddingBag : public Holder<EmbeddingBagImpl> {
 public:
  using Holder::Holder;
  EmbeddingBag(InOut io, BagReduction reduction = BagReduction::mean, EmbeddingBagOptions options = {})
      : Holder(make(io, reduction, std::move(options))) {}
  explicit EmbeddingBag(Tensor weight, BagReduction reduction = BagReduction::mean)
      : Holder(make(std::move(weight), reduction)) {}
  // ModuleHolder's operator() cannot deduce a return type from overloaded forwards.
  Tensor operator()(const Tensor& x) const { return this->ptr()->forward(x); }
  Tensor operator()(const Tensor& inputs, const Tensor& offsets) const { return this->ptr()->forward(inputs, offsets); }
  Tensor operator()(const std::vector<Tensor>& bags) const { return this->ptr()->forward_bags(bags); }
};

}  // namespace flux
