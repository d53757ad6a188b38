#include <flux/skip_connection.h>

#include <stdexcept>

namespace flux {

SkipConnectionImpl::SkipConnectionImpl(Layer layer, Connection connection)
    : layer_(std::move(layer)), connection_(std::move(connection)) {
  if (!layer_) throw std::invalid_argument("SkipConnection: empty layer");
  register_module("layers", layer_.ptr());
  if (connection_.layer()) register_module("connection", connection_.layer().ptr());
}

Tensor SkipConnectionImpl::forward(const Tensor& x) { return connection_({layer_(x), x}); }

std::vector<ShowItem> SkipConnectionImpl::show_items() const {
  std::vector<ShowItem> items{{"", layer_.ptr(), ""}};
  if (connection_.layer()) items.push_back({"", connection_.layer().ptr(), ""});
  else items.push_back({"", nullptr, connection_.name()});
  return items;
}

void SkipConnectionImpl::pretty_print(std::ostream& os) const {
  os << "SkipConnection(" << layer_->repr() << ", " << connection_.name() << ')';
}

}  // namespace flux
