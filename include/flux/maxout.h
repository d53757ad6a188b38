// maxout.h — Maxout: the elementwise maximum of several layers on the same input.
#pragma once

#include <flux/chain.h>

#include <functional>

namespace flux {

/// Maxout(layers...) or Maxout(make_layer, n) (calls `make_layer` n times).
/// Outputs are folded with a broadcasting maximum.
class MaxoutImpl : public LayerImpl {
 public:
  explicit MaxoutImpl(std::vector<Layer> layers);

  Tensor forward(const Tensor& x) override;
  std::vector<ShowItem> show_items() const override;
  std::string show_name() const override { return "Maxout"; }
  void pretty_print(std::ostream& os) const override;

 private:
  std::vector<Layer> layers_;
};

class Maxout : public Holder<MaxoutImpl> {
 public:
  using Holder::Holder;
  template <class... Ls>
    requires(sizeof...(Ls) >= 1 && (detail::LayerArg<Ls> && ...) &&
             !(sizeof...(Ls) == 1 && (std::same_as<std::remove_cvref_t<Ls>, Maxout> && ...)))
  Maxout(Ls&&... layers) : Holder(make(detail::collect_layers(std::forward<Ls>(layers)...))) {}
  /// Maxout(make_layer, n). (Holders are excluded first: asking whether one is
  /// callable with no argument is a hard error inside libtorch.)
  template <class F>
    requires(!requires(const F& f) { f.ptr(); }) && std::is_invocable_r_v<Layer, F&>
  Maxout(F make_layer, int n) : Holder(make(repeat(std::function<Layer()>(std::move(make_layer)), n))) {}

 private:
  static std::vector<Layer> repeat(const std::function<Layer()>& make_layer, int n);
};

}  // namespace flux
