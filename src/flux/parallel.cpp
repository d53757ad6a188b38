#include <flux/parallel.h>

#include <stdexcept>

namespace flux {

ParallelImpl::ParallelImpl(Connection connection, std::vector<Layer> layers) : connection_(std::move(connection)) {
  for (auto& l : layers) add(std::move(l), "");
  if (connection_.layer()) register_module("connection", connection_.layer().ptr());
}

ParallelImpl::ParallelImpl(Connection connection, NamedLayers layers) : connection_(std::move(connection)) {
  for (auto& [name, l] : layers) {
    if (name == "connection" || name == "layers") {
      throw std::invalid_argument("Parallel: `" + name + "` is a reserved name");
    }
    add(std::move(l), name);
  }
  if (connection_.layer()) register_module("connection", connection_.layer().ptr());
}

void ParallelImpl::add(Layer layer, std::string name) {
  if (!layer) throw std::invalid_argument("Parallel: layer " + std::to_string(layers_.size()) + " is empty");
  register_module(name.empty() ? std::to_string(layers_.size()) : name, layer.ptr());
  layers_.push_back(std::move(layer));
  names_.push_back(std::move(name));
}

Tensor ParallelImpl::forward(const Tensor& x) {
  std::vector<Tensor> ys;
  for (const auto& l : layers_) ys.push_back(l(x));
  return connection_(ys);
}

Tensor ParallelImpl::forward_multi(const std::vector<Tensor>& xs) {
  if (xs.size() == 1) return forward(xs[0]);
  if (xs.size() != layers_.size()) {
    throw std::invalid_argument("Parallel with " + std::to_string(layers_.size()) +
                                " sub-layers can take one input or " + std::to_string(layers_.size()) +
                                " inputs, but got " + std::to_string(xs.size()) + " inputs");
  }
  std::vector<Tensor> ys;
  for (size_t i = 0; i < xs.size(); ++i) ys.push_back(layers_[i](xs[i]));
  return connection_(ys);
}

const Layer& ParallelImpl::operator[](size_t i) const {
  if (i >= layers_.size()) throw std::out_of_range("Parallel: index " + std::to_string(i) + " out of range");
  return layers_[i];
}

std::vector<ShowItem> ParallelImpl::show_items() const {
  std::vector<ShowItem> items;
  if (connection_.layer()) items.push_back({"", connection_.layer().ptr(), ""});
  else items.push_back({"", nullptr, connection_.name()});
  for (size_t i = 0; i < layers_.size(); ++i) items.push_back({names_[i], layers_[i].ptr(), ""});
  return items;
}

void ParallelImpl::pretty_print(std::ostream& os) const {
  os << "Parallel(" << connection_.name();
  for (size_t i = 0; i < layers_.size(); ++i) {
    os << ", " << (names_[i].empty() ? "" : names_[i] + " = ") << layers_[i]->repr();
  }
  os << ')';
}

}  // namespace flux
