// embedding.h — Embedding: a lookup table of `out`-vectors for a vocabulary of `in`.
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

}  // namespace flux
