#include <flux/connection.h>

#include <flux/activations.h>

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

Tensor Connection::operator()(std::vector<Tensor>&& xs) const {
  if (!layer_ && owned_ && !xs.empty() && exclusively_owned(xs[0])) return owned_(xs);
  return (*this)(static_cast<const std::vector<Tensor>&>(xs));
}

Tensor add_into(std::vector<Tensor>& xs) {
  Tensor y = std::move(xs[0]);
  for (size_t i = 1; i < xs.size(); ++i) {
    // In place only where the sum keeps y's shape and type; broadcasting y itself cannot be.
    if (at::infer_size(y.sizes(), xs[i].sizes()) == y.sizes() && at::result_type(y, xs[i]) == y.scalar_type()) {
      y.add_(xs[i]);
    } else {
      y = y + xs[i];
    }
  }
  return y;
}

std::string Connection::name() const {
  if (layer_) return layer_->repr();
  if (!name_.empty()) return name_;
  return "#connection";
}

const Connection plus(
    "+",
    [](const std::vector<Tensor>& xs) {
      if (xs.empty()) throw std::invalid_argument("+: needs at least one input");
      Tensor y = xs[0];
      for (size_t i = 1; i < xs.size(); ++i) y = y + xs[i];
      return y;
    },
    add_into);

namespace {
// Julia's vcat and hcat take scalars as length-1 vectors, and of nothing give an empty vector.
std::vector<Tensor> scalars_as_vectors(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  out.reserve(xs.size());
  for (const auto& x : xs) out.push_back(x.dim() == 0 ? x.reshape({1}) : x);
  return out;
}
}  // namespace

const Connection vcat("vcat", [](const std::vector<Tensor>& xs) {
  if (xs.empty()) return torch::empty({0});
  return torch::cat(scalars_as_vectors(xs), -1);
});

const Connection hcat("hcat", [](const std::vector<Tensor>& xs) {
  if (xs.empty()) return torch::empty({0});
  auto vs = scalars_as_vectors(xs);
  if (vs[0].dim() == 1) return torch::stack(vs, 0);  // vectors are columns: Julia's (n, k) is our [k, n]
  return torch::cat(vs, -2);
});

Connection cat(int64_t dim) {
  return Connection("cat(dim=" + std::to_string(dim) + ")",
                    [dim](const std::vector<Tensor>& xs) { return torch::cat(xs, dim); });
}

}  // namespace flux
