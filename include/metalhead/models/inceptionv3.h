// inceptionv3.h — Inception v3, without the auxiliary head as in Metalhead: torchvision's
// inception_v3(aux_logits=False) layer for layer, with Metalhead's head dropout 0.2
// (torchvision's 0.5 in the registry's `inception_v3`). Default input 299×299; the
// smallest that passes is 75×75.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

namespace metalhead {

/// The blocks, torchvision's Mixed_5b... in Metalhead's names; every conv is a
/// basic_conv_bn (bias-free, BatchNorm eps 1e-3, relu).
flux::Layer inceptionv3_a(int64_t inplanes, int64_t pool_proj);
flux::Layer inceptionv3_b(int64_t inplanes);
flux::Layer inceptionv3_c(int64_t inplanes, int64_t inner_planes, int64_t n = 7);
flux::Layer inceptionv3_d(int64_t inplanes);
flux::Layer inceptionv3_e(int64_t inplanes);

struct Inceptionv3Options {
  double dropout_prob = 0.2;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// inceptionv3({.dropout_prob = 0.2, .inchannels, .nclasses}): Chain(backbone, classifier).
flux::Chain inceptionv3(const Inceptionv3Options& options = {});

/// Inceptionv3({inchannels, nclasses, pretrain}).
class Inceptionv3 : public Model {
 public:
  explicit Inceptionv3(const ModelOptions& options = {});
};

}  // namespace metalhead
