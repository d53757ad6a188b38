// naming.h — how torchvision names our models' tensors (internal to the weights module).
//
// Each family's namer walks our model and says, block by block, which torchvision
// module every parametrised layer is: explicit names, never a zip of two flat lists.
// Shapes are checked when loading, so a namer that goes wrong fails loudly.
#pragma once

#include <metalhead/model.h>

#include <string>
#include <utility>
#include <vector>

namespace metalhead::weights::detail {

/// One tensor's names: ours, torchvision's, and whether torchvision's tensor has an
/// extra leading 1 in its shape (ViT's position embedding, [1, T, D] to our [T, D]).
struct KeyPair {
  std::string ours, theirs;
  bool leading_one = false;
};
using KeyMap = std::vector<KeyPair>;

/// torchvision's state_dict keys for `model` (an architecture torchvision has);
/// throws std::invalid_argument for families torchvision does not have.
KeyMap torchvision_keys(const Model& model);

/// Whether torchvision has the family of `model` (by its type name).
bool has_torchvision_naming(const Model& model);

}  // namespace metalhead::weights::detail
