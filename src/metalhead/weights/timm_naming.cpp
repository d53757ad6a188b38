// timm_naming.cpp — timm's names for our models' tensors, family by family.
#include "naming.h"

namespace metalhead::weights::detail {
namespace {

using Namer = void (*)(KeyMap&, const Node& backbone, const Node& head);

const std::map<std::string, Namer>& namers() {
  static const std::map<std::string, Namer> table = {};
  return table;
}

}  // namespace

bool has_timm_naming(const Model& model) { return namers().count(model->type_name) > 0; }

KeyMap timm_keys(const Model& model) {
  auto it = namers().find(model->type_name);
  if (it == namers().end()) throw std::invalid_argument("timm naming: no timm names for " + model->type_name);
  const Node layers{model->layers.ptr().get(), "layers"};
  KeyMap out;
  it->second(out, child(layers, 0), child(layers, 1));
  return out;
}

}  // namespace metalhead::weights::detail
