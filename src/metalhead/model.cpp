#include <metalhead/model.h>

#include <sstream>
#include <stdexcept>

namespace metalhead {

ModelImpl::ModelImpl(std::string name, flux::Chain backbone, flux::Chain classifier, int64_t in)
    : layers(std::vector<flux::Layer>{std::move(backbone), std::move(classifier)}),
      type_name(std::move(name)),
      inchannels(in) {
  register_module("layers", layers.ptr());
}

Tensor ModelImpl::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != inchannels) {
    input_error("[N, " + std::to_string(inchannels) + ", H, W] images", x);
  }
  return layers(x);
}

void ModelImpl::pretty_print(std::ostream& os) const { os << type_name << '(' << layers->repr() << ')'; }

Model::Model(std::string type_name, const flux::Chain& layers, int64_t inchannels)
    : Model([&] {
        auto backbone = layers->size() == 2 ? (*layers)[0].as<flux::ChainImpl>() : nullptr;
        auto classifier = layers->size() == 2 ? (*layers)[1].as<flux::ChainImpl>() : nullptr;
        if (!backbone || !classifier) {
          throw std::invalid_argument(type_name + ": expected Chain(backbone, classifier), got " + layers->repr());
        }
        return Model(type_name, flux::Chain(backbone), flux::Chain(classifier), inchannels);
      }()) {}

flux::Chain backbone(const Model& model) {
  return flux::Chain((*model->layers)[0].as<flux::ChainImpl>());
}

flux::Chain classifier(const Model& model) {
  return flux::Chain((*model->layers)[1].as<flux::ChainImpl>());
}

namespace detail {


void bad_config(const std::string& what, const std::string& value, const std::vector<std::string>& allowed) {
  std::ostringstream os;
  os << what << ": " << value << " is not one of ";
  for (size_t i = 0; i < allowed.size(); ++i) os << (i ? ", " : "") << allowed[i];
  throw std::invalid_argument(os.str());
}

}  // namespace detail
}  // namespace metalhead
