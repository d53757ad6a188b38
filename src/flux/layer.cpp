#include <flux/layer.h>
#include <flux/printing.h>

#include <atomic>
#include <sstream>
#include <stdexcept>

namespace flux {

Tensor LayerImpl::forward_multi(const std::vector<Tensor>& xs) {
  if (xs.size() != 1) {
    throw std::invalid_argument(repr() + ": takes one input, got " + std::to_string(xs.size()));
  }
  return forward(xs[0]);
}

std::string LayerImpl::repr() const { return flux::repr(*this); }

void LayerImpl::input_error(std::string_view expected, const Tensor& got) const {
  std::ostringstream os;
  os << repr() << ": expected " << expected << ", got a tensor of shape " << shape_string(got);
  throw std::invalid_argument(os.str());
}

void LayerImpl::option_error(std::string_view message) const {
  throw std::invalid_argument(repr() + ": " + std::string(message));
}

std::string shape_string(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < sizes.size(); ++i) os << (i ? ", " : "") << sizes[i];
  os << ']';
  return os.str();
}

std::string shape_string(const Tensor& t) {
  return t.defined() ? shape_string(t.sizes()) : std::string("(undefined)");
}

FnImpl::FnImpl(std::function<Tensor(const Tensor&)> f, std::string name)
    : f_(std::move(f)), name_(std::move(name)) {
  if (!f_) throw std::invalid_argument("flux::fn: empty function");
  if (name_.empty()) {
    static std::atomic<int> counter{0};
    name_ = "#" + std::to_string(++counter);
  }
}

std::shared_ptr<LayerImpl> Layer::wrap(std::function<Tensor(const Tensor&)> f, std::string name) {
  return std::make_shared<FnImpl>(std::move(f), std::move(name));
}

Layer fn(std::string name, std::function<Tensor(const Tensor&)> f) {
  return Layer(std::make_shared<FnImpl>(std::move(f), std::move(name)));
}

}  // namespace flux
