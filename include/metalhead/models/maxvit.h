// maxvit.h — MaxViT at Metalhead's three levels.
//
//   metalhead::MaxViT("tiny", {.nclasses = 10})                        // high level
//   metalhead::maxvit("tiny")                                          // mid level
//   metalhead::build_maxvit(64, {64, 128, 256, 512}, {2, 2, 5, 2}, {...})  // low level
//
// The architecture is torchvision 0.14's maxvit_t, whose weights load by their own names.
// timm's maxvit_tiny_tf_224 has the same stages but is another network: a 2×2 average pool
// without a convolution in its downsampling shortcut, biases on the stem's first conv and
// the last Dense, TensorFlow's 'same' padding and the tanh GELU; it is not an alias.
// Images must be multiples of 32 × partition (224 for 7): every stage's map is cut into
// partition × partition patches.
#pragma once

#include <flux/chain.h>
#include <flux/layer.h>
#include <metalhead/model.h>

#include <optional>
#include <string>
#include <vector>

namespace metalhead {

struct MaxViTBlockOptions {
  int64_t stride = 1;
  int64_t head_dim = 32;
  int64_t partition = 7;
  double expansion = 4;
  double squeeze = 0.25;
  int64_t mlp_ratio = 4;
  double dropout_prob = 0.0;       // after the MLPs
  double attn_dropout_prob = 0.0;  // after the attentions
  double stochastic_depth_prob = 0.0;
};

/// maxvit_mbconv(inplanes, outplanes, {.stride, .expansion = 4, .squeeze = 0.25, .stochastic_depth_prob})
/// MaxViT's MBConv: shortcut(x) + SD(f(x)), f a pre-norm BatchNorm, a 1×1 conv-BN-gelu to
/// e = expansion·outplanes, a 3×3 depthwise conv-BN-gelu at `stride`, a squeeze-excite of
/// ⌊squeeze·outplanes⌋ channels (swish, σ gate) and a biased 1×1 Conv to outplanes. The
/// shortcut is the identity, or a biased 1×1 Conv after a 3×3/2 average pool (padding 1,
/// counted) when the size or width changes. BatchNorms: eps 1e-3, momentum 0.99.
flux::Layer maxvit_mbconv(int64_t inplanes, int64_t outplanes, const MaxViTBlockOptions& options = {});

/// maxvit_block(inplanes, outplanes, {...}): Chain(maxvit_mbconv, PartitionAttention
/// "window", PartitionAttention "grid"), MaxViT's layer; all three with the same
/// stochastic depth.
flux::Layer maxvit_block(int64_t inplanes, int64_t outplanes, const MaxViTBlockOptions& options = {});

struct MaxViTOptions {
  /// Every block's options; build_maxvit sets each one's stride and stochastic depth.
  MaxViTBlockOptions block = {};
  /// The last block's rate, from 0 at the first (NumPy's linspace, torchvision's).
  /// nullopt: the configuration's (0 in build_maxvit).
  std::optional<double> stochastic_depth_prob;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// build_maxvit(stem_planes, planes, depths, {...})
/// Chain(backbone, classifier). The backbone: the stem Chain(Conv(3×3/2) BN gelu, Conv(3×3)
/// biased), then for every stage a Chain of depths[i] maxvit_blocks, the first at stride 2.
/// The classifier: AdaptiveMeanPool(1, 1), flatten, LayerNorm, Dense(planes => planes,
/// tanh), Dense(planes => nclasses) without bias.
/// Example: build_maxvit(64, {64, 128, 256, 512}, {2, 2, 5, 2}) maps [N, 3, 224, 224] to
/// [N, 1000].
flux::Chain build_maxvit(int64_t stem_planes, const std::vector<int64_t>& planes, const std::vector<int64_t>& depths,
                         const MaxViTOptions& options = {});

/// maxvit(config = "tiny", {...}): torchvision's maxvit_t (stem 64, planes 64, 128, 256,
/// 512, depths 2, 2, 5, 2, stochastic depth 0.2).
flux::Chain maxvit(const std::string& config = "tiny", MaxViTOptions options = {});

/// MaxViT(config = "tiny", {inchannels, nclasses, pretrain, drop_path_rate}): maxvit_t.
class MaxViT : public Model {
 public:
  explicit MaxViT(const std::string& config = "tiny", const ModelOptions& options = {});
};

}  // namespace metalhead
