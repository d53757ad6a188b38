#include <flux/parallel.h>

#include <stdexcept>

namespace flux {

BranchesImpl::BranchesImpl(const char* type, Connection connection, std::vector<Layer> layers)
    : type_(type), connection_(std::move(connection)) {
  for (auto& l : layers) add(std::move(l), "");
  if (connection_.layer()) register_module("connection", connection_.layer().ptr());
}

BranchesImpl::BranchesImpl(const char* type, Connection connection, NamedLayers layers)
    : type_(type), connection_(std::move(connection)) {
  for (auto& [name, l] : layers) {
    if (name == "connection" || name == "layers") {
      throw std::invalid_argument(std::string(type_) + ": `" + name + "` is a reserved name");
    }
    add(std::move(l), name);
  }
  if (connection_.layer()) register_module("connection", connection_.layer().ptr());
}

void BranchesImpl::add(Layer layer, std::string name) {
  if (!layer) throw std::invalid_argument(std::string(type_) + ": layer " + std::to_string(layers_.size()) + " is empty");
  register_module(name.empty() ? std::to_string(layers_.size()) : name, layer.ptr());
  layers_.push_back(std::move(layer));
  names_.push_back(std::move(name));
}

const Layer& BranchesImpl::operator[](size_t i) const {
  if (i >= layers_.size()) {
    throw std::out_of_range(std::string(type_) + ": index " + std::to_string(i) + " out of range for " +
                            std::to_string(layers_.size()) + " layers");
  }
  return layers_[i];
}

const Layer& BranchesImpl::operator[](const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (!name.empty() && names_[i] == name) return layers_[i];
  }
  throw std::out_of_range(std::string(type_) + ": no layer named '" + name + "'");
}

NamedLayers BranchesImpl::branches(size_t a, size_t b) const {
  if (a > b || b > layers_.size()) {
    throw std::out_of_range(std::string(type_) + ": slice [" + std::to_string(a) + ", " + std::to_string(b) +
                            ") out of range for " + std::to_string(layers_.size()) + " layers");
  }
  NamedLayers out;
  for (size_t i = a; i < b; ++i) out.emplace_back(names_[i], layers_[i]);
  return out;
}

void BranchesImpl::check_inputs(size_t n) const {
  if (n == 1 || (n == layers_.size() && n > 0)) return;
  throw std::invalid_argument(std::string(type_) + " with " + std::to_string(layers_.size()) +
                              " sub-layers can take one input or " + std::to_string(layers_.size()) +
                              " inputs, but got " + std::to_string(n) + " inputs");
}

std::vector<ShowItem> BranchesImpl::show_items() const {
  std::vector<ShowItem> items;
  if (connection_.layer()) items.push_back({"", connection_.layer().ptr(), ""});
  else items.push_back({"", nullptr, connection_.name()});
  for (size_t i = 0; i < layers_.size(); ++i) items.push_back({names_[i], layers_[i].ptr(), ""});
  return items;
}

void BranchesImpl::pretty_print(std::ostream& os) const {
  os << type_ << '(' << connection_.name();
  for (size_t i = 0; i < layers_.size(); ++i) {
    os << ", " << (names_[i].empty() ? "" : names_[i] + " = ") << layers_[i]->repr();
  }
  os << ')';
}

Tensor ParallelImpl::forward(const Tensor& x) {
  std::vector<Tensor> ys;
  for (const auto& l : layers()) ys.push_back(l(x));
  return connection()(ys);
}

Tensor ParallelImpl::forward_multi(const std::vector<Tensor>& xs) {
  check_inputs(xs.size());
  if (xs.size() == 1) return forward(xs[0]);
  std::vector<Tensor> ys;
  for (size_t i = 0; i < xs.size(); ++i) ys.push_back(layers()[i](xs[i]));
  return connection()(ys);
}

std::shared_ptr<ParallelImpl> ParallelImpl::slice(size_t a, size_t b) const {
  NamedLayers part = branches(a, b);
  bool named = false;
  for (const auto& [name, layer] : part) named = named || !name.empty();
  if (named) return std::make_shared<ParallelImpl>(connection(), std::move(part));
  std::vector<Layer> layers;
  for (auto& [name, layer] : part) layers.push_back(std::move(layer));
  return std::make_shared<ParallelImpl>(connection(), std::move(layers));
}

}  // namespace flux
