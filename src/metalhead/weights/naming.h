// naming.h — how torchvision and timm name our models' tensors (internal to the weights module).
//
// Each family's namer walks our model and says, block by block, which module of the
// original every parametrised layer is: explicit names, never a zip of two flat lists.
// Shapes are checked when loading, so a namer that goes wrong fails loudly.
#pragma once

#include <metalhead/model.h>

#include <flux/normalise.h>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace metalhead::weights::detail {

/// One tensor's names: ours, the original's, and whether the original's tensor has an
/// extra leading 1 in its shape (ViT's position embedding, [1, T, D] to our [T, D]).
struct KeyPair {
  std::string ours, theirs;
  bool leading_one = false;
};
using KeyMap = std::vector<KeyPair>;

inline const std::string naming_error_prefix = "weights naming: ";

using torch::nn::Module;

/// A module of our model and its path ("layers.0.3").
struct Node {
  Module* module;
  std::string path;
};

inline std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

inline std::vector<Node> children(const Node& n) {
  std::vector<Node> out;
  for (const auto& c : n.module->named_children()) out.push_back({c.value().get(), join(n.path, c.key())});
  return out;
}

inline Node child(const Node& n, const std::string& name) {
  for (const auto& c : n.module->named_children()) {
    if (c.key() == name) return {c.value().get(), join(n.path, c.key())};
  }
  throw std::logic_error(naming_error_prefix + n.path + " has no child '" + name + "'");
}
inline Node child(const Node& n, size_t i) { return child(n, std::to_string(i)); }

inline bool has_tensors(const Module& m) { return !m.named_parameters(false).is_empty() || !m.named_buffers(false).is_empty(); }
inline bool has_tensors_under(const Module& m) { return !m.parameters().empty() || !m.buffers().empty(); }

template <class T>
bool is(const Node& n) {
  return dynamic_cast<const T*>(n.module) != nullptr;
}

/// `prefix.i`, the name of a Sequential's i-th module.
inline std::string at(const std::string& prefix, size_t i) { return prefix + "." + std::to_string(i); }

/// The modules under (and including) a node that hold tensors themselves, in order.
inline void collect_leaves(const Node& n, std::vector<Node>& out) {
  if (has_tensors(*n.module)) out.push_back(n);
  for (const auto& c : children(n)) collect_leaves(c, out);
}
inline std::vector<Node> leaves_of(const Node& n) {
  std::vector<Node> out;
  collect_leaves(n, out);
  return out;
}

/// A family's namer: names the tensors of our backbone and classifier.
using Namer = void (*)(KeyMap&, const Node& backbone, const Node& head);
using Namers = std::map<std::string, Namer>;  // by our model's type name

/// Runs the namer of `model`'s family; throws std::invalid_argument naming `original`
/// when it has none.
inline KeyMap run_namer(const Namers& namers, const Model& model, const std::string& original) {
  auto it = namers.find(model->type_name);
  if (it == namers.end()) throw std::invalid_argument(original + " naming: " + original + " has no " + model->type_name);
  const Node layers{model->layers.ptr().get(), "layers"};
  KeyMap out;
  it->second(out, child(layers, 0), child(layers, 1));
  return out;
}

/// The parametrised layers under a node, in order, handed out one at a time with
/// their names in the original. Running out, or leaving some unnamed, is a namer bug.
class Leaves {
 public:
  Leaves(KeyMap& out, const Node& root) : out_(out), root_(root.path), leaves_(leaves_of(root)) {}
  /// The next layer is the original's module `theirs`; its tensors keep their names.
  Leaves& operator()(const std::string& theirs) {
    const Node& n = next();
    for (const auto& p : n.module->named_parameters(false)) out_.push_back({join(n.path, p.key()), theirs + "." + p.key()});
    for (const auto& b : n.module->named_buffers(false)) out_.push_back({join(n.path, b.key()), theirs + "." + b.key()});
    return *this;
  }
  /// The next layer's tensors, each with its own full key; `leading_one`: the
  /// original's tensors have an extra leading dimension of 1.
  Leaves& keys(const std::map<std::string, std::string>& theirs, bool leading_one = false) {
    const Node& n = next();
    auto name = [&](const std::string& ours) {
      auto it = theirs.find(ours);
      if (it == theirs.end()) throw std::logic_error(naming_error_prefix + "no name for " + join(n.path, ours));
      return it->second;
    };
    for (const auto& p : n.module->named_parameters(false)) out_.push_back({join(n.path, p.key()), name(p.key()), leading_one});
    for (const auto& b : n.module->named_buffers(false)) out_.push_back({join(n.path, b.key()), name(b.key()), leading_one});
    return *this;
  }
  /// torchvision's Conv2dNormActivation: a Sequential of the conv (`.0`) and its norm (`.1`).
  Leaves& conv_norm(const std::string& theirs) { return (*this)(theirs + ".0")(theirs + ".1"); }

  size_t remaining() const { return leaves_.size() - next_; }
  bool done() const { return remaining() == 0; }
  /// Whether the layer after the next one is a BatchNorm (a conv-norm pair, not an SE pair).
  bool pair_is_conv_norm() const {
    return remaining() >= 2 && dynamic_cast<const flux::BatchNormImpl*>(leaves_[next_ + 1].module) != nullptr;
  }
  void finish() const {
    if (!done()) {
      throw std::logic_error(naming_error_prefix + leaves_[next_].path + " under " + root_ + " has no name");
    }
  }

 private:
  const Node& next() {
    if (done()) throw std::logic_error(naming_error_prefix + root_ + " has fewer layers than the original's");
    return leaves_[next_++];
  }

  KeyMap& out_;
  std::string root_;
  std::vector<Node> leaves_;
  size_t next_ = 0;
};

/// timm's state_dict keys for `model` (timm_naming.cpp); throws std::invalid_argument
/// for families without a timm namer.
KeyMap timm_keys(const Model& model);
bool has_timm_naming(const Model& model);

/// torchvision's state_dict keys for `model` (an architecture torchvision has);
/// throws std::invalid_argument for families torchvision does not have.
KeyMap torchvision_keys(const Model& model);

/// Whether torchvision has the family of `model` (by its type name).
bool has_torchvision_naming(const Model& model);

}  // namespace metalhead::weights::detail
