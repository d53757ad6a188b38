// skip_connection.h — SkipConnection: `connection(layer(x), x)`.
#pragma once

#include <flux/connection.h>

namespace flux {

/// SkipConnection(layer, connection): the layer's output is the first argument of
/// the connection and the unchanged input the second. `SkipConnection(m, plus)`
/// is a residual block; `SkipConnection(m, cat(1))` concatenates channels.
class SkipConnectionImpl : public LayerImpl {
 public:
  SkipConnectionImpl(Layer layer, Connection connection);

  Tensor forward(const Tensor& x) override;
  const Layer& layer() const { return layer_; }
  const Connection& connection() const { return connection_; }

  std::vector<ShowItem> show_items() const override;
  std::string show_name() const override { return "SkipConnection"; }
  void pretty_print(std::ostream& os) const override;

 private:
  Layer layer_;
  Connection connection_;
};

class SkipConnection : public Holder<SkipConnectionImpl> {
 public:
  using Holder::Holder;
  SkipConnection(Layer layer, Connection connection) : Holder(make(std::move(layer), std::move(connection))) {}
};

}  // namespace flux
