// xception.h — Xception (Chollet 2017), as timm's `legacy_xception`.
//
// timm's separable convolutions are a depthwise 3×3 and a pointwise 1×1 without bias or
// activation between them, and a block max-pools only when it strides. Metalhead's code
// adds biases and relus inside its separable convs, an extra BatchNorm in the exit flow
// and a stride-1 max pool to every middle block (22,903,008 parameters against timm's
// 22,855,952); ours is timm's. BatchNorm eps 1e-5.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

namespace metalhead {

/// separable_conv(inplanes, outplanes): a bias-free depthwise 3×3 (pad 1) then a 1×1.
flux::Chain separable_conv(int64_t inplanes, int64_t outplanes);

struct XceptionBlockOptions {
  int64_t stride = 1;
  bool start_with_relu = true;
  bool grow_at_start = true;  // widen in the first separable conv (else the last)
};

/// xception_block(inplanes, outplanes, nrepeats, {.stride, .start_with_relu, .grow_at_start}):
/// [relu, separable_conv, BatchNorm] × nrepeats, a 3×3 max pool when strided, plus a 1×1
/// conv + BatchNorm shortcut when the shape changes.
flux::Layer xception_block(int64_t inplanes, int64_t outplanes, int64_t nrepeats, const XceptionBlockOptions& options = {});

struct XceptionOptions {
  double dropout_prob = 0.0;  // Metalhead's head has a Dropout(0.0)
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// xception({.dropout_prob = 0, .inchannels, .nclasses}): entry, middle (8 blocks) and exit
/// flows; 2048 features. Input 299×299.
flux::Chain xception(const XceptionOptions& options = {});

/// Xception({inchannels, nclasses, pretrain}).
class Xception : public Model {
 public:
  explicit Xception(const ModelOptions& options = {});
};

}  // namespace metalhead
