// placeholders.h — models without their random initialisation, and filling them in.
//
// flux::SkipInit makes initialisers return meta-device placeholders: building costs
// nothing, for counting parameters, naming tensors or loading weights into.
#pragma once

#include <metalhead/registry.h>

namespace metalhead {

/// The registry model `info` with placeholder weights where its family allows (UNet runs
/// its backbone while being built, so it gets real weights).
Model placeholder_model(const ModelInfo& info, const ModelOptions& options = {});

/// Gives `target` the values of `value` (same shape; converted to target's dtype). A
/// placeholder cannot be copied into: its TensorImpl takes value's storage (so pass one
/// nobody else writes), and every handle to it (a layer's member, the module's
/// parameter list) sees the values. Other tensors are copied into.
void fill_placeholder(const Tensor& target, const Tensor& value);

}  // namespace metalhead
