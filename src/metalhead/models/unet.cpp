// unet.cpp — UNet (Metalhead's `unet`): a decoder grown around an encoder's feature stages
// (or, for a bare Chain, around the halvings a probe finds).
#include <metalhead/models/unet.h>

#include <metalhead/features.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/models/resnet.h>

#include "entries.h"

#include <flux/normalise.h>
#include <flux/parallel.h>
#include <flux/skip_connection.h>
#include <flux/upsample.h>

#include <c10/core/InferenceMode.h>
#include <torch/types.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace metalhead {
namespace {

// Metalhead's basic_conv_bn: BatchNorm with eps 1e-3 and Flux's default momentum.
std::vector<flux::Layer> conv_bn(std::vector<int64_t> kernel, int64_t in, int64_t out, int64_t pad = 0) {
  return layers::conv_norm(std::move(kernel), in, out, flux::relu,
                           {.norm_layer = layers::batch_norm({.eps = 1e-3}), .pad = pad});
}

// cat_channels that names the usual cause when the skip and the upsampled path disagree.
const flux::Connection skip_cat("cat_channels", [](const std::vector<flux::Tensor>& xs) {
  if (xs.size() == 2 && xs[0].dim() == 4 && xs[1].dim() == 4 &&
      xs[0].sizes().slice(2) != xs[1].sizes().slice(2)) {
    throw std::invalid_argument("unet_block: the upsampled features " + flux::shape_string(xs[0]) +
                                " and the skip " + flux::shape_string(xs[1]) +
                                " differ in size; the UNet's input height and width must be divisible by its "
                                "backbone's downsampling");
  }
  return layers::cat_channels(xs);
});

// Metalhead's flatten_chains: the leaves of nested Chains, in order (other containers stay whole).
void flatten_chains(const flux::Layer& layer, std::vector<flux::Layer>& out) {
  if (auto chain = layer.as<flux::ChainImpl>()) {
    for (const auto& l : *chain) flatten_chains(l, out);
  } else {
    out.push_back(layer);
  }
}

// The tensor options of a probe image through `m`: with its tensors, on the meta device when
// all of them are meta (the probe then runs on shapes alone). A model built under
// flux::SkipInit mixes meta weights with the filled tensors of its norm layers; torch runs no
// operation on such a mix, so it cannot be probed.
torch::TensorOptions probe_options(const torch::nn::Module& m, const std::string& what) {
  auto tensors = m.parameters();
  for (const auto& b : m.buffers()) tensors.push_back(b);
  const auto metas = std::count_if(tensors.begin(), tensors.end(), [](const Tensor& t) { return t.is_meta(); });
  if (metas > 0 && metas < static_cast<std::ptrdiff_t>(tensors.size())) {
    throw std::invalid_argument("unet: cannot probe the " + what + ": it mixes meta tensors (weights drawn under "
                                "flux::SkipInit) with filled ones, which torch cannot run; build it without SkipInit");
  }
  auto options = torch::TensorOptions().dtype(torch::kFloat32);
  return tensors.empty() ? options : options.dtype(tensors[0].dtype()).device(tensors[0].device());
}

std::string layer_name(const flux::Layer& l) { return l->show_items().empty() ? l->repr() : l->show_name(); }

std::string hw(at::IntArrayRef s) { return std::to_string(s[2]) + "×" + std::to_string(s[3]); }

// The flattened backbone with the shape of every layer's input (sizes[i]) and of the output
// (sizes.back()), from one forward of a zero image: Metalhead's repeated Flux.outputsize.
struct Probe {
  std::vector<flux::Layer> layers;
  std::vector<std::vector<int64_t>> sizes;
  int64_t halvings = 0;

