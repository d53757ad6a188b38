// features.cpp — feature_info, features, forward_features, forward_head, reset_classifier.
#include <metalhead/features.h>

#include <metalhead/layers/classifier.h>
#include <metalhead/layers/pool.h>

#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/dropout.h>
#include <metalhead/layers/drop.h>
#include <flux/parallel.h>
#include <flux/pooling.h>

#include <algorithm>
#include <optional>
#include <set>
#include <stdexcept>

namespace metalhead {
namespace {

using Path = std::vector<size_t>;

// Execution order of two paths: a Chain's output comes after everything inside it.
bool runs_before(const Path& a, const Path& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return a[i] < b[i];
  }
  return a.size() > b.size();
}

const flux::ChainImpl& backbone_of(const Model& m) { return *(*m->layers)[0].as<flux::ChainImpl>(); }
const flux::ChainImpl& head_of(const Model& m) { return *(*m->layers)[1].as<flux::ChainImpl>(); }

size_t head_start(const Model& m) {
  const auto& spec = m->features;
  return spec.head_start < 0 ? backbone_of(m).size() : static_cast<size_t>(spec.head_start);
}

// "layers.0.3.1" → {3, 1}: the path inside the backbone.
Path backbone_path(const Model& m, const std::string& module) {
  const std::string prefix = "layers.0.";
  if (module.rfind(prefix, 0) != 0) {
    throw std::logic_error(m->type_name + ": feature module " + module + " is not inside the backbone");
  }
  Path path;
  size_t at = prefix.size();
  while (at <= module.size()) {
    const size_t dot = std::min(module.find('.', at), module.size());
    path.push_back(std::stoul(module.substr(at, dot - at)));
    at = dot + 1;
  }
  return path;
}

// Runs `chain` (the layer at `prefix` in the backbone) on x, recording the outputs at
// `wanted[next...]` (paths in execution order) that lie inside it; returns early once all
// are recorded.
// With `end`, runs the first `end` layers whether or not all are recorded.
Tensor run_collecting(const flux::ChainImpl& chain, Tensor x, const std::vector<Path>& wanted, const Path& prefix,
                      size_t& next, std::vector<Tensor>& out, std::optional<size_t> end = std::nullopt) {
  const size_t depth = prefix.size();
  auto inside = [&](const Path& w) {
    return w.size() > depth && std::equal(prefix.begin(), prefix.end(), w.begin());
  };
  const size_t stop = end ? std::min(*end, chain.size()) : chain.size();
  for (size_t i = 0; i < stop && (end || next < wanted.size()); ++i) {
    if (next == wanted.size() || !inside(wanted[next]) || wanted[next][depth] != i) {
      x = chain[i](x);
      continue;
    }
    const Path& w = wanted[next];
    if (w.size() > depth + 1) {
      auto inner = chain[i].as<flux::ChainImpl>();
      if (!inner) throw std::logic_error("features: a feature module lies inside " + chain[i]->repr() + ", not a Chain");
      Path here = prefix;
      here.push_back(i);
      x = run_collecting(*inner, x, wanted, here, next, out, end ? std::optional<size_t>(inner->size()) : std::nullopt);
    } else {
      x = chain[i](x);
    }
    // The stage may also end where the inner chain does.
    while (next < wanted.size() && wanted[next].size() == depth + 1 && inside(wanted[next]) && wanted[next][depth] == i) {
      out.push_back(x);
      ++next;
    }
  }
  return x;
}

// Cuts `chain` (the layer at `prefix` in the backbone) after each of `cuts[next...]`
// (paths in execution order, each at most once) that lies inside it: the layers go to
// segments.back(), and every cut opens a new segment. A cut inside a nested Chain splits
// that Chain in two, each half a Chain of its own (a single layer stays itself).
void cut_after(const flux::ChainImpl& chain, const std::vector<Path>& cuts, const Path& prefix, size_t& next,
               std::vector<std::vector<flux::Layer>>& segments) {
  const size_t depth = prefix.size();
  auto inside = [&](const Path& w) {
    return w.size() > depth && std::equal(prefix.begin(), prefix.end(), w.begin());
  };
  auto wrap = [](std::vector<flux::Layer> ls) {
    return ls.size() == 1 ? ls.front() : flux::Layer(flux::Chain(std::move(ls)));
  };
  for (size_t i = 0; i < chain.size(); ++i) {
    const bool deeper = next < cuts.size() && inside(cuts[next]) && cuts[next][depth] == i && cuts[next].size() > depth + 1;
    if (deeper) {
      auto inner = chain[i].as<flux::ChainImpl>();
      if (!inner) throw std::logic_error("features: a feature module lies inside " + chain[i]->repr() + ", not a Chain");
      Path here = prefix;
      here.push_back(i);
      std::vector<std::vector<flux::Layer>> parts(1);
      cut_after(*inner, cuts, here, next, parts);
      for (size_t k = 0; k < parts.size(); ++k) {
        if (k > 0) segments.emplace_back();
        if (!parts[k].empty()) segments.back().push_back(wrap(std::move(parts[k])));
      }
    } else {
      segments.back().push_back(chain[i]);
    }
    if (next < cuts.size() && inside(cuts[next]) && cuts[next].size() == depth + 1 && cuts[next][depth] == i) {
      segments.emplace_back();
      ++next;
    }
  }
}

Tensor check_images(const Model& m, const Tensor& x, const char* who) {
  if (x.dim() != 4 || x.size(1) != m->inchannels) {
    throw std::invalid_argument(std::string(who) + "(" + m->type_name + "): expected [N, " +
                                std::to_string(m->inchannels) + ", H, W] images, got a tensor of shape " +
                                flux::shape_string(x));
  }
  return x;
}

// Tokens [N, T, D] to a map [N, D, H/r, W/r], the leading non-patch tokens dropped.
Tensor tokens_to_map(const Tensor& t, int64_t prefix, int64_t h, int64_t w, const std::string& who) {
  if (t.dim() != 3 || t.size(1) != prefix + h * w) {
    throw std::logic_error(who + ": expected [N, " + std::to_string(prefix + h * w) + ", D] tokens, got " +
                           flux::shape_string(t));
  }
  return t.slice(1, prefix).transpose(1, 2).reshape({t.size(0), t.size(2), h, w});
}

// What reset_classifier(model, 0) puts in the logits layer's place: the identity, which
// remembers the features it passes on, so that a later reset can put a classifier back.
class NoLogitsImpl : public flux::LayerImpl {
 public:
  NoLogitsImpl(int64_t features, bool conv) : features(features), conv(conv) {}
  Tensor forward(const Tensor& x) override { return x; }
  void pretty_print(std::ostream& os) const override { os << "NoLogits(" << features << ")"; }
  int64_t features;
  bool conv;  // the classifier it replaced was a 1×1 Conv
};

bool is_flatten(const flux::Layer& l) { return l->repr() == flux::Layer(flux::flatten)->repr(); }

bool is_global_pool(const flux::Layer& l) {
  if (layers::is_identity(l) || l.as<flux::GlobalPoolImpl>()) return true;
  if (auto a = l.as<flux::AdaptivePoolImpl>()) {
    return std::all_of(a->output_size().begin(), a->output_size().end(), [](int64_t s) { return s == 1; });
  }
  if (auto p = l.as<flux::ParallelImpl>()) {  // AdaptiveMeanMaxPool
    return std::all_of(p->layers().begin(), p->layers().end(), [](const flux::Layer& b) { return b.as<flux::AdaptivePoolImpl>() != nullptr; });
  }
  return false;
}

flux::Layer global_pool_layer(const std::string& pool) {
  if (pool == "avg") return flux::AdaptiveMeanPool({1, 1});
  if (pool == "max") return flux::AdaptiveMaxPool({1, 1});
  if (pool == "avgmax") {
    return layers::AdaptiveMeanMaxPool(
        flux::Connection("mean", [](const std::vector<Tensor>& xs) { return 0.5 * (xs.at(0) + xs.at(1)); }));
  }
  return flux::Layer(flux::identity);  // "none"
}

}  // namespace

