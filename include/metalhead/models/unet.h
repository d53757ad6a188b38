// unet.h — UNet: an encoder-decoder for dense prediction on any convolutional backbone
// (Metalhead's `unet`, after fastai's DynamicUnet).
//
//   metalhead::UNet({.outplanes = 2})                           // high level: ResNet-18 encoder
//   metalhead::UNet(metalhead::EfficientNet("b0"), {.outplanes = 2})  // any model of the zoo
//   metalhead::unet(metalhead::backbone(metalhead::ResNet(34)), // mid level: any bare Chain
//                   {.imsize = {128, 128}, .outplanes = 2})
//
// On a Model, the U is built from the encoder's feature stages (feature_info), with no
// forward: every stage that downsamples opens a unet_block, whose decoder upsamples the
// inner result (1×1 conv_norm + PixelShuffle by the stage's factor), concatenates the
// block's input (through a BatchNorm), and mixes them with two 3×3 conv_norms back to the
// input's channels. The skips are the stage outputs (the image at the top), as timm's
// feature_info names them; for ResNets these are the inputs of Metalhead's halving layers,
// so the U is Metalhead's. Where an encoder's stage ends earlier than the layer that halves
// (a DenseNet transition's 1×1 conv), the skip has the stage's channels, not Metalhead's.
// A bare Chain has no stages: its Chains are flattened and probed once with a zero image
// of `imsize`, as Metalhead does, and every layer that halves the size opens a block. The
// encoder's layers are shared, not copied.
//
// As a Model, a UNet is Chain(U, final) as in Metalhead: backbone(m) is the U (encoder
// and decoder, nested: [N, inchannels, H, W] to the same shape) and classifier(m) the
// final block (to [N, outplanes, H, W]). There is no separate encoder handle: the
// encoder is the one that was passed in.
//
// Follows Metalhead as it runs, including its corners: the middle block is the identity
// (unetlayers drops its m_middle in the recursion; `.middle` restores one), every block
// returns to its own input's channels, so the outermost one (and the final block) works on
// `inchannels` planes; the final block is basicblock's residual branch without its
// shortcut, then a 1×1 conv_norm with relu. Differences: Metalhead's UNet() defaults to a
// DenseNet-121 encoder, ours to ResNet-18 (Metalhead's own test's); the conv_norms use
// BatchNorm eps 1e-3 with Flux's momentum 0.1 (Metalhead's basic_conv_bn; our
// layers::basic_conv_bn has Inception's 0.003); image sizes that the encoder does not
// divide are refused instead of producing a broken decoder.
#pragma once

#include <flux/chain.h>
#include <metalhead/model.h>

#include <functional>
#include <vector>

namespace metalhead {

/// pixel_shuffle_icnr(inplanes, outplanes, r = 2): a 1×1 conv_norm (BatchNorm eps 1e-3, relu)
/// to outplanes·r² and PixelShuffle(r). Metalhead's name; the weights use the default init.
/// Example: maps [N, 64, 8, 8] to [N, 32, 16, 16] for pixel_shuffle_icnr(64, 32).
flux::Chain pixel_shuffle_icnr(int64_t inplanes, int64_t outplanes, int64_t r = 2);

/// unet_combine_layer(inplanes, outplanes): two 3×3 conv_norms with relu, inplanes to outplanes.
flux::Chain unet_combine_layer(int64_t inplanes, int64_t outplanes);

/// unet_middle_block(inplanes): two 3×3 conv_norms with relu, inplanes to 2·inplanes and back.
flux::Chain unet_middle_block(int64_t inplanes);

/// unet_final_block(inplanes, outplanes): basicblock(inplanes, inplanes) (its branch:
/// conv-BN, relu, conv-BN, no shortcut), then a 1×1 conv_norm with relu to outplanes.
flux::Chain unet_final_block(int64_t inplanes, int64_t outplanes);

/// unet_block(m_child, inplanes, midplanes, outplanes = 2·inplanes, r = 2): one level of
/// the U. m_child downsamples its [N, inplanes, H, W] input by r and gives midplanes
/// channels; the block is Chain(SkipConnection(Chain(m_child, pixel_shuffle_icnr(midplanes, midplanes, r)),
/// Parallel(cat_channels, identity, BatchNorm(inplanes))), relu,
/// unet_combine_layer(inplanes + midplanes, outplanes)): [N, outplanes, H, W].
flux::Chain unet_block(flux::Layer m_child, int64_t inplanes, int64_t midplanes, int64_t outplanes, int64_t r = 2);
flux::Chain unet_block(flux::Layer m_child, int64_t inplanes, int64_t midplanes);

struct UNetOptions {
  std::vector<int64_t> imsize = {256, 256};  // [H, W] to check (and probe a Chain with); any size the encoder divides runs
  int64_t inchannels = 3;
  int64_t outplanes = 3;
  // the last block, a callable of (channels out of the U, outplanes)
  std::function<flux::Chain(int64_t inplanes, int64_t outplanes)> final = unet_final_block;
  int64_t fdownscale = 0;  // top levels (halvings) left without a block: the output is that much smaller
  // at the bottom of the U, a callable of the planes there; none as Metalhead builds it
  std::function<flux::Layer(int64_t planes)> middle = {};
};

/// unet(encoder_backbone, {.imsize = {256, 256}, .inchannels = 3, .outplanes = 3,
///      .final = unet_final_block, .fdownscale = 0, .middle = none})
/// Chain(U, final(channels, outplanes)) around the flattened layers of `encoder_backbone`,
/// which are shared. Every layer must keep or exactly halve the probe's height and width
/// (std::invalid_argument otherwise, naming the layer and the sizes).
/// Example: unet(backbone(ResNet(18)), {.outplanes = 2}) maps [N, 3, 64, 96] to [N, 2, 64, 96].
flux::Chain unet(const flux::Chain& encoder_backbone, const UNetOptions& options = {});

/// unet(encoder, options): the same on a Model's feature stages, with no forward; the
/// layers before the encoder's head are shared. Throws for token encoders (ViT, the
/// mixers), for stages that do not downsample by a whole factor, for an imsize the
/// encoder does not divide, and for inchannels other than the encoder's.
flux::Chain unet(const Model& encoder, const UNetOptions& options = {});

/// The Model behind UNet: it knows the backbone's total downsampling and refuses images
/// whose height or width it does not divide, before any layer runs.
class UNetImpl : public ModelImpl {
 public:
  UNetImpl(const flux::Chain& layers, int64_t inchannels, int64_t downsampling);
  Tensor forward(const Tensor& x) override;

  int64_t downsampling;  // 2^(halvings of the backbone), 32 for ResNet-18
};

struct UNetModelOptions {
  std::vector<int64_t> imsize = {256, 256};
  int64_t inchannels = 3;
  int64_t outplanes = 3;
  bool pretrain = false;
};

/// UNet({.imsize = {256, 256}, .inchannels = 3, .outplanes = 3, .pretrain = false}) on
/// the stages of ResNet(18, {.inchannels}), UNet(encoder, {...}) on any Model's, or
/// UNet(encoder_backbone, {...}) on a bare Chain (probed). The encoder's layers are
/// shared. [N, inchannels, H, W] to [N, outplanes, H, W] for H and W divisible by the
/// encoder's downsampling (32 for ResNet-18).
class UNet : public Model {
 public:
  explicit UNet(const UNetModelOptions& options = {});
  UNet(const Model& encoder, const UNetModelOptions& options = {});
  UNet(const flux::Chain& encoder_backbone, const UNetModelOptions& options = {});
};

}  // namespace metalhead
