// features.h — timm's feature API for every model of the zoo.
//
//   auto m = metalhead::create_model("resnet50", {.pretrain = true});
//   for (auto& f : metalhead::feature_info(m)) ...      // {64, 2, "layers.0.0.2"}, {256, 4, ...}, ...
//   auto pyramid = metalhead::features(m, {.out_indices = {1, 2, 3, 4}});
//   std::vector<Tensor> maps = pyramid(images);          // strides 4, 8, 16, 32
//   Tensor f = metalhead::forward_features(m, images);   // [N, 2048, 7, 7]
//   Tensor logits = metalhead::forward_head(m, f);       // == m(images)
//   metalhead::reset_classifier(m, 10);                  // a fresh 10-class head
//
// The stages are timm's `feature_info` where timm has the model (the same channels and
// reductions), and otherwise the output before each downsampling and the last map.
#pragma once

#include <metalhead/model.h>

#include <string>
#include <vector>

namespace metalhead {

/// feature_info(model): one entry per stage, in order. Throws for a model whose builder
/// recorded none (a Model made from a bare Chain).
const std::vector<FeatureInfo>& feature_info(const Model& model);

struct FeatureOptions {
  std::vector<int64_t> out_indices = {};  // indices into feature_info; empty: every stage
};

/// The multi-scale feature maps of a model: callable on [N, C, H, W] images, giving
/// one [N, channels, H / reduction, W / reduction] map per selected stage. It shares the
/// model's layers (training it trains the model) and runs the backbone only as far as
/// the last selected stage. Token models (ViT, the MLP mixers) give their block outputs
/// as maps, the class token dropped.
class FeatureExtractor {
 public:
  FeatureExtractor(Model model, std::vector<size_t> indices);
  std::vector<Tensor> operator()(const Tensor& images) const;
  /// The selected stages' info, in the order the maps come.
  std::vector<FeatureInfo> info() const;
  const Model& model() const { return model_; }
  /// The maps, and with `final` the whole of forward_features too, in one pass.
  std::vector<Tensor> run(const Tensor& images, Tensor* final) const;

 private:
  Model model_;
  std::vector<size_t> indices_;
  std::vector<std::vector<size_t>> paths_;  // the stages' index paths in the backbone, in execution order
  std::vector<size_t> order_;               // paths_[k] is stage indices_[order_[k]]
};

/// features(model, {.out_indices}): throws for an index out of range or repeated.
FeatureExtractor features(const Model& model, const FeatureOptions& options = {});

struct IntermediatesOptions {
  std::vector<int64_t> indices = {};  // stages (feature_info indices; -1 is the last); empty: all
  bool intermediates_only = false;    // stop after the last selected stage
};

struct Intermediates {
  Tensor features;                   // forward_features' output (undefined with intermediates_only)
  std::vector<Tensor> intermediates; // one map per selected stage, as features() gives them
};

/// forward_intermediates(model, images, {.indices, .intermediates_only}): timm's
/// forward_intermediates in one pass: the selected stages' maps and the unpooled
/// features, so that forward_head(model, result.features) gives the logits. Throws for
/// an index out of range (after counting negative ones from the end) or repeated.
Intermediates forward_intermediates(const Model& model, const Tensor& images, const IntermediatesOptions& options = {});

/// forward_features(model, images): the backbone's unpooled last map ([N, C, h, w]), or
/// the tokens ([N, T, D]) for token models: everything before the head.
Tensor forward_features(const Model& model, const Tensor& images);

/// forward_head(model, features, pre_logits = false): the rest of the model, so that
/// forward_head(m, forward_features(m, x)) == m(x); with pre_logits, stops before the
/// layer giving the logits (the pooled features a new classifier takes).
Tensor forward_head(const Model& model, const Tensor& features, bool pre_logits = false);

/// reset_classifier(model, nclasses, global_pool = "avg"): a freshly initialised layer
/// of `nclasses` outputs in place of the logits layer (0: none, the head gives the pooled
/// features), and the head's global pool set to "avg", "max", "avgmax" (their mean, as
/// timm's) or "none" (only with nclasses 0: the unpooled map). A head with no global
/// pool of its own (VGG's flatten, ViT's class token) takes only "avg", which keeps it.
/// Bad arguments throw and leave the model unchanged.
void reset_classifier(Model& model, int64_t nclasses, const std::string& global_pool = "avg");

/// The number of features the logits layer takes (timm's num_features).
int64_t num_features(const Model& model);

namespace detail {
/// The index in the head of the layer giving the logits (its last Dense or Conv).
size_t logits_index(const Model& model);
/// The backbone's feature layers (those before the head) cut after each of `stages`
/// (indices into feature_info, increasing): stages.size() + 1 runs of layers, shared with
/// the model, the last the layers after the last stage (often none).
std::vector<std::vector<flux::Layer>> stage_segments(const Model& model, const std::vector<size_t>& stages);
/// How many logits the head gives (0 after reset_classifier(model, 0)).
int64_t num_logits(const Model& model);
/// Our names of the logits layer's tensors: what a new head leaves as initialised.
std::vector<std::string> logits_tensor_names(const Model& model);
/// create_model's keywords, on a built model (each throws, changing nothing, where the
/// model has no such place): the head's global pool; the dropout before the logits (the
/// head's own, else one beside a layer without tensors, so no tensor is renamed); every
/// StochasticDepth's rate, the family's schedule rescaled to end at `rate`.
void set_global_pool(Model& model, const std::string& pool);
void set_head_dropout(Model& model, double p);
void set_drop_path(Model& model, double rate);
}  // namespace detail

}  // namespace metalhead
