// connections.h — connections for Parallel and SkipConnection: cat_channels, times,
// addact and actadd.
#pragma once

#include <flux/activations.h>
#include <flux/connection.h>

namespace metalhead::layers {

using flux::Tensor;

/// cat_channels: concatenation along the channel dimension (torch's 1, Julia's 3), the
/// reduction of Inception's and DenseNet's Parallel branches.
extern const flux::Connection cat_channels;

/// `.*`: the elementwise product of the branches (broadcasting), the gate of squeeze-excite.
extern const flux::Connection times;

/// addact(activation = relu): activation(x1 + x2 + ...), ResNet's join of the residual
/// branch and the shortcut.
flux::Connection addact(flux::Activation activation = flux::relu);

/// actadd(activation = relu): activation(x1) + activation(x2) + ...
flux::Connection actadd(flux::Activation activation = flux::relu);

}  // namespace metalhead::layers
