// inceptionv4.cpp — Inception v4 and Inception-ResNet v2, timm's layers.
#include <metalhead/models/inceptionv4.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/connections.h>

#include "inception_common.h"

#include <flux/conv.h>
#include <flux/parallel.h>
#include <flux/pooling.h>
#include <flux/skip_connection.h>

#include <sstream>

namespace metalhead {
namespace {

using detail::avg_pool3_exclude_pad;
using detail::cbr;

flux::MaxPool max3s2() { return flux::MaxPool({3, 3}, {.stride = 2}); }

template <class... Branches>
flux::Layer cat(Branches&&... branches) {
  return flux::Parallel(layers::cat_channels, std::forward<Branches>(branches)...);
}

flux::Layer inception_a() {
  return cat(cbr({1, 1}, 384, 96), flux::Chain(cbr({1, 1}, 384, 64), cbr({3, 3}, 64, 96, {1, 1})),
             flux::Chain(cbr({1, 1}, 384, 64), cbr({3, 3}, 64, 96, {1, 1}), cbr({3, 3}, 96, 96, {1, 1})),
             flux::Chain(avg_pool3_exclude_pad(), cbr({1, 1}, 384, 96)));
}

flux::Layer inception_b() {
  return cat(cbr({1, 1}, 1024, 384),
             flux::Chain(cbr({1, 1}, 1024, 192), cbr({1, 7}, 192, 224, {0, 3}), cbr({7, 1}, 224, 256, {3, 0})),
             flux::Chain(cbr({1, 1}, 1024, 192), cbr({7, 1}, 192, 192, {3, 0}), cbr({1, 7}, 192, 224, {0, 3}),
                         cbr({7, 1}, 224, 224, {3, 0}), cbr({1, 7}, 224, 256, {0, 3})),
             flux::Chain(avg_pool3_exclude_pad(), cbr({1, 1}, 1024, 128)));
}

flux::Layer inception_c() {
  auto split = [](int64_t c) { return cat(cbr({1, 3}, c, 256, {0, 1}), cbr({3, 1}, c, 256, {1, 0})); };
  return cat(cbr({1, 1}, 1536, 256), flux::Chain(cbr({1, 1}, 1536, 384), split(384)),
             flux::Chain(cbr({1, 1}, 1536, 384), cbr({3, 1}, 384, 448, {1, 0}), cbr({1, 3}, 448, 512, {0, 1}), split(512)),
             flux::Chain(avg_pool3_exclude_pad(), cbr({1, 1}, 1536, 256)));
}

flux::Chain head(int64_t features, const InceptionOptions& o, flux::Chain backbone) {
  return flux::Chain(std::move(backbone),
                     // A Dropout slot even at rate 0: stable tensor names.
                     layers::create_classifier(features, o.nclasses, flux::identity,
                                               {.dropout_prob = o.dropout_prob.value_or(0.0)}));
}

// relu(x + scale · conv(branches(x))): timm's Block35/17/8, the projection a biased 1×1.
flux::Layer residual(flux::Layer branches, int64_t cat_planes, int64_t planes, double scale, bool relu) {
  std::ostringstream name;
  name << "scale(" << scale << ")";
  flux::Chain branch(std::move(branches), flux::Conv({1, 1}, {cat_planes, planes}),
                     flux::fn(name.str(), [scale](const flux::Tensor& x) { return x * scale; }));
  return flux::SkipConnection(branch, relu ? layers::addact(flux::relu) : flux::plus);
}

}  // namespace

flux::Chain inceptionv4(const InceptionOptions& o) {
  std::vector<flux::Layer> layers{
      cbr({3, 3}, o.inchannels, 32, {0, 0}, 2), cbr({3, 3}, 32, 32), cbr({3, 3}, 32, 64, {1, 1}),
      cat(max3s2(), cbr({3, 3}, 64, 96, {0, 0}, 2)),
      cat(flux::Chain(cbr({1, 1}, 160, 64), cbr({3, 3}, 64, 96)),
          flux::Chain(cbr({1, 1}, 160, 64), cbr({1, 7}, 64, 64, {0, 3}), cbr({7, 1}, 64, 64, {3, 0}), cbr({3, 3}, 64, 96))),
      cat(cbr({3, 3}, 192, 192, {0, 0}, 2), max3s2())};
  for (int i = 0; i < 4; ++i) layers.push_back(inception_a());
  layers.push_back(cat(cbr({3, 3}, 384, 384, {0, 0}, 2),
                       flux::Chain(cbr({1, 1}, 384, 192), cbr({3, 3}, 192, 224, {1, 1}), cbr({3, 3}, 224, 256, {0, 0}, 2)),
                       max3s2()));
  for (int i = 0; i < 7; ++i) layers.push_back(inception_b());
  layers.push_back(cat(flux::Chain(cbr({1, 1}, 1024, 192), cbr({3, 3}, 192, 192, {0, 0}, 2)),
                       flux::Chain(cbr({1, 1}, 1024, 256), cbr({1, 7}, 256, 256, {0, 3}), cbr({7, 1}, 256, 320, {3, 0}),
                                   cbr({3, 3}, 320, 320, {0, 0}, 2)),
                       max3s2()));
  for (int i = 0; i < 3; ++i) layers.push_back(inception_c());
  return head(1536, o, flux::Chain(std::move(layers)));
}

flux::Layer block35(double scale) {
  return residual(cat(cbr({1, 1}, 320, 32), flux::Chain(cbr({1, 1}, 320, 32), cbr({3, 3}, 32, 32, {1, 1})),
                      flux::Chain(cbr({1, 1}, 320, 32), cbr({3, 3}, 32, 48, {1, 1}), cbr({3, 3}, 48, 64, {1, 1}))),
                  128, 320, scale, true);
}

flux::Layer block17(double scale) {
  return residual(cat(cbr({1, 1}, 1088, 192),
                      flux::Chain(cbr({1, 1}, 1088, 128), cbr({1, 7}, 128, 160, {0, 3}), cbr({7, 1}, 160, 192, {3, 0}))),
                  384, 1088, scale, true);
}

flux::Layer block8(double scale, bool relu) {
  return residual(cat(cbr({1, 1}, 2080, 192),
                      flux::Chain(cbr({1, 1}, 2080, 192), cbr({1, 3}, 192, 224, {0, 1}), cbr({3, 1}, 224, 256, {1, 0}))),
                  448, 2080, scale, relu);
}

flux::Chain inceptionresnetv2(const InceptionOptions& o) {
  std::vector<flux::Layer> layers{
      cbr({3, 3}, o.inchannels, 32, {0, 0}, 2), cbr({3, 3}, 32, 32), cbr({3, 3}, 32, 64, {1, 1}), max3s2(),
      cbr({1, 1}, 64, 80), cbr({3, 3}, 80, 192), max3s2(),
      cat(cbr({1, 1}, 192, 96), flux::Chain(cbr({1, 1}, 192, 48), cbr({5, 5}, 48, 64, {2, 2})),
          flux::Chain(cbr({1, 1}, 192, 64), cbr({3, 3}, 64, 96, {1, 1}), cbr({3, 3}, 96, 96, {1, 1})),
          flux::Chain(avg_pool3_exclude_pad(), cbr({1, 1}, 192, 64)))};
  for (int i = 0; i < 10; ++i) layers.push_back(block35(0.17));
  layers.push_back(cat(cbr({3, 3}, 320, 384, {0, 0}, 2),
                       flux::Chain(cbr({1, 1}, 320, 256), cbr({3, 3}, 256, 256, {1, 1}), cbr({3, 3}, 256, 384, {0, 0}, 2)),
                       max3s2()));
  for (int i = 0; i < 20; ++i) layers.push_back(block17(0.10));
  layers.push_back(cat(flux::Chain(cbr({1, 1}, 1088, 256), cbr({3, 3}, 256, 384, {0, 0}, 2)),
                       flux::Chain(cbr({1, 1}, 1088, 256), cbr({3, 3}, 256, 288, {0, 0}, 2)),
                       flux::Chain(cbr({1, 1}, 1088, 256), cbr({3, 3}, 256, 288, {1, 1}), cbr({3, 3}, 288, 320, {0, 0}, 2)),
                       max3s2()));
  for (int i = 0; i < 9; ++i) layers.push_back(block8(0.20));
  layers.push_back(block8(1.0, false));
  layers.emplace_back(cbr({1, 1}, 2080, 1536));
  return head(1536, o, flux::Chain(std::move(layers)));
}

namespace {

// timm's feature_info; our backbone's layers are timm's `features` one for one. The r4
// stage is timm's features.3 (Mixed3a, 160 planes), not the last r4 map (Mixed4a, 192).
FeatureSpec inceptionv4_features() {
  return {.stages = {{64, 2, "layers.0.2"},
                     {160, 4, "layers.0.3"},
                     {384, 8, "layers.0.9"},       // the last InceptionA
                     {1024, 16, "layers.0.17"},    // the last InceptionB
                     {1536, 32, "layers.0.21"}}};  // the last InceptionC
}

// timm's conv2d_2b, conv2d_4a, repeat (the 10 Block35), repeat_1 (the 20 Block17) and
// conv2d_7b; our backbone lays timm's Sequentials out flat.
FeatureSpec inceptionresnetv2_features() {
  return {.stages = {{64, 2, "layers.0.2"},
                     {192, 4, "layers.0.5"},
                     {320, 8, "layers.0.17"},      // mixed_5b at 7, then Block35 at 8–17
                     {1088, 16, "layers.0.38"},    // mixed_6a at 18, then Block17 at 19–38
                     {1536, 32, "layers.0.50"}}};  // mixed_7a, 10 Block8, then conv2d_7b at 50
}

}  // namespace

Inceptionv4::Inceptionv4(const ModelOptions& o)
    : Model(detail::pretrained([&] {
        Model m("Inceptionv4", inceptionv4({.inchannels = o.inchannels, .nclasses = o.nclasses}), o.inchannels);
        m->features = inceptionv4_features();
        return m;
      }(), o.pretrain, "inception_v4")) {}

InceptionResNetv2::InceptionResNetv2(const ModelOptions& o)
    : Model(detail::pretrained([&] {
        Model m("InceptionResNetv2", inceptionresnetv2({.inchannels = o.inchannels, .nclasses = o.nclasses}),
                o.inchannels);
        m->features = inceptionresnetv2_features();
        return m;
      }(), o.pretrain, "inception_resnet_v2")) {}

}  // namespace metalhead
