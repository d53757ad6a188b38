#include <metalhead/layers/classifier.h>

#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/dropout.h>

#include <stdexcept>

namespace metalhead::layers {

bool is_identity(const flux::Layer& layer) { return !layer || layer->repr() == "identity"; }

namespace {

flux::Layer fully_connected(bool conv, int64_t in, int64_t out, const flux::Activation& activation) {
  if (conv) return flux::Conv({1, 1}, {in, out}, activation);
  return flux::Dense({in, out}, activation);
}

// Metalhead keeps the pool layer even when it is `identity`, so the head's layout
// (and the indices into it) match.
void push_pool(std::vector<flux::Layer>& layers, const flux::Layer& pool_layer, bool first_is_conv, const char* who) {
  const bool no_pool = is_identity(pool_layer);
  if (first_is_conv && !no_pool) {
    throw std::invalid_argument(std::string(who) + ": `pool_layer` must be identity when the first layer is a Conv");
  }
  layers.push_back(pool_layer ? pool_layer : flux::Layer(flux::identity));
  if (!first_is_conv && !no_pool) layers.emplace_back(flux::flatten);
}

}  // namespace

flux::Chain create_classifier(int64_t inplanes, int64_t nclasses, flux::Activation activation,
                              ClassifierOptions options) {
  std::vector<flux::Layer> layers;
  push_pool(layers, options.pool_layer, options.use_conv, "create_classifier");
  if (options.dropout_prob) layers.emplace_back(flux::Dropout(*options.dropout_prob));
  layers.push_back(fully_connected(options.use_conv, inplanes, nclasses, activation));
  return flux::Chain(std::move(layers));
}

flux::Chain create_classifier(int64_t inplanes, int64_t hidden_planes, int64_t nclasses,
                              std::array<flux::Activation, 2> activations, HiddenClassifierOptions options) {
  std::vector<flux::Layer> layers;
  push_pool(layers, options.pool_layer, options.use_conv[0], "create_classifier");
  layers.push_back(fully_connected(options.use_conv[0], inplanes, hidden_planes, activations[0]));
  if (options.dropout_prob) layers.emplace_back(flux::Dropout(*options.dropout_prob));
  layers.push_back(fully_connected(options.use_conv[1], hidden_planes, nclasses, activations[1]));
  return flux::Chain(std::move(layers));
}

}  // namespace metalhead::layers
