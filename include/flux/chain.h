// chain.h — Chain: layers called in sequence.
#pragma once

#include <flux/layer.h>

#include <string>
#include <utility>
#include <vector>

namespace flux {

using NamedLayers = std::vector<std::pair<std::string, Layer>>;

/// Chain(layers...): calls its layers left to right, `m(x) == m[1](m[0](x))`.
/// Any layer or callable is a layer; a `std::vector<Layer>` argument (what
/// `metalhead::layers::conv_norm` returns) is spliced in, like Julia's `...`.
/// Named: `Chain(NamedLayers{{"enc", Dense({2, 3})}, {"dec", Dense({3, 2})}})`.
/// Indexing is 0-based; `m.slice(a, b)` is the Chain of layers a..b-1, sharing them.
/// An empty Chain is the identity.
class ChainImpl : public LayerImpl {
 public:
  ChainImpl() = default;
  explicit ChainImpl(std::vector<Layer> layers);
  explicit ChainImpl(NamedLayers layers);

  Tensor forward(const Tensor& x) override;
  Tensor forward_multi(const std::vector<Tensor>& xs) override;
  /// Every layer's output in order (Flux.activations).
  std::vector<Tensor> activations(const Tensor& x);

  size_t size() const { return layers_.size(); }
  const Layer& operator[](size_t i) const;
  const Layer& operator[](const std::string& name) const;
  std::vector<Layer>::const_iterator begin() const { return layers_.begin(); }
  std::vector<Layer>::const_iterator end() const { return layers_.end(); }
  const std::vector<Layer>& layers() const { return layers_; }
  const std::vector<std::string>& names() const { return names_; }
  void push_back(Layer layer, std::string name = "");
  /// Puts `layer` in place of layer i, under the same name (a new head, another pool).
  void replace(size_t i, Layer layer);

  std::vector<ShowItem> show_items() const override;
  std::string show_name() const override { return "Chain"; }
  void pretty_print(std::ostream& os) const override;

 private:
  std::vector<Layer> layers_;
  std::vector<std::string> names_;  // empty strings for an unnamed chain
};

namespace detail {
inline void append_layers(std::vector<Layer>& out, const std::vector<Layer>& many) {
  out.insert(out.end(), many.begin(), many.end());
}
template <class L>
  requires(!std::same_as<std::remove_cvref_t<L>, std::vector<Layer>>)  // vectors are spliced, above
void append_layers(std::vector<Layer>& out, L&& one) {
  out.emplace_back(Layer(std::forward<L>(one)));
}
template <class... Ls>
std::vector<Layer> collect_layers(Ls&&... ls) {
  std::vector<Layer> out;
  (append_layers(out, std::forward<Ls>(ls)), ...);
  return out;
}
template <class L>
concept LayerArg = std::convertible_to<L, Layer> || std::same_as<std::remove_cvref_t<L>, std::vector<Layer>>;
}  // namespace detail

class Chain : public Holder<ChainImpl> {
 public:
  using Holder::Holder;
  Chain() : Holder(make()) {}
  template <class First, class... Rest>
    requires(detail::LayerArg<First> && (detail::LayerArg<Rest> && ...) &&
             !(sizeof...(Rest) == 0 && std::same_as<std::remove_cvref_t<First>, Chain>))
  Chain(First&& first, Rest&&... rest) : Holder(make(detail::collect_layers(std::forward<First>(first), std::forward<Rest>(rest)...))) {}
  explicit Chain(std::vector<Layer> layers) : Holder(make(std::move(layers))) {}
  explicit Chain(NamedLayers layers) : Holder(make(std::move(layers))) {}

  /// Layers a..b-1 as a new Chain that shares them (Flux's `m[a+1:b]`).
  Chain slice(size_t a, size_t b) const;
  size_t size() const { return (*this)->size(); }
  auto begin() const { return (*this)->begin(); }
  auto end() const { return (*this)->end(); }
};

}  // namespace flux