  bool halves(size_t i) const { return sizes[i][2] == 2 * sizes[i + 1][2] && sizes[i][3] == 2 * sizes[i + 1][3]; }
};

void check_options(const UNetOptions& o) {
  if (o.imsize.size() != 2 || o.imsize[0] < 1 || o.imsize[1] < 1 || o.inchannels < 1 || o.outplanes < 1 ||
      o.fdownscale < 0 || !o.final) {
    std::ostringstream os;
    os << "unet: expected imsize [H, W] > 0, inchannels and outplanes > 0, fdownscale >= 0 and a final block, got "
          "imsize "
       << flux::shape_string(o.imsize) << ", inchannels " << o.inchannels << ", outplanes " << o.outplanes
       << ", fdownscale " << o.fdownscale;
    throw std::invalid_argument(os.str());
  }
}

Probe probe(const flux::Chain& backbone, const UNetOptions& o) {
  check_options(o);
  Probe p;
  flatten_chains(backbone, p.layers);
  auto options = probe_options(*backbone, "backbone");
  c10::InferenceMode guard;  // the probe is no training step: no graph, no BatchNorm statistics
  Tensor x = torch::zeros({1, o.inchannels, o.imsize[0], o.imsize[1]}, options);
  p.sizes.push_back(x.sizes().vec());
  for (size_t i = 0; i < p.layers.size(); ++i) {
    try {
      x = p.layers[i](x);
    } catch (const std::exception& e) {
      throw std::invalid_argument("unet: the backbone fails on a " + flux::shape_string(p.sizes[0]) +
                                  " image at layer " + std::to_string(i) + " (" + layer_name(p.layers[i]) +
                                  "): " + e.what());
    }
    if (x.dim() != 4) {
      throw std::invalid_argument("unet: expected every backbone layer to give [N, C, H, W] feature maps, layer " +
                                  std::to_string(i) + " (" + layer_name(p.layers[i]) + ") gives " +
                                  flux::shape_string(x));
    }
    p.sizes.push_back(x.sizes().vec());
    if (x.size(2) < p.sizes[i][2] || x.size(3) < p.sizes[i][3]) ++p.halvings;
  }
  // Every layer keeps the size or halves it exactly; otherwise the skips cannot line up.
  for (size_t i = 0; i < p.layers.size(); ++i) {
    const auto &in = p.sizes[i], &out = p.sizes[i + 1];
    const bool keeps = in[2] == out[2] && in[3] == out[3];
    if (!keeps && !p.halves(i)) {
      throw std::invalid_argument("unet: layer " + std::to_string(i) + " (" + layer_name(p.layers[i]) + ") maps " +
                                  hw(in) + " to " + hw(out) + " for imsize " + flux::shape_string(o.imsize) +
                                  "; a UNet needs every layer to keep the size or halve it exactly: use a height "
                                  "and width divisible by " +
                                  std::to_string(int64_t{1} << p.halvings));
    }
  }
  return p;
}

struct Built {
  std::vector<flux::Layer> layers;  // to splice into the enclosing Chain
  int64_t planes;                   // channels of their output
};

// The bottom of the U: `layers` and the middle block, if any, on [1, C, h, w] features.
// The middle is a callable of the user's, so its output planes come from running it.
Built bottom(std::vector<flux::Layer> layers, const std::vector<int64_t>& size, const UNetOptions& o) {
  if (!o.middle) return {std::move(layers), size[1]};
  flux::Layer middle = o.middle(size[1]);
  auto options = probe_options(*middle, "middle block");
  c10::InferenceMode guard;
  const int64_t planes = middle(torch::zeros(size, options)).size(1);
  layers.push_back(middle);
  return {std::move(layers), planes};
}

// Metalhead's unetlayers over the probed layers from index i on.
Built unet_layers(const Probe& p, size_t i, int64_t skip_upscale, const UNetOptions& o) {
  if (i == p.layers.size()) return bottom({}, p.sizes[i], o);
  if (!p.halves(i) || skip_upscale > 0) {
    Built rest = unet_layers(p, i + 1, p.halves(i) ? skip_upscale - 1 : skip_upscale, o);
    rest.layers.insert(rest.layers.begin(), p.layers[i]);
    return rest;
  }
  Built child = unet_layers(p, i + 1, 0, o);
  const int64_t inplanes = p.sizes[i][1];
  flux::Chain block = unet_block(flux::Chain(p.layers[i], flux::Chain(std::move(child.layers))), inplanes,
                                 child.planes, inplanes);
  return {block->layers(), inplanes};
}

// unet's Chain(U, final) and the backbone's total downsampling, 2^halvings.
std::pair<flux::Chain, int64_t> build_unet(const flux::Chain& backbone, const UNetOptions& o) {
  Probe p = probe(backbone, o);
  Built u = unet_layers(p, 0, o.fdownscale, o);
  return {flux::Chain(flux::Chain(std::move(u.layers)), o.final(u.planes, o.outplanes)), int64_t{1} << p.halvings};
}

// One level of the U on an encoder's stages: `layers` take the skip's [N, skip, H, W]
// to [N, channels, H / ratio, W / ratio].
struct Level {
  std::vector<flux::Layer> layers;
  int64_t skip, channels, ratio;
};

// unet's Chain(U, final) on the encoder's feature stages, and its total downsampling. The
// last stage of each reduction is a level; a stage at reduction 1 (VGG's) ends a prefix
// that runs before the U, and otherwise the image itself is the top skip.
std::pair<flux::Chain, int64_t> build_unet(const Model& encoder, const UNetOptions& o) {
  check_options(o);
  const std::string who = "unet(" + encoder->type_name + ")";
  if (encoder->features.prefix_tokens >= 0 || encoder->features.channels_last) {
    throw std::invalid_argument(who + ": the encoder's stages are tokens or channels-last maps, not [N, C, H, W] "
                                "feature maps; a UNet needs a convolutional encoder");
  }
  if (o.inchannels != encoder->inchannels) {
    throw std::invalid_argument(who + ": inchannels " + std::to_string(o.inchannels) + " but the encoder takes " +
                                std::to_string(encoder->inchannels));
  }
  const auto& info = feature_info(encoder);
  std::vector<size_t> picked;
  for (size_t i = 0; i < info.size(); ++i) {
    if (i + 1 < info.size() && info[i + 1].reduction == info[i].reduction) continue;
    const int64_t before = picked.empty() ? 1 : info[picked.back()].reduction;
    const int64_t r = info[i].reduction;
    if (!(r == 1 && picked.empty()) && (r <= before || r % before != 0)) {
      throw std::invalid_argument(who + ": stage " + std::to_string(i) + " (" + info[i].module + ") has reduction " +
                                  std::to_string(r) + " after " + std::to_string(before) +
                                  "; a UNet needs every stage to downsample by a whole factor");
    }
    picked.push_back(i);
  }
  auto segments = detail::stage_segments(encoder, picked);
  std::vector<flux::Layer> prefix;
  size_t first = 0;
  int64_t skip = encoder->inchannels, reduction = 1;
  if (info[picked[0]].reduction == 1) {
    prefix = std::move(segments[0]);
    skip = info[picked[0]].channels;
    first = 1;
  }
  std::vector<Level> levels;
  for (size_t k = first; k < picked.size(); ++k) {
    const auto& stage = info[picked[k]];
    levels.push_back({std::move(segments[k]), skip, stage.channels, stage.reduction / reduction});
    skip = stage.channels;
    reduction = stage.reduction;
  }
  if (levels.empty()) throw std::invalid_argument(who + ": the encoder never downsamples");
  if (o.imsize[0] % reduction != 0 || o.imsize[1] % reduction != 0) {
    throw std::invalid_argument(who + ": imsize " + flux::shape_string(o.imsize) + " is not divisible by the "
                                "encoder's downsampling " + std::to_string(reduction));
  }
  // What follows the last stage (EfficientNet's 1×1 conv to 1280, say) is no stage: the
  // bottom of the U is the last stage's output, as timm's features_only cuts it.
  Built u = bottom({}, {1, skip, o.imsize[0] / reduction, o.imsize[1] / reduction}, o);
  for (size_t k = levels.size(); k-- > 0;) {
    auto& level = levels[k];
    if (static_cast<int64_t>(k) < o.fdownscale) {  // no block: the output stays downsampled
      level.layers.insert(level.layers.end(), u.layers.begin(), u.layers.end());
      u.layers = std::move(level.layers);
      continue;
    }
    flux::Chain block = unet_block(flux::Chain(flux::Chain(std::move(level.layers)), flux::Chain(std::move(u.layers))),
                                   level.skip, u.planes, level.skip, level.ratio);
    u = {block->layers(), level.skip};
  }
  prefix.insert(prefix.end(), u.layers.begin(), u.layers.end());
  return {flux::Chain(flux::Chain(std::move(prefix)), o.final(u.planes, o.outplanes)), reduction};
}

}  // namespace

