// googlenet.cpp — GoogLeNet (Metalhead's `googlenet`), and torchvision's variant.
#include <metalhead/models/googlenet.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/connections.h>
#include <metalhead/layers/conv_norm.h>

#include "entries.h"
#include "inception_common.h"

#include <flux/parallel.h>
#include <flux/pooling.h>

namespace metalhead {
namespace {

flux::Chain conv(std::vector<int64_t> k, int64_t in, int64_t out, int64_t pad, int64_t stride,
                 const GoogLeNetOptions& o) {
  return flux::Chain(layers::basic_conv_bn(std::move(k), in, out, flux::relu,
                                           {.batchnorm = o.batchnorm, .stride = stride, .pad = pad,
                                            .bias = o.batchnorm ? std::optional<bool>(o.bias) : std::nullopt}));
}

// torchvision's pools round their output size up (ceil_mode): one extra row and column
// of padding at the end does the same for a max pool.
flux::MaxPool pool(int64_t k, const GoogLeNetOptions& o) {
  if (o.torchvision_pools) return flux::MaxPool({k, k}, {.pad = {0, 1, 0, 1}, .stride = 2});
  return flux::MaxPool({3, 3}, {.pad = 1, .stride = 2});
}

}  // namespace

flux::Layer inceptionblock(int64_t inplanes, int64_t out_1x1, int64_t red_3x3, int64_t out_3x3, int64_t red_5x5,
                           int64_t out_5x5, int64_t pool_proj, const GoogLeNetOptions& o) {
  const int64_t k = o.branch3_kernel;
  flux::Chain b1 = conv({1, 1}, inplanes, out_1x1, 0, 1, o);
  flux::Chain b2(conv({1, 1}, inplanes, red_3x3, 0, 1, o), conv({3, 3}, red_3x3, out_3x3, 1, 1, o));
  flux::Chain b3(conv({1, 1}, inplanes, red_5x5, 0, 1, o), conv({k, k}, red_5x5, out_5x5, k / 2, 1, o));
  flux::Chain b4(flux::MaxPool({3, 3}, {.pad = 1, .stride = 1}), conv({1, 1}, inplanes, pool_proj, 0, 1, o));
  return flux::Parallel(layers::cat_channels, b1, b2, b3, b4);
}

flux::Chain googlenet(const GoogLeNetOptions& o) {
  auto block = [&](int64_t in, int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f) {
    return inceptionblock(in, a, b, c, d, e, f, o);
  };
  flux::Chain backbone(conv({7, 7}, o.inchannels, 64, 3, 2, o), pool(3, o), conv({1, 1}, 64, 64, 0, 1, o),
                       conv({3, 3}, 64, 192, 1, 1, o), pool(3, o),
                       block(192, 64, 96, 128, 16, 32, 32), block(256, 128, 128, 192, 32, 96, 64), pool(3, o),
                       block(480, 192, 96, 208, 16, 48, 64), block(512, 160, 112, 224, 24, 64, 64),
                       block(512, 128, 128, 256, 24, 64, 64), block(512, 112, 144, 288, 32, 64, 64),
                       block(528, 256, 160, 320, 32, 128, 128), pool(o.torchvision_pools ? 2 : 3, o),
                       block(832, 256, 160, 320, 32, 128, 128), block(832, 384, 192, 384, 48, 128, 128));
  return flux::Chain(backbone, layers::create_classifier(1024, o.nclasses, flux::identity, {.dropout_prob = o.dropout_prob}));
}

// torchvision's conv1, conv3, inception3b, 4e and 5b (no timm model to follow): the
// convs before each pool and the last inception block of each stride. Either variant
// (Metalhead's or torchvision's branches and pools) has the same widths and strides.
FeatureSpec detail::googlenet_features() {
  return {.stages = {{64, 2, "layers.0.0"},
                     {192, 4, "layers.0.3"},
                     {480, 8, "layers.0.6"},
                     {832, 16, "layers.0.12"},
                     {1024, 32, "layers.0.15"}}};
}

GoogLeNet::GoogLeNet(const GoogLeNetModelOptions& o)
    : Model(detail::pretrained([&] {
        Model m("GoogLeNet",
                googlenet({.batchnorm = o.batchnorm, .bias = o.bias, .inchannels = o.inchannels, .nclasses = o.nclasses}),
                o.inchannels);
        m->features = detail::googlenet_features();
        return m;
      }(), o.pretrain, "",
                    "torchvision's googlenet has a 3×3 third branch and its own pools, which Metalhead's GoogLeNet "
                    "does not; create_model(\"googlenet\") is torchvision's architecture")) {}

}  // namespace metalhead