namespace detail {
std::vector<std::vector<flux::Layer>> stage_segments(const Model& model, const std::vector<size_t>& stages) {
  const auto& info = feature_info(model);
  std::vector<Path> cuts;
  for (size_t i : stages) cuts.push_back(backbone_path(model, info.at(i).module));
  if (!std::is_sorted(cuts.begin(), cuts.end(), runs_before) || std::adjacent_find(cuts.begin(), cuts.end()) != cuts.end()) {
    throw std::invalid_argument("stage_segments(" + model->type_name + "): the stages must be distinct and in order");
  }
  const auto& bb = backbone_of(model);
  const size_t end = head_start(model);
  if (!cuts.empty() && cuts.back().front() >= end) {
    throw std::logic_error("stage_segments(" + model->type_name + "): a stage lies in the head");
  }
  std::vector<flux::Layer> body(bb.begin(), bb.begin() + static_cast<std::ptrdiff_t>(end));
  std::vector<std::vector<flux::Layer>> segments(1);
  size_t next = 0;
  cut_after(*flux::Chain(std::move(body)), cuts, {}, next, segments);
  return segments;
}

size_t logits_index(const Model& m) {
  const auto& head = head_of(m);
  for (size_t i = head.size(); i-- > 0;) {
    if (head[i].as<flux::DenseImpl>() || head[i].as<flux::ConvImpl>() || head[i].as<NoLogitsImpl>()) return i;
  }
  throw std::invalid_argument(m->type_name + ": the head " + head.repr() + " has no Dense or Conv giving logits");
}
}  // namespace detail
using detail::logits_index;

