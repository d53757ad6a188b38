// googlenet.h — GoogLeNet (Inception v1), without auxiliary heads as in Metalhead.
//
// Metalhead's GoogLeNet has no BatchNorm (biased convs), a 5×5 third branch, 3×3/2
// max pools padded by 1 and dropout 0.4. The registry's `googlenet` is torchvision's
// with aux_logits=False: BatchNorm (eps 1e-3) after bias-free convs, the 3×3 third
// branch torchvision ships, max pools that round up (the fourth 2×2) and dropout 0.2.
// Both come from `googlenet` with different options.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

namespace metalhead {

struct GoogLeNetOptions {
  double dropout_prob = 0.4;
  bool batchnorm = false;
  bool bias = true;               // of the convolutions next to a BatchNorm (without one they always have a bias)
  int64_t branch3_kernel = 5;     // the "5×5" branch: 5 (the paper, Metalhead) or 3 (torchvision)
  bool torchvision_pools = false; // ceil-mode 3×3/2 pools and a 2×2 fourth pool instead of padded ones
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// inceptionblock(inplanes, out_1x1, red_3x3, out_3x3, red_5x5, out_5x5, pool_proj, options):
/// four branches concatenated on channels: 1×1; 1×1 then 3×3; 1×1 then the 5×5 (or 3×3);
/// 3×3/1 max pool then 1×1.
flux::Layer inceptionblock(int64_t inplanes, int64_t out_1x1, int64_t red_3x3, int64_t out_3x3, int64_t red_5x5,
                           int64_t out_5x5, int64_t pool_proj, const GoogLeNetOptions& options = {});

/// googlenet({.dropout_prob = 0.4, .batchnorm = false, .bias = true, ...}): Chain(backbone, classifier).
flux::Chain googlenet(const GoogLeNetOptions& options = {});

struct GoogLeNetModelOptions {
  bool batchnorm = false;
  bool bias = true;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;
};

/// GoogLeNet({.batchnorm = false, .bias = true, .inchannels, .nclasses, .pretrain}).
class GoogLeNet : public Model {
 public:
  explicit GoogLeNet(const GoogLeNetModelOptions& options = {});
};

}  // namespace metalhead
