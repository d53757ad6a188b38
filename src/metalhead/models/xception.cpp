// xception.cpp — Xception (Metalhead's `xception`), timm's legacy_xception layers.
#include <metalhead/models/xception.h>

#include <metalhead/layers/classifier.h>

#include "entries.h"
#include "inception_common.h"

#include <flux/conv.h>
#include <flux/normalise.h>
#include <flux/parallel.h>
#include <flux/pooling.h>

namespace metalhead {

flux::Chain separable_conv(int64_t inplanes, int64_t outplanes) {
  return flux::Chain(flux::Conv({3, 3}, {inplanes, inplanes}, flux::identity, {.pad = 1, .groups = inplanes, .bias = false}),
                     flux::Conv({1, 1}, {inplanes, outplanes}, flux::identity, {.bias = false}));
}

flux::Layer xception_block(int64_t inplanes, int64_t outplanes, int64_t nrepeats, const XceptionBlockOptions& o) {
  std::vector<flux::Layer> rep;
  auto unit = [&](int64_t in, int64_t out) {
    rep.emplace_back(flux::relu);
    rep.emplace_back(separable_conv(in, out));
    rep.emplace_back(flux::BatchNorm(out));
  };
  int64_t filters = inplanes;
  if (o.grow_at_start) {
    unit(inplanes, outplanes);
    filters = outplanes;
  }
  for (int64_t i = 1; i < nrepeats; ++i) unit(filters, filters);
  if (!o.grow_at_start) unit(inplanes, outplanes);
  if (!o.start_with_relu) rep.erase(rep.begin());
  if (o.stride != 1) rep.emplace_back(flux::MaxPool({3, 3}, {.pad = 1, .stride = o.stride}));
  flux::Layer skip = flux::identity;
  if (outplanes != inplanes || o.stride != 1) {
    skip = flux::Chain(flux::Conv({1, 1}, {inplanes, outplanes}, flux::identity, {.stride = o.stride, .bias = false}),
                       flux::BatchNorm(outplanes));
  }
  return flux::Parallel(flux::plus, skip, flux::Chain(std::move(rep)));
}

flux::Chain xception(const XceptionOptions& o) {
  std::vector<flux::Layer> layers{
      flux::Conv({3, 3}, {o.inchannels, 32}, flux::identity, {.stride = 2, .bias = false}), flux::BatchNorm(32, flux::relu),
      flux::Conv({3, 3}, {32, 64}, flux::identity, {.bias = false}), flux::BatchNorm(64, flux::relu),
      xception_block(64, 128, 2, {.stride = 2, .start_with_relu = false}), xception_block(128, 256, 2, {.stride = 2}),
      xception_block(256, 728, 2, {.stride = 2})};
  for (int i = 0; i < 8; ++i) layers.push_back(xception_block(728, 728, 3));
  layers.push_back(xception_block(728, 1024, 2, {.stride = 2, .grow_at_start = false}));
  layers.emplace_back(separable_conv(1024, 1536));
  layers.emplace_back(flux::BatchNorm(1536, flux::relu));
  layers.emplace_back(separable_conv(1536, 2048));
  layers.emplace_back(flux::BatchNorm(2048, flux::relu));
  return flux::Chain(flux::Chain(std::move(layers)),
                     layers::create_classifier(2048, o.nclasses, flux::identity, {.dropout_prob = o.dropout_prob}));
}

// timm's act2, block2.rep.0, block3.rep.0, block12.rep.0 and act4. The middle three are
// the relu opening the next block, inside its Parallel where no feature point can be;
// ours are the block outputs before it (block1, block2, block11): the same shapes, with
// timm's values relu of ours.
FeatureSpec detail::xception_features() {
  return {.stages = {{64, 2, "layers.0.3"},
                     {128, 4, "layers.0.4"},
                     {256, 8, "layers.0.5"},
                     {728, 16, "layers.0.14"},
                     {2048, 32, "layers.0.19"}}};
}

Xception::Xception(const ModelOptions& o)
    : Model(detail::pretrained([&] {
        Model m("Xception", xception({.inchannels = o.inchannels, .nclasses = o.nclasses}), o.inchannels);
        m->features = detail::xception_features();
        return m;
      }(), o.pretrain, "legacy_xception")) {}

}  // namespace metalhead
