// parallel.h — Parallel: branches on one input (or one each), joined by a connection.
#pragma once

#include <flux/chain.h>
#include <flux/connection.h>

namespace flux {

/// What Parallel and PairwiseFusion share: a connection and branches, optionally named.
class BranchesImpl : public LayerImpl {
 public:
  size_t size() const { return layers_.size(); }
  const Layer& operator[](size_t i) const;
  /// The branch of that name (Flux's `m[:name]`).
  const Layer& operator[](const std::string& name) const;
  const std::vector<Layer>& layers() const { return layers_; }
  const std::vector<std::string>& names() const { return names_; }
  const Connection& connection() const { return connection_; }

  std::vector<ShowItem> show_items() const override;
  std::string show_name() const override { return type_; }
  void pretty_print(std::ostream& os) const override;

 protected:
  /// `type` is the container's name in messages and printing.
  BranchesImpl(const char* type, Connection connection, std::vector<Layer> layers);
  BranchesImpl(const char* type, Connection connection, NamedLayers layers);
  /// Branches a..b-1 with their names, for slicing.
  NamedLayers branches(size_t a, size_t b) const;
  /// Throws unless there is one input or one per branch.
  void check_inputs(size_t n) const;

 private:
  void add(Layer layer, std::string name);
  const char* type_;
  Connection connection_;
  std::vector<Layer> layers_;
  std::vector<std::string> names_;
};

/// Parallel(connection, layers...): `connection(l1(x), l2(x), ...)` on one input;
/// with several inputs `m(x1, x2, ...)` (or a vector of them) they are zipped
/// with the layers: `Parallel(plus, f, g)(x, y) == f(x) + g(y)`.
/// `m[i]`, `m["name"]` and `m.slice(a, b)` (branches a..b-1, sharing them) as for Chain.
class ParallelImpl : public BranchesImpl {
 public:
  ParallelImpl(Connection connection, std::vector<Layer> layers)
      : BranchesImpl("Parallel", std::move(connection), std::move(layers)) {}
  ParallelImpl(Connection connection, NamedLayers layers)
      : BranchesImpl("Parallel", std::move(connection), std::move(layers)) {}

  Tensor forward(const Tensor& x) override;
  Tensor forward_multi(const std::vector<Tensor>& xs) override;
  /// Branches a..b-1 with the same connection (Flux's `m[a+1:b]`).
  std::shared_ptr<ParallelImpl> slice(size_t a, size_t b) const;
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
  Parallel slice(size_t a, size_t b) const { return Parallel(this->ptr()->slice(a, b)); }
  size_t size() const { return this->ptr()->size(); }
};

}  // namespace flux