flux::Chain pixel_shuffle_icnr(int64_t inplanes, int64_t outplanes, int64_t r) {
  return flux::Chain(flux::Chain(conv_bn({1, 1}, inplanes, outplanes * r * r)), flux::PixelShuffle(r));
}

flux::Chain unet_combine_layer(int64_t inplanes, int64_t outplanes) {
  return flux::Chain(flux::Chain(conv_bn({3, 3}, inplanes, outplanes, 1)),
                     flux::Chain(conv_bn({3, 3}, outplanes, outplanes, 1)));
}

flux::Chain unet_middle_block(int64_t inplanes) {
  return flux::Chain(flux::Chain(conv_bn({3, 3}, inplanes, 2 * inplanes, 1)),
                     flux::Chain(conv_bn({3, 3}, 2 * inplanes, inplanes, 1)));
}

flux::Chain unet_final_block(int64_t inplanes, int64_t outplanes) {
  return flux::Chain(basicblock(inplanes, inplanes), flux::Chain(conv_bn({1, 1}, inplanes, outplanes)));
}

flux::Chain unet_block(flux::Layer m_child, int64_t inplanes, int64_t midplanes, int64_t outplanes, int64_t r) {
  return flux::Chain(
      flux::SkipConnection(flux::Chain(std::move(m_child), pixel_shuffle_icnr(midplanes, midplanes, r)),
                           // through Layer: a Parallel given directly binds as a plain callable and its
                           // BatchNorm would not be registered
                           flux::Connection(flux::Layer(flux::Parallel(skip_cat, flux::identity, flux::BatchNorm(inplanes))))),
      flux::relu, unet_combine_layer(inplanes + midplanes, outplanes));
}

