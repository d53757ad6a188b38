// parallel.h — Parallel: branches on one input (or one each), joined by a connection.
#pragma once

#include <flux/chain.h>
#include <flux/connection.h>

namespace flux {

/// Parallel(connection, layers...): `connection(l1(x), l2(x), ...)` on one input;
/// with several inputs `m(x1, x2, ...)` (or a vector of them) they are zipped
/// with the layers: `Parallel(plus, f, g)(x, y) == f(x) + g(y)`.
class ParallelImpl : public LayerImpl {
 public:
  ParallelImpl(Connection connection, std::vector<Layer> layers);
  ParallelImpl(Connection connection, NamedLayers layers);

  Tensor forward(const Tensor& x) override;
  Tensor forward_multi(const std::vector<Tensor>& xs) override;

  size_t size() const { return layers_.size(); }
  const Layer& operator[](size_t i) const;
  const Connection& connection() const { return connection_; }

  std::vector<ShowItem> show_items() const override;
  std::string show_name() const override { return "Parallel"; }
  void pretty_print(std::ostream& os) const override;

 private:
  void add(Layer layer, std::string name);
  Connection connection_;
  std::vector<Layer> layers_;
  std::vector<std::string> names_;
};

class Parallel : public Holder<ParallelImpl> {
 public:
  using Holder::Holder;
  template <class... Ls>
    requires(detail::LayerArg<Ls> && ...)
  Parallel(Connection connection, Ls&&... layers)
      : Holder(make(std::move(connection), detail::collect_layers(std::forward<Ls>(layers)...))) {}
  Parallel(Connection connection, NamedLayers layers) : Holder(make(std::move(connection), std::move(layers))) {}
  template <class... Ts>
  Tensor operator()(const Tensor& x, const Ts&... rest) const {
    if constexpr (sizeof...(Ts) == 0) return this->ptr()->forward(x);
    else return this->ptr()->forward_multi({x, rest...});
  }
  Tensor operator()(const std::vector<Tensor>& xs) const { return this->ptr()->forward_multi(xs); }
};

}  // namespace flux