const std::vector<FeatureInfo>& feature_info(const Model& model) {
  if (model->features.stages.empty()) {
    throw std::invalid_argument("feature_info: this " + model->type_name +
                                " has no feature stages recorded (a Model made from a bare Chain, not by a builder)");
  }
  return model->features.stages;
}

FeatureExtractor::FeatureExtractor(Model model, std::vector<size_t> indices)
    : model_(std::move(model)), indices_(std::move(indices)) {
  // The stages' paths in execution order, once: order_[k] is the k-th collected's index.
  std::vector<Path> wanted;
  for (size_t i : indices_) wanted.push_back(backbone_path(model_, model_->features.stages.at(i).module));
  order_.resize(wanted.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::stable_sort(order_.begin(), order_.end(), [&](size_t a, size_t b) { return runs_before(wanted[a], wanted[b]); });
  for (size_t i : order_) paths_.push_back(wanted[i]);
}

std::vector<FeatureInfo> FeatureExtractor::info() const {
  std::vector<FeatureInfo> out;
  for (size_t i : indices_) out.push_back(model_->features.stages[i]);
  return out;
}

std::vector<Tensor> FeatureExtractor::operator()(const Tensor& images) const { return run(images, nullptr); }

std::vector<Tensor> FeatureExtractor::run(const Tensor& images, Tensor* final) const {
  check_images(model_, images, "features");
  const auto& spec = model_->features;
  size_t next = 0;
  std::vector<Tensor> collected;
  Tensor last = run_collecting(backbone_of(model_), images, paths_, {}, next, collected,
                               final ? std::optional<size_t>(head_start(model_)) : std::nullopt);
  if (final) *final = last;
  if (collected.size() != paths_.size()) throw std::logic_error("features: a feature module was not reached");
  std::vector<Tensor> out(collected.size());
  for (size_t k = 0; k < order_.size(); ++k) {
    Tensor t = collected[k];
    if (spec.prefix_tokens >= 0) {
      const int64_t r = spec.stages[indices_[order_[k]]].reduction;
      t = tokens_to_map(t, spec.prefix_tokens, images.size(2) / r, images.size(3) / r, "features(" + model_->type_name + ")");
    }
    if (spec.channels_last) t = t.permute({0, 3, 1, 2});
    out[order_[k]] = t;
  }
  return out;
}

FeatureExtractor features(const Model& model, const FeatureOptions& options) {
  const auto& stages = feature_info(model);
  std::vector<size_t> indices;
  std::set<int64_t> seen;
  for (int64_t i : options.out_indices) {
    if (i < 0 || i >= static_cast<int64_t>(stages.size())) {
      throw std::out_of_range("features(" + model->type_name + "): out_indices has " + std::to_string(i) +
                              "; the model has stages 0 to " + std::to_string(stages.size() - 1));
    }
    if (!seen.insert(i).second) {
      throw std::invalid_argument("features(" + model->type_name + "): out_indices has " + std::to_string(i) + " twice");
    }
    indices.push_back(static_cast<size_t>(i));
  }
  if (indices.empty()) {
    for (size_t i = 0; i < stages.size(); ++i) indices.push_back(i);
  }
  return FeatureExtractor(model, std::move(indices));
}

Intermediates forward_intermediates(const Model& model, const Tensor& images, const IntermediatesOptions& options) {
  const auto n = static_cast<int64_t>(feature_info(model).size());
  std::vector<int64_t> indices;
  for (int64_t i : options.indices) indices.push_back(i < 0 ? i + n : i);  // -1: the last stage
  if (options.indices.empty()) {
    for (int64_t i = 0; i < n; ++i) indices.push_back(i);
  }
  const FeatureExtractor f = features(model, {.out_indices = indices});
  Intermediates out;
  if (options.intermediates_only) {
    out.intermediates = f(images);
  } else {
    out.intermediates = f.run(images, &out.features);
  }
  return out;
}

Tensor forward_features(const Model& model, const Tensor& images) {
  check_images(model, images, "forward_features");
  const auto& bb = backbone_of(model);
  Tensor x = images;
  for (size_t i = 0; i < head_start(model); ++i) x = bb[i](x);
  return x;
}

Tensor forward_head(const Model& model, const Tensor& features, bool pre_logits) {
  const auto& bb = backbone_of(model);
  Tensor x = features;
  for (size_t i = head_start(model); i < bb.size(); ++i) x = bb[i](x);
  const auto& head = head_of(model);
  const size_t end = pre_logits ? logits_index(model) : head.size();
  for (size_t i = 0; i < end; ++i) x = head[i](x);
  return x;
}

int64_t num_features(const Model& model) {
  const flux::Layer& l = head_of(model)[logits_index(model)];
  if (auto d = l.as<flux::DenseImpl>()) return d->weight.size(1);
  if (auto n = l.as<NoLogitsImpl>()) return n->features;
  return l.as<flux::ConvImpl>()->in_channels();
}

namespace {

// The head's global pool (index 0) and flatten (index 1) slots, checked for `pool`.
struct PoolSlots {
  bool pool = false, flatten = false;
};

PoolSlots pool_slots(const Model& model, const std::string& pool, int64_t nclasses, const std::string& who) {
  const std::vector<std::string> pools = {"avg", "max", "avgmax", "none"};
  if (std::find(pools.begin(), pools.end(), pool) == pools.end()) {
    detail::bad_config(who + ": global_pool", "\"" + pool + "\"", {"\"avg\"", "\"max\"", "\"avgmax\"", "\"none\""});
  }
  if (pool == "none" && nclasses != 0) {
    throw std::invalid_argument(who + ": global_pool \"none\" leaves an unpooled map, which only nclasses 0 (no classifier) takes");
  }
  const auto& head = head_of(model);
  const size_t at = logits_index(model);
  PoolSlots s;
  s.pool = head.size() > 1 && at > 0 && is_global_pool(head[0]);
  s.flatten = s.pool && head.size() > 2 && (is_flatten(head[1]) || layers::is_identity(head[1]));
  if (!s.pool && pool != "avg") {
    throw std::invalid_argument(who + ": the head " + head.repr() + " has no global pool to set; global_pool must be \"avg\"");
  }
  if (s.pool && pool != "none" && !s.flatten && head[at].as<flux::DenseImpl>() && layers::is_identity(head[0])) {
    throw std::invalid_argument(who + ": the head " + head.repr() + " has no flatten after its pool for a Dense to take");
  }
  return s;
}

void swap_pool(Model& model, const PoolSlots& s, const std::string& pool) {
  auto& head = *(*model->layers)[1].as<flux::ChainImpl>();
  if (!s.pool) return;
  head.replace(0, global_pool_layer(pool));
  if (s.flatten) head.replace(1, pool == "none" ? flux::Layer(flux::identity) : flux::Layer(flux::flatten));
}

}  // namespace

namespace detail {

int64_t num_logits(const Model& model) {
  const flux::Layer& l = head_of(model)[logits_index(model)];
  return l.as<NoLogitsImpl>() ? 0 : l->parameters().front().size(0);
}

std::vector<std::string> logits_tensor_names(const Model& model) {
  const std::string prefix = "layers.1." + std::to_string(logits_index(model)) + ".";
  std::vector<std::string> out;
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind(prefix, 0) == 0) out.push_back(p.key());
  }
  return out;
}

