// inceptionv3.cpp — Inception v3 (Metalhead's `inceptionv3`), torchvision's layers.
#include <metalhead/models/inceptionv3.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/connections.h>
#include <metalhead/layers/conv_norm.h>

#include "entries.h"
#include "inception_common.h"

#include <flux/parallel.h>
#include <flux/pooling.h>

namespace metalhead {
namespace {

using detail::cbr;

flux::MeanPool avg3() { return flux::MeanPool({3, 3}, {.pad = 1, .stride = 1}); }
flux::MaxPool max3s2() { return flux::MaxPool({3, 3}, {.stride = 2}); }

}  // namespace

flux::Layer inceptionv3_a(int64_t inplanes, int64_t pool_proj) {
  return flux::Parallel(layers::cat_channels, cbr({1, 1}, inplanes, 64),
                        flux::Chain(cbr({1, 1}, inplanes, 48), cbr({5, 5}, 48, 64, {2, 2})),
                        flux::Chain(cbr({1, 1}, inplanes, 64), cbr({3, 3}, 64, 96, {1, 1}), cbr({3, 3}, 96, 96, {1, 1})),
                        flux::Chain(avg3(), cbr({1, 1}, inplanes, pool_proj)));
}

flux::Layer inceptionv3_b(int64_t inplanes) {
  return flux::Parallel(layers::cat_channels, cbr({3, 3}, inplanes, 384, {0, 0}, 2),
                        flux::Chain(cbr({1, 1}, inplanes, 64), cbr({3, 3}, 64, 96, {1, 1}), cbr({3, 3}, 96, 96, {0, 0}, 2)),
                        max3s2());
}

flux::Layer inceptionv3_c(int64_t inplanes, int64_t c7, int64_t n) {
  const int64_t p = n / 2;
  return flux::Parallel(
      layers::cat_channels, cbr({1, 1}, inplanes, 192),
      flux::Chain(cbr({1, 1}, inplanes, c7), cbr({1, n}, c7, c7, {0, p}), cbr({n, 1}, c7, 192, {p, 0})),
      flux::Chain(cbr({1, 1}, inplanes, c7), cbr({n, 1}, c7, c7, {p, 0}), cbr({1, n}, c7, c7, {0, p}),
                  cbr({n, 1}, c7, c7, {p, 0}), cbr({1, n}, c7, 192, {0, p})),
      flux::Chain(avg3(), cbr({1, 1}, inplanes, 192)));
}

flux::Layer inceptionv3_d(int64_t inplanes) {
  return flux::Parallel(layers::cat_channels, flux::Chain(cbr({1, 1}, inplanes, 192), cbr({3, 3}, 192, 320, {0, 0}, 2)),
                        flux::Chain(cbr({1, 1}, inplanes, 192), cbr({1, 7}, 192, 192, {0, 3}),
                                    cbr({7, 1}, 192, 192, {3, 0}), cbr({3, 3}, 192, 192, {0, 0}, 2)),
                        max3s2());
}

flux::Layer inceptionv3_e(int64_t inplanes) {
  auto split = [](int64_t c) {
    return flux::Parallel(layers::cat_channels, cbr({1, 3}, c, 384, {0, 1}), cbr({3, 1}, c, 384, {1, 0}));
  };
  return flux::Parallel(layers::cat_channels, cbr({1, 1}, inplanes, 320),
                        flux::Chain(cbr({1, 1}, inplanes, 384), split(384)),
                        flux::Chain(cbr({1, 1}, inplanes, 448), cbr({3, 3}, 448, 384, {1, 1}), split(384)),
                        flux::Chain(avg3(), cbr({1, 1}, inplanes, 192)));
}

flux::Chain inceptionv3(const Inceptionv3Options& o) {
  flux::Chain backbone(cbr({3, 3}, o.inchannels, 32, {0, 0}, 2), cbr({3, 3}, 32, 32), cbr({3, 3}, 32, 64, {1, 1}),
                       max3s2(), cbr({1, 1}, 64, 80), cbr({3, 3}, 80, 192), max3s2(),
                       inceptionv3_a(192, 32), inceptionv3_a(256, 64), inceptionv3_a(288, 64), inceptionv3_b(288),
                       inceptionv3_c(768, 128), inceptionv3_c(768, 160), inceptionv3_c(768, 160),
                       inceptionv3_c(768, 192), inceptionv3_d(768), inceptionv3_e(1280), inceptionv3_e(2048));
  return flux::Chain(backbone, layers::create_classifier(2048, o.nclasses, flux::identity, {.dropout_prob = o.dropout_prob}));
}

// timm's and torchvision's Conv2d_2b_3x3, Conv2d_4a_3x3, Mixed_5d, Mixed_6e, Mixed_7c.
// The strides are nominal: unpadded convs and pools make a 299 input 147, 71, 35, 17, 8.
FeatureSpec detail::inceptionv3_features() {
  return {.stages = {{64, 2, "layers.0.2"},
                     {192, 4, "layers.0.5"},
                     {288, 8, "layers.0.9"},
                     {768, 16, "layers.0.14"},
                     {2048, 32, "layers.0.17"}}};
}

Inceptionv3::Inceptionv3(const ModelOptions& o)
    : Model(detail::pretrained([&] {
        Model m("Inceptionv3", inceptionv3({.inchannels = o.inchannels, .nclasses = o.nclasses}), o.inchannels);
        m->features = detail::inceptionv3_features();
        return m;
      }(), o.pretrain, "inception_v3")) {}

}  // namespace metalhead
