#include <flux/maxout.h>

#include <torch/types.h>

#include <stdexcept>

namespace flux {

MaxoutImpl::MaxoutImpl(std::vector<Layer> layers) : layers_(std::move(layers)) {
  if (layers_.empty()) throw std::invalid_argument("Maxout: needs at least one layer");
  for (size_t i = 0; i < layers_.size(); ++i) register_module(std::to_string(i), layers_[i].ptr());
}

std::vector<Layer> Maxout::repeat(const std::function<Layer()>& make_layer, int n) {
  if (n < 1) throw std::invalid_argument("Maxout: needs n >= 1 layers, got " + std::to_string(n));
  std::vector<Layer> layers;
  for (int i = 0; i < n; ++i) layers.push_back(make_layer());
  return layers;
}

Tensor MaxoutImpl::forward(const Tensor& x) {
  Tensor y = layers_[0](x);
  for (size_t i = 1; i < layers_.size(); ++i) y = torch::maximum(y, layers_[i](x));
  return y;
}

std::vector<ShowItem> MaxoutImpl::show_items() const {
  std::vector<ShowItem> items;
  for (const auto& l : layers_) items.push_back({"", l.ptr(), ""});
  return items;
}

void MaxoutImpl::pretty_print(std::ostream& os) const {
  os << "Maxout(";
  for (size_t i = 0; i < layers_.size(); ++i) os << (i ? ", " : "") << layers_[i]->repr();
  os << ')';
}

}  // namespace flux
