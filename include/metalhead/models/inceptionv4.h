// inceptionv4.h — Inception v4 and Inception-ResNet v2 (Szegedy et al. 2016), as timm's
// `inception_v4` and `inception_resnet_v2`.
//
// Both follow timm layer for layer, and so differ from Metalhead's code where that has
// slips: Metalhead's Inception-B pads its 1×7/7×1 convs on the wrong axis; its
// Inception-ResNet has a 3×3 conv2d_3b, a conv+BN+relu residual projection, relu before
// the add and the last block's relu inverted (55,930,184 parameters against timm's
// 55,843,464). Average pools exclude the padding, as timm's.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

#include <optional>

namespace metalhead {

struct InceptionOptions {
  std::optional<double> dropout_prob;  // in the head; none by default
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// inceptionv4({.dropout_prob, .inchannels, .nclasses}): stem, mixed 3a/4a/5a, 4 Inception-A,
/// reduction A, 7 Inception-B, reduction B, 3 Inception-C; 1536 features. Input 299×299.
flux::Chain inceptionv4(const InceptionOptions& options = {});

/// inceptionresnetv2({.dropout_prob, .inchannels, .nclasses}): stem, mixed 5b, 10 block35
/// (scale 0.17), mixed 6a, 20 block17 (0.10), mixed 7a, 9 block8 (0.20) and one without relu,
/// a 1×1 to 1536. Input 299×299.
flux::Chain inceptionresnetv2(const InceptionOptions& options = {});

/// The residual blocks of Inception-ResNet v2: relu(x + scale · conv1×1(branches(x))).
flux::Layer block35(double scale = 1.0);
flux::Layer block17(double scale = 1.0);
flux::Layer block8(double scale = 1.0, bool relu = true);

/// Inceptionv4({inchannels, nclasses, pretrain}).
class Inceptionv4 : public Model {
 public:
  explicit Inceptionv4(const ModelOptions& options = {});
};

/// InceptionResNetv2({inchannels, nclasses, pretrain}).
class InceptionResNetv2 : public Model {
 public:
  explicit InceptionResNetv2(const ModelOptions& options = {});
};

}  // namespace metalhead