void set_global_pool(Model& model, const std::string& pool) {
  const std::string who = "global_pool(" + model->type_name + ")";
  swap_pool(model, pool_slots(model, pool, num_logits(model), who), pool);
}

void set_head_dropout(Model& model, double p) {
  const std::string who = "drop_rate(" + model->type_name + ")";
  if (!(p >= 0 && p < 1)) throw std::invalid_argument(who + ": expected a rate in [0, 1), got " + std::to_string(p));
  auto& head = *(*model->layers)[1].as<flux::ChainImpl>();
  const size_t at = logits_index(model);
  // The head's own dropout before its logits layer (MobileNet, EfficientNet, VGG, ...).
  for (size_t i = at; i-- > 0;) {
    if (auto d = head[i].as<flux::DropoutImpl>()) {
      d->p = p;
      return;
    }
  }
  // Else a dropout joins the nearest layer without tensors before the logits (the pool
  // or flatten; ViT's token pick at the backbone's end), so no tensor is renamed.
  auto tensorless = [](const flux::Layer& l) { return l->parameters().empty() && l->buffers().empty(); };
  for (size_t i = at; i-- > 0;) {
    if (tensorless(head[i])) {
      head.replace(i, flux::Chain(head[i], flux::Dropout(p)));
      return;
    }
    if (!head[i]->parameters().empty()) break;
  }
  auto& body = *(*model->layers)[0].as<flux::ChainImpl>();
  if (at == 0 || std::all_of(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(at),
                             [](const flux::Layer& l) { return !l->parameters().empty(); })) {
    if (body.size() > 0 && tensorless(body[body.size() - 1])) {
      body.replace(body.size() - 1, flux::Chain(body[body.size() - 1], flux::Dropout(p)));
      return;
    }
  }
  throw std::invalid_argument(who + ": the head " + head.repr() + " has no place for a dropout before its logits");
}

