#include <flux/chain.h>
#include <flux/printing.h>

#include <stdexcept>

namespace flux {

ChainImpl::ChainImpl(std::vector<Layer> layers) {
  for (auto& l : layers) push_back(std::move(l));
}

ChainImpl::ChainImpl(NamedLayers layers) {
  for (auto& [name, l] : layers) {
    if (name.empty()) throw std::invalid_argument("Chain: a named layer needs a non-empty name");
    push_back(std::move(l), name);
  }
}

void ChainImpl::push_back(Layer layer, std::string name) {
  if (!layer) throw std::invalid_argument("Chain: layer " + std::to_string(layers_.size()) + " is empty");
  if (!name.empty() && name == "layers") throw std::invalid_argument("Chain: `layers` is a reserved name");
  if (!names_.empty() && (name.empty() != names_.front().empty())) {
    throw std::invalid_argument("Chain: either every layer has a name or none has");
  }
  register_module(name.empty() ? std::to_string(layers_.size()) : name, layer.ptr());
  layers_.push_back(std::move(layer));
  names_.push_back(std::move(name));
}

void ChainImpl::replace(size_t i, Layer layer) {
  if (i >= layers_.size()) (void)(*this)[i];  // the out-of-range error
  if (!layer) throw std::invalid_argument("Chain: replacing layer " + std::to_string(i) + " with an empty layer");
  replace_module(names_[i].empty() ? std::to_string(i) : names_[i], layer.ptr());
  layers_[i] = std::move(layer);
}

Tensor ChainImpl::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& l : layers_) y = l(y);
  return y;
}

Tensor ChainImpl::forward_multi(const std::vector<Tensor>& xs) {
  if (layers_.empty()) return LayerImpl::forward_multi(xs);
  Tensor y = layers_.front()(xs);
  for (size_t i = 1; i < layers_.size(); ++i) y = layers_[i](y);
  return y;
}

std::vector<Tensor> ChainImpl::activations(const Tensor& x) {
  std::vector<Tensor> out;
  Tensor y = x;
  for (const auto& l : layers_) out.push_back(y = l(y));
  return out;
}

const Layer& ChainImpl::operator[](size_t i) const {
  if (i >= layers_.size()) {
    throw std::out_of_range("Chain: index " + std::to_string(i) + " out of range for " +
                            std::to_string(layers_.size()) + " layers");
  }
  return layers_[i];
}

const Layer& ChainImpl::operator[](const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return layers_[i];
  }
  throw std::out_of_range("Chain: no layer named '" + name + "'");
}

std::vector<ShowItem> ChainImpl::show_items() const {
  std::vector<ShowItem> items;
  for (size_t i = 0; i < layers_.size(); ++i) items.push_back({names_[i], layers_[i].ptr(), ""});
  return items;
}

void ChainImpl::pretty_print(std::ostream& os) const {
  os << "Chain(";
  for (size_t i = 0; i < layers_.size(); ++i) {
    os << (i ? ", " : "") << (names_[i].empty() ? "" : names_[i] + " = ") << layers_[i]->repr();
  }
  os << ')';
}

Chain Chain::slice(size_t a, size_t b) const {
  const auto& impl = **this;
  if (a > b || b > impl.size()) {
    throw std::out_of_range("Chain: slice [" + std::to_string(a) + ", " + std::to_string(b) +
                            ") out of range for " + std::to_string(impl.size()) + " layers");
  }
  auto out = std::make_shared<ChainImpl>();
  for (size_t i = a; i < b; ++i) out->push_back(impl.layers()[i], impl.names()[i]);
  return Chain(out);
}

}  // namespace flux