flux::Chain unet_block(flux::Layer m_child, int64_t inplanes, int64_t midplanes) {
  return unet_block(std::move(m_child), inplanes, midplanes, 2 * inplanes);
}

flux::Chain unet(const flux::Chain& encoder_backbone, const UNetOptions& o) {
  return build_unet(encoder_backbone, o).first;
}

flux::Chain unet(const Model& encoder, const UNetOptions& o) { return build_unet(encoder, o).first; }

UNetImpl::UNetImpl(const flux::Chain& layers, int64_t inchannels, int64_t downsampling)
    : ModelImpl("UNet", flux::Chain((*layers)[0].as<flux::ChainImpl>()), flux::Chain((*layers)[1].as<flux::ChainImpl>()),
                inchannels),
      downsampling(downsampling) {}

Tensor UNetImpl::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != inchannels || x.size(2) % downsampling != 0 || x.size(3) % downsampling != 0) {
    throw std::invalid_argument("UNet: expected [N, " + std::to_string(inchannels) +
                                ", H, W] images with H and W divisible by " + std::to_string(downsampling) +
                                ", got a tensor of shape " + flux::shape_string(x));
  }
  return layers(x);
}

namespace {

template <class Encoder>
Model unet_model(const Encoder& encoder, const UNetModelOptions& o) {
  auto [layers, downsampling] =
      build_unet(encoder, {.imsize = o.imsize, .inchannels = o.inchannels, .outplanes = o.outplanes});
  return detail::pretrained(Model(std::shared_ptr<ModelImpl>(std::make_shared<UNetImpl>(layers, o.inchannels, downsampling))),
                            o.pretrain, "", "UNet has no pretrained weights (Metalhead publishes none)");
}

}  // namespace

UNet::UNet(const UNetModelOptions& o) : Model(unet_model(Model(ResNet(18, {.inchannels = o.inchannels})), o)) {}

UNet::UNet(const Model& encoder, const UNetModelOptions& o) : Model(unet_model(encoder, o)) {}

UNet::UNet(const flux::Chain& encoder_backbone, const UNetModelOptions& o) : Model(unet_model(encoder_backbone, o)) {}

namespace detail {

std::vector<ModelInfo> unet_entries() {
  return {{"unet", {}, "UNet", "Metalhead", {256, 256}, [](const ModelOptions& o) {
             return UNet({.imsize = o.imsize.empty() ? std::vector<int64_t>{256, 256} : o.imsize,
                          .inchannels = o.inchannels, .outplanes = o.nclasses, .pretrain = o.pretrain});
           }}};
}

}  // namespace detail
}  // namespace metalhead