void set_drop_path(Model& model, double rate) {
  const std::string who = "drop_path_rate(" + model->type_name + ")";
  if (!(rate >= 0 && rate < 1)) throw std::invalid_argument(who + ": expected a rate in [0, 1), got " + std::to_string(rate));
  std::vector<layers::StochasticDepthImpl*> drops;
  for (const auto& m : model->modules()) {
    if (auto d = dynamic_cast<layers::StochasticDepthImpl*>(m.get())) drops.push_back(d);
  }
  if (drops.empty()) throw std::invalid_argument(who + ": this model has no stochastic depth to set");
  // The family's schedule, rescaled to end at `rate` (constant where it is all 0: the mixers').
  double most = 0;
  for (auto* d : drops) most = std::max(most, d->p);
  for (auto* d : drops) d->p = most > 0 ? rate * d->p / most : rate;
}

}  // namespace detail

void reset_classifier(Model& model, int64_t nclasses, const std::string& global_pool) {
  const std::string who = "reset_classifier(" + model->type_name + ")";
  if (nclasses < 0) throw std::invalid_argument(who + ": nclasses must be >= 0, got " + std::to_string(nclasses));
  const PoolSlots slots = pool_slots(model, global_pool, nclasses, who);
  auto& head = *(*model->layers)[1].as<flux::ChainImpl>();
  const size_t at = logits_index(model);

  // Everything is checked: build the new layers, then swap them in.
  const flux::Layer& old = head[at];
  const int64_t in = num_features(model);
  const auto removed = old.as<NoLogitsImpl>();
  const bool conv = old.as<flux::ConvImpl>() || (removed && removed->conv);
  flux::Layer logits(std::make_shared<NoLogitsImpl>(in, conv));
  if (nclasses > 0) {
    if (auto d = old.as<flux::DenseImpl>()) {
      logits = flux::Dense({in, nclasses}, d->activation, {.bias = d->bias.defined()});
    } else if (auto c = old.as<flux::ConvImpl>()) {
      logits = flux::Conv(c->kernel(), {in, nclasses}, c->activation, {.bias = c->bias.defined()});
    } else {
      logits = conv ? flux::Layer(flux::Conv({1, 1}, {in, nclasses})) : flux::Layer(flux::Dense({in, nclasses}));
    }
    // The model's precision (a float64 model stays float64).
    for (const auto& p : model->parameters()) {
      logits->to(p.scalar_type());
      break;
    }
  }
  head.replace(at, logits);
  swap_pool(model, slots, global_pool);
}

}  // namespace metalhead
