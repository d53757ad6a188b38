// resnet.h — the ResNet family: ResNet, WideResNet, ResNeXt, SEResNet, SEResNeXt,
// Res2Net and Res2NeXt, at Metalhead's three levels.
//
//   metalhead::ResNet(50, {.nclasses = 10})                       // high level
//   metalhead::resnet(BlockType::bottleneck, {3, 4, 6, 3},        // mid level: every option
//                     {.attn_fn = ..., .stochastic_depth_prob = 0.1, .stem_type = StemType::deep})
//   metalhead::build_resnet(stem, builder, repeats, ...)         // low level: builders
//
// Architectures equal torchvision's (resnet*, wide_resnet*, resnext*) and timm's
// (seresnet*, seresnext*, res2net*, res2next50): ResNet v1.5 (the stride on the 3×3),
// a 1×1 convolution + BatchNorm shortcut where shapes change. Res2Net's split follows
// timm: the first scale-1 chunks go through the hierarchical 3×3 convolutions and the
// last one passes (pooled in a block's first use); Metalhead wires the mirror image
// (the first chunk passes), the same function up to a permutation of channels.
#pragma once

#include <flux/activations.h>
#include <flux/chain.h>
#include <flux/connection.h>
#include <flux/pooling.h>
#include <metalhead/layers/connections.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/model.h>

#include <functional>
#include <optional>
#include <vector>

