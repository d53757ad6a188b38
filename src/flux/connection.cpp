#include <flux/connection.h>

#include <torch/types.h>

#include <atomic>
#include <stdexcept>

namespace flux {

Connection::Connection(Layer layer) : layer_(std::move(layer)) {
  if (!layer_) throw std::invalid_argument("Connection: empty layer");
}

Connection::Fn Connection::fold(std::function<Tensor(const Tensor&, const Tensor&)> f) {
  return [f = std::move(f)](const std::vector<Tensor>& xs) {
    if (xs.empty()) throw std::invalid_argument("connection: a binary function needs at least one input");
    Tensor y = xs[0];
    for (size_t i = 1; i < xs.size(); ++i) y = f(y, xs[i]);
    return y;
  };
}

Tensor Connection::operator()(const std::vector<Tensor>& xs) const {
  if (layer_) return layer_(xs);
  return f_(xs);
}

std::string Connection::name() const {
  if (layer_) return layer_->repr();
  if (!name_.empty()) return name_;
  return "#connection";
}

const Connection plus("+", [](const std::vector<Tensor>& xs) {
  if (xs.empty()) throw std::invalid_argument("+: needs at least one input");
  Tensor y = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) y = y + xs[i];
  return y;
});

const Connection vcat("vcat", [](const std::vector<Tensor>& xs) { return torch::cat(xs, -1); });

const Connection hcat("hcat", [](const std::vector<Tensor>& xs) {
  if (!xs.empty() && xs[0].dim() == 1) return torch::stack(xs, 0);
  return torch::cat(xs, -2);
});

Connection cat(int64_t dim) {
  return Connection("cat(dim=" + std::to_string(dim) + ")",
                    [dim](const std::vector<Tensor>& xs) { return torch::cat(xs, dim); });
}

}  // namespace flux
