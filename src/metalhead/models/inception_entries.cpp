// The Inception family's registry entries: torchvision's GoogLeNet and Inception v3
// without auxiliary heads; timm's Inception v4, Inception-ResNet v2 and Xception.
#include <metalhead/models/googlenet.h>
#include <metalhead/models/inceptionv3.h>
#include <metalhead/models/inceptionv4.h>
#include <metalhead/models/xception.h>

#include "entries.h"
#include "inception_common.h"


namespace metalhead::detail {

std::vector<ModelInfo> inception_entries() {
  return {
      {"googlenet", {"inception_v1"}, "GoogLeNet", "torchvision", {224, 224},
       [](const ModelOptions& o) {
         Model m("GoogLeNet",
                 googlenet({.dropout_prob = 0.2, .batchnorm = true, .bias = false, .branch3_kernel = 3,
                            .torchvision_pools = true, .inchannels = o.inchannels, .nclasses = o.nclasses}),
                 o.inchannels);
         m->features = googlenet_features();
         return m;
       }},
      {"inception_v3", {}, "Inceptionv3", "torchvision", {299, 299},
       [](const ModelOptions& o) {
         Model m("Inceptionv3", inceptionv3({.dropout_prob = 0.5, .inchannels = o.inchannels, .nclasses = o.nclasses}),
                 o.inchannels);
         m->features = inceptionv3_features();
         return m;
       }},
      {"inception_v4", {}, "Inceptionv4", "timm", {299, 299}, [](const ModelOptions& o) { return Inceptionv4(o); }},
      {"inception_resnet_v2", {}, "InceptionResNetv2", "timm", {299, 299},
       [](const ModelOptions& o) { return InceptionResNetv2(o); }},
      // timm's head has no dropout: Metalhead's Dropout(0.0) slot computes the same.
      {"legacy_xception", {"xception"}, "Xception", "timm", {299, 299}, [](const ModelOptions& o) { return Xception(o); }},
  };
}

}  // namespace metalhead::detail