namespace metalhead {

enum class BlockType { basicblock, bottleneck, bottle2neck };
enum class StemType { default_stem, deep, deep_tiered };

struct DownsampleOptions {
  int64_t stride = 1;
  layers::NormLayer norm_layer = layers::batch_norm();
  bool revnorm = false;
};
/// A shortcut branch from inplanes to outplanes channels.
using DownsampleFn = std::function<flux::Layer(int64_t inplanes, int64_t outplanes, const DownsampleOptions&)>;

/// downsample_conv: a 1×1 conv_norm with the stride (ResNet's projection shortcut).
flux::Layer downsample_conv(int64_t inplanes, int64_t outplanes, const DownsampleOptions& options = {});
/// downsample_pool: a 2×2 mean pool with the stride, then a 1×1 conv_norm (Bag of Tricks' ResNet-D).
flux::Layer downsample_pool(int64_t inplanes, int64_t outplanes, const DownsampleOptions& options = {});
/// downsample_identity: the identity; with more outplanes, a stride-2 subsampling padded with
/// zero channels (the original paper's option A).
flux::Layer downsample_identity(int64_t inplanes, int64_t outplanes, const DownsampleOptions& options = {});

/// The two shortcuts of a ResNet: `first` where the shape changes, `second` elsewhere.
struct Downsample {
  DownsampleFn first, second;
};
/// The paper's shortcut options 'A' (identity, identity), 'B' (conv, identity, the default),
/// 'C' (conv, conv) and 'D' (pool, identity).
Downsample resnet_shortcut(char option);

/// Callbacks for the strides and widths of the blocks, replaceable to make new variants.
using StrideFn = std::function<int64_t(int64_t stage_idx, int64_t block_idx)>;
using PlanesFn = std::function<std::vector<int64_t>(const std::vector<int64_t>& block_repeats)>;
/// resnet_stride(stage_idx, block_idx): 2 for the first block of every stage but the first (indices from 1).
int64_t resnet_stride(int64_t stage_idx, int64_t block_idx);
/// resnet_planes(block_repeats): 64·2^(stage-1) for every block of every stage.
std::vector<int64_t> resnet_planes(const std::vector<int64_t>& block_repeats);

/// An attention layer after a block's last conv_norm, a callable of the planes (squeeze_excite).
using AttnFn = std::function<flux::Layer(int64_t planes)>;

struct ResNetOptions {
  Downsample downsample_opt = resnet_shortcut('B');
  int64_t cardinality = 1;            // groups of the 3×3 convolution (ResNeXt)
  int64_t base_width = 64;            // width per group (26 in Res2Net's blocks)
  int64_t scale = 4;                  // Res2Net's number of chunks
  int64_t inplanes = 64;              // channels out of the stem
  int64_t reduction_factor = 1;       // the first conv's planes are divided by this
  // joins a block and its shortcut: addact(activation) adds, then activates
  std::function<flux::Connection(const flux::Activation&)> connection = layers::addact;
  flux::Activation activation = flux::relu;
  layers::NormLayer norm_layer = layers::batch_norm();
  bool revnorm = false;
  AttnFn attn_fn = {};                // none
  flux::Layer pool_layer = flux::AdaptiveMeanPool({1, 1});
  bool use_conv = false;
  std::optional<double> dropblock_prob;          // DropBlock after the first conv, linear schedule
  std::optional<double> stochastic_depth_prob;   // on the residual branch, linear schedule
  std::optional<double> dropout_prob;            // in the head
  StemType stem_type = StemType::default_stem;
  int64_t stem_width = 32;                       // of the deep stems
  bool replace_stem_pool = false;                // a strided conv_norm instead of the max pool
  StrideFn stride_fn = resnet_stride;
  PlanesFn planes_fn = resnet_planes;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
};

/// A builder: (stage_idx, block_idx), both from 1, to the branches of one block; two or
/// more branches are joined by the model's connection in a Parallel.
using BlockBuilder = std::function<std::vector<flux::Layer>(int64_t stage_idx, int64_t block_idx)>;

/// The block builders. They read the block fields of `options` (cardinality, base_width,
/// scale, inplanes, reduction_factor, activation, norm_layer, revnorm, attn_fn, the drop
/// schedules, stride_fn, planes_fn, downsample_opt) and return (shortcut, block).
BlockBuilder basicblock_builder(const std::vector<int64_t>& block_repeats, const ResNetOptions& options = {});
BlockBuilder bottleneck_builder(const std::vector<int64_t>& block_repeats, const ResNetOptions& options = {});
BlockBuilder bottle2neck_builder(const std::vector<int64_t>& block_repeats, const ResNetOptions& options = {});

/// The blocks themselves.
struct BlockOptions {
  int64_t stride = 1;
  int64_t cardinality = 1;
  int64_t base_width = 64;
  int64_t scale = 4;
  int64_t reduction_factor = 1;
  bool is_first = false;  // bottle2neck: the first block of a stage pools its last chunk
  flux::Activation activation = flux::relu;
  layers::NormLayer norm_layer = layers::batch_norm();
  bool revnorm = false;
  flux::Layer drop_block = {};
  flux::Layer drop_path = {};
  AttnFn attn_fn = {};
};
/// basicblock(inplanes, planes, {...}): two 3×3 conv_norms (the stride on the first).
flux::Chain basicblock(int64_t inplanes, int64_t planes, const BlockOptions& options = {});
/// bottleneck(inplanes, planes, {...}): 1×1, grouped 3×3 (with the stride), 1×1 to 4·planes.
flux::Chain bottleneck(int64_t inplanes, int64_t planes, const BlockOptions& options = {});
/// bottle2neck(inplanes, planes, {...}): Res2Net's bottleneck, the 3×3 replaced by
/// hierarchical 3×3s over `scale` chunks of the channels.
flux::Chain bottle2neck(int64_t inplanes, int64_t planes, const BlockOptions& options = {});

/// resnet_stem(stem_type, {inchannels, replace_pool, activation, norm_layer, revnorm, stem_width}):
/// default: 7×7/2 conv, norm, 3×3/2 max pool. deep: three 3×3 convs (stem_width,
/// stem_width, 2·stem_width), deep_tiered: the first two 3/4·stem_width and stem_width.
flux::Chain resnet_stem(StemType stem_type, const ResNetOptions& options = {});

/// cnn_stages(get_layers, block_repeats, connection): one Chain of blocks per stage.
std::vector<flux::Layer> cnn_stages(const BlockBuilder& get_layers, const std::vector<int64_t>& block_repeats,
                                    const std::optional<flux::Connection>& connection = std::nullopt);

/// build_resnet(stem, get_layers, block_repeats, connection, classifier_fn, nfeatures):
/// Chain(Chain(stem, stages...), classifier_fn(nfeatures)), the lowest level.
flux::Chain build_resnet(flux::Layer stem, const BlockBuilder& get_layers, const std::vector<int64_t>& block_repeats,
                         const flux::Connection& connection,
                         const std::function<flux::Chain(int64_t)>& classifier_fn, int64_t nfeatures);

/// resnet(block_type, block_repeats, {...}): a ResNet-like Chain(backbone, classifier)
/// with every research option (ResNetOptions).
flux::Chain resnet(BlockType block_type, const std::vector<int64_t>& block_repeats, const ResNetOptions& options = {});

/// ResNet(depth, {inchannels, nclasses, pretrain}): depth 18, 34, 50, 101 or 152.
class ResNet : public Model {
 public:
  ResNet(int64_t depth, const ModelOptions& options = {});
};
/// WideResNet(depth): 50 or 101, bottlenecks twice as wide (base_width 128).
class WideResNet : public Model {
 public:
  WideResNet(int64_t depth, const ModelOptions& options = {});
};
struct ResNeXtOptions {
  int64_t cardinality = 32;
  int64_t base_width = 4;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;
  std::optional<double> drop_path_rate;  // stochastic depth, linear to this at the last block
};
/// ResNeXt(depth, {.cardinality = 32, .base_width = 4, ...}): depth 50, 101 or 152.
class ResNeXt : public Model {
 public:
  ResNeXt(int64_t depth, const ResNeXtOptions& options = {});
};
/// SEResNet(depth): ResNet with squeeze_excite (reduction 16) after each block's last conv.
class SEResNet : public Model {
 public:
  SEResNet(int64_t depth, const ModelOptions& options = {});
};
/// SEResNeXt(depth, {.cardinality = 32, .base_width = 4, ...}): depth 50, 101 or 152.
class SEResNeXt : public Model {
 public:
  SEResNeXt(int64_t depth, const ResNeXtOptions& options = {});
};
struct Res2NetOptions {
  int64_t scale = 4;
  int64_t base_width = 26;
  int64_t cardinality = 1;
  int64_t inchannels = 3;
  int64_t nclasses = 1000;
  bool pretrain = false;
};
/// Res2Net(depth, {.scale = 4, .base_width = 26, ...}): depth 50, 101 or 152.
class Res2Net : public Model {
 public:
  Res2Net(int64_t depth, const Res2NetOptions& options = {});
};
/// Res2NeXt(depth, {.scale = 4, .base_width = 4, .cardinality = 8, ...}): depth 50, 101 or 152.
class Res2NeXt : public Model {
 public:
  Res2NeXt(int64_t depth, Res2NetOptions options = {.scale = 4, .base_width = 4, .cardinality = 8});
};

}  // namespace metalhead
