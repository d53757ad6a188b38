// train.cpp — options, schedule, optimisers, the training loop and its checkpoints.
#include <metalhead/train.h>

#include <metalhead/features.h>
#include <metalhead/registry.h>
#include <metalhead/weights.h>
#include <metalhead/weights/safetensors.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <flux/threads.h>
#include <flux/mode.h>
#include <nlohmann/json.hpp>
#include <torch/autograd.h>
#include <torch/utils.h>

#include <flux/printing.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>

namespace metalhead::train {

using nlohmann::json;

namespace {

const char* const kOptimisers[] = {"sgd", "adam", "adamw"};
const char* const kSchedules[] = {"constant", "cosine", "step"};
const char* const kMetaKey = "metalhead.checkpoint";
const std::string kOptimiserPrefix = "training/optimiser.";
const std::string kRngName = "training/rng.cpu";

template <class Kind, size_t N>
Kind parse_kind(const std::string& name, const char* const (&names)[N], const char* what) {
  std::string known;
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<Kind>(i);
    known += std::string(i ? ", " : "") + names[i];
  }
  throw std::invalid_argument(std::string("unknown ") + what + " '" + name + "' (expected one of " + known + ")");
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("train options: " + what);
}

}  // namespace

OptimiserKind optimiser_kind(const std::string& name) { return parse_kind<OptimiserKind>(name, kOptimisers, "optimiser"); }
ScheduleKind schedule_kind(const std::string& name) { return parse_kind<ScheduleKind>(name, kSchedules, "schedule"); }
std::string to_string(OptimiserKind kind) { return kOptimisers[static_cast<int>(kind)]; }
std::string to_string(ScheduleKind kind) { return kSchedules[static_cast<int>(kind)]; }

void TrainOptions::validate() const {
  require(epochs >= 1, "epochs must be at least 1, got " + std::to_string(epochs));
  require(dtype == "float32" || dtype == "float64", "the dtype must be float32 or float64, got \"" + dtype + "\"");
  require(batch_size >= 1, "batch size must be at least 1, got " + std::to_string(batch_size));
  require(lr > 0 && std::isfinite(lr), "the learning rate must be positive, got " + std::to_string(lr));
  require(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got " + std::to_string(momentum));
  require(!nesterov || optimiser == OptimiserKind::sgd, "Nesterov momentum is for SGD, not " + to_string(optimiser));
  require(!nesterov || momentum > 0, "Nesterov momentum needs momentum > 0");
  require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam's betas must be in [0, 1)");
  require(eps > 0, "eps must be positive");
  require(weight_decay >= 0, "weight decay must not be negative, got " + std::to_string(weight_decay));
  require(warmup_epochs >= 0 && warmup_epochs < static_cast<double>(epochs),
          "warm-up (" + std::to_string(warmup_epochs) + " epochs) must be shorter than the run (" +
              std::to_string(epochs) + " epochs)");
  require(step_size >= 1, "the step schedule's step size must be at least 1 epoch");
  require(gamma > 0 && gamma <= 1, "the step schedule's gamma must be in (0, 1], got " + std::to_string(gamma));
  require(label_smoothing >= 0 && label_smoothing < 1, "label smoothing must be in [0, 1)");
  require(workers >= 1 && workers <= data::DataLoader::kMaxWorkers,
          "the data-loading workers must be from 1 to " + std::to_string(data::DataLoader::kMaxWorkers) + ", got " +
              std::to_string(workers));
  require(pad_crop >= 0 && pad_crop <= kMaxImageSide,
          "crop padding must be from 0 to " + std::to_string(kMaxImageSide) + ", got " + std::to_string(pad_crop));
  require(image_size.empty() || (image_size.size() == 2 && image_size[0] > 0 && image_size[1] > 0 &&
                                 image_size[0] <= kMaxImageSide && image_size[1] <= kMaxImageSide),
          "the image size must be two numbers H W from 1 to " + std::to_string(kMaxImageSide));
  require(head_lr_mult > 0 && std::isfinite(head_lr_mult),
          "the head's learning-rate multiplier must be positive, got " + std::to_string(head_lr_mult));
  require(unfreeze_after >= 0, "unfreeze-after must not be negative, got " + std::to_string(unfreeze_after));
  require(unfreeze_after == 0 || freeze_backbone, "unfreeze-after needs a frozen backbone (freeze-backbone)");
}

void to_json(json& j, const TrainOptions& o) {
  j = json{{"model", o.model},
           {"epochs", o.epochs},
           {"batch_size", o.batch_size},
           {"optimiser", to_string(o.optimiser)},
           {"lr", o.lr},
           {"momentum", o.momentum},
           {"nesterov", o.nesterov},
           {"beta1", o.beta1},
           {"beta2", o.beta2},
           {"eps", o.eps},
           {"weight_decay", o.weight_decay},
           {"schedule", to_string(o.schedule)},
           {"warmup_epochs", o.warmup_epochs},
           {"step_size", o.step_size},
           {"gamma", o.gamma},
           {"label_smoothing", o.label_smoothing},
           {"seed", o.seed},
           {"workers", o.workers},
           {"pad_crop", o.pad_crop},
           {"hflip", o.hflip},
           {"image_size", o.image_size},
           {"data", o.data},
           {"test_data", o.test_data},
           {"limit", o.limit},
           {"weights", o.weights},
           {"freeze_backbone", o.freeze_backbone},
           {"unfreeze_after", o.unfreeze_after},
           {"head_lr_mult", o.head_lr_mult},
           {"dtype", o.dtype}};
}

void from_json(const json& j, TrainOptions& o) {
  o.model = j.at("model").get<std::string>();
  j.at("epochs").get_to(o.epochs);
  j.at("batch_size").get_to(o.batch_size);
  o.optimiser = optimiser_kind(j.at("optimiser").get<std::string>());
  j.at("lr").get_to(o.lr);
  j.at("momentum").get_to(o.momentum);
  j.at("nesterov").get_to(o.nesterov);
  j.at("beta1").get_to(o.beta1);
  j.at("beta2").get_to(o.beta2);
  j.at("eps").get_to(o.eps);
  j.at("weight_decay").get_to(o.weight_decay);
  o.schedule = schedule_kind(j.at("schedule").get<std::string>());
  j.at("warmup_epochs").get_to(o.warmup_epochs);
  j.at("step_size").get_to(o.step_size);
  j.at("gamma").get_to(o.gamma);
  j.at("label_smoothing").get_to(o.label_smoothing);
  j.at("seed").get_to(o.seed);
  j.at("workers").get_to(o.workers);
  j.at("pad_crop").get_to(o.pad_crop);
  j.at("hflip").get_to(o.hflip);
  j.at("image_size").get_to(o.image_size);
  j.at("data").get_to(o.data);
  j.at("test_data").get_to(o.test_data);
  j.at("limit").get_to(o.limit);
  // Absent from checkpoints of runs before fine-tuning existed.
  o.weights = j.value("weights", std::string());
  o.freeze_backbone = j.value("freeze_backbone", false);
  o.unfreeze_after = j.value("unfreeze_after", int64_t{0});
  o.head_lr_mult = j.value("head_lr_mult", 1.0);
  o.dtype = j.value("dtype", std::string("float32"));
}

double learning_rate(const TrainOptions& o, double progress) {
  const double w = o.warmup_epochs;
  if (progress < w) return o.lr * progress / w;
  switch (o.schedule) {
    case ScheduleKind::constant: return o.lr;
    case ScheduleKind::cosine: {
      const double t = std::min(1.0, (progress - w) / (static_cast<double>(o.epochs) - w));
      return o.lr * 0.5 * (1 + std::cos(M_PI * t));
    }
    case ScheduleKind::step:
      return o.lr * std::pow(o.gamma, std::floor(progress / static_cast<double>(o.step_size)));
  }
  return o.lr;
}

// ---- optimisers -------------------------------------------------------------------------

Optimiser::Optimiser(std::vector<Tensor> parameters, const TrainOptions& options, std::vector<double> lr_scale)
    : params_(std::move(parameters)), lr_scale_(std::move(lr_scale)), o_(options) {
  o_.validate();
  if (lr_scale_.empty()) lr_scale_.assign(params_.size(), 1.0);
  if (lr_scale_.size() != params_.size()) {
    throw std::invalid_argument("Optimiser: " + std::to_string(lr_scale_.size()) + " learning-rate scales for " +
                                std::to_string(params_.size()) + " parameters");
  }
  for (const auto& p : params_) {
    // Zero momentum gives torch's first step (buffer = gradient) exactly.
    first_.push_back(at::zeros_like(p, at::MemoryFormat::Preserve));
    if (o_.optimiser != OptimiserKind::sgd) second_.push_back(at::zeros_like(p, at::MemoryFormat::Preserve));
  }
  param_steps_.assign(params_.size(), 0);
}

void Optimiser::zero_grad() {
  for (auto& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = Tensor();
  }
}

namespace {

struct StepCoefficients {
  double lr, wd, momentum, beta1, beta2, eps, bias1, bias2;
  bool nesterov, adamw;
};

// One pass over each parameter's elements instead of the six to ten whole-tensor
// operations above: the optimiser step is memory-bound, and at small image sizes it
// was a tenth of the step's time. Same formulas, in the parameter's precision.
template <class T, bool Momentum, bool Nesterov>
void fused_sgd(T* p, const T* g, T* m, int64_t n, const StepCoefficients& c) {
  const T lr = static_cast<T>(c.lr), wd = static_cast<T>(c.wd), mom = static_cast<T>(c.momentum);
  flux::parallel_for(0, n, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T d = g[i] + wd * p[i];
      if constexpr (Momentum) {
        m[i] = m[i] * mom + d;
        d = Nesterov ? d + mom * m[i] : m[i];
      }
      p[i] = p[i] - lr * d;
    }
  });
}

template <class T>
void fused_sgd(T* p, const T* g, T* m, int64_t n, const StepCoefficients& c) {
  if (c.momentum == 0) fused_sgd<T, false, false>(p, g, m, n, c);
  else if (c.nesterov) fused_sgd<T, true, true>(p, g, m, n, c);
  else fused_sgd<T, true, false>(p, g, m, n, c);
}

// (This file is compiled with -fno-math-errno so that the square roots vectorise.)
template <class T, bool AdamW>
void fused_adam(T* p, const T* g, T* m, T* v, int64_t n, const StepCoefficients& c) {
  const T b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2), eps = static_cast<T>(c.eps);
  const T decay = static_cast<T>(1 - c.lr * c.wd), wd = static_cast<T>(c.wd);
  const T step = static_cast<T>(-c.lr / c.bias1), root2 = static_cast<T>(std::sqrt(c.bias2));
  flux::parallel_for(0, n, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T gi = g[i];
      if constexpr (AdamW) p[i] = p[i] * decay;
      else gi = gi + wd * p[i];
      m[i] = m[i] * b1 + (T(1) - b1) * gi;
      v[i] = v[i] * b2 + (T(1) - b2) * gi * gi;
      p[i] = p[i] + step * (m[i] / (std::sqrt(v[i]) / root2 + eps));
    }
  });
}

template <class T>
void fused_adam(T* p, const T* g, T* m, T* v, int64_t n, const StepCoefficients& c) {
  if (c.adamw) fused_adam<T, true>(p, g, m, v, n, c);
  else fused_adam<T, false>(p, g, m, v, n, c);
}

bool fusable(const Tensor& p, const Tensor& g, const Tensor& m) {
  return p.device().is_cpu() && (p.scalar_type() == at::kFloat || p.scalar_type() == at::kDouble) &&
         p.is_contiguous() && g.is_contiguous() && m.is_contiguous() && g.scalar_type() == p.scalar_type() &&
         g.sizes() == p.sizes() && !g.is_sparse();
}

}  // namespace

void Optimiser::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double wd = o_.weight_decay;
  const StepCoefficients base{lr, wd, o_.momentum, o_.beta1, o_.beta2, o_.eps, 1, 1, o_.nesterov,
                              o_.optimiser == OptimiserKind::adamw};
  const bool sgd = o_.optimiser == OptimiserKind::sgd;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;  // frozen, or unused
    // Adam's bias correction counts this parameter's own steps, as torch's state["step"]
    // does: a backbone unfrozen late starts from step 1.
    const auto t = static_cast<double>(++param_steps_[i]);
    StepCoefficients c = base;
    c.lr = lr * lr_scale_[i];
    c.bias1 = 1 - std::pow(o_.beta1, t);
    c.bias2 = 1 - std::pow(o_.beta2, t);
    Tensor g = p.grad();
    if (fusable(p, g, first_[i]) && (sgd || second_[i].is_contiguous())) {
      AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "Optimiser::step", [&] {
        if (sgd) {
          fused_sgd(p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), first_[i].data_ptr<scalar_t>(), p.numel(), c);
        } else {
          fused_adam(p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), first_[i].data_ptr<scalar_t>(),
                     second_[i].data_ptr<scalar_t>(), p.numel(), c);
        }
      });
      continue;
    }
    if (sgd) {
      if (wd != 0) g = g.add(p, wd);
      if (o_.momentum != 0) {
        first_[i].mul_(o_.momentum).add_(g);
        g = o_.nesterov ? g.add(first_[i], o_.momentum) : first_[i];
      }
      p.add_(g, -c.lr);
    } else {
      if (c.adamw) p.mul_(1 - c.lr * wd);
      else if (wd != 0) g = g.add(p, wd);
      first_[i].mul_(o_.beta1).add_(g, 1 - o_.beta1);
      second_[i].mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
      const Tensor denom = (second_[i].sqrt() / std::sqrt(c.bias2)).add_(o_.eps);
      p.addcdiv_(first_[i], denom, -c.lr / c.bias1);
    }
  }
}

std::vector<std::pair<std::string, Tensor>> Optimiser::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  const bool sgd = o_.optimiser == OptimiserKind::sgd;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back((sgd ? "momentum." : "exp_avg.") + std::to_string(i), first_[i]);
    if (!sgd) out.emplace_back("exp_avg_sq." + std::to_string(i), second_[i]);
  }
  out.emplace_back("steps", at::scalar_tensor(steps_, at::kLong));
  if (!sgd) out.emplace_back("param_steps", at::tensor(param_steps_, at::kLong));
  return out;
}

void Optimiser::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  auto take = [&](const std::string& name, const Tensor& like) {
    auto it = by_name.find(name);
    if (it == by_name.end()) throw std::runtime_error("optimiser state: no " + name);
    if (it->second.sizes() != like.sizes()) throw std::runtime_error("optimiser state: " + name + " has the wrong shape");
    return it->second;
  };
  auto expected = this->state();
  const bool sgd = o_.optimiser == OptimiserKind::sgd;
  // A checkpoint from before per-parameter steps: every parameter took the global count.
  const bool per_param = by_name.count("param_steps") > 0;
  if (!sgd && !per_param) expected.pop_back();
  std::vector<Tensor> values;
  for (const auto& [name, t] : expected) values.push_back(take(name, t));  // check all before changing any
  if (by_name.size() != expected.size()) {
    throw std::runtime_error("optimiser state: " + std::to_string(by_name.size()) + " tensors, expected " +
                             std::to_string(expected.size()) + " (another optimiser or model?)");
  }
  torch::NoGradGuard no_grad;
  size_t k = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    first_[i].copy_(values[k++]);
    if (!sgd) second_[i].copy_(values[k++]);
  }
  steps_ = values[k++].item<int64_t>();
  if (sgd || !per_param) {
    param_steps_.assign(params_.size(), steps_);
  } else {
    const Tensor counts = values[k].contiguous();
    param_steps_.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  }
}

// ---- evaluation --------------------------------------------------------------------------

namespace {

at::ScalarType parameter_dtype(const Model& model) {
  for (const auto& p : model.ptr()->parameters()) {
    if (p.is_floating_point()) return p.scalar_type();
  }
  return at::kFloat;
}

}  // namespace

Evaluation evaluate(Model& model, data::DataLoader& loader, int64_t nclasses, ProcessGroup* group) {
  flux::testmode(*model.ptr());
  torch::NoGradGuard no_grad;
  Evaluation e;
  e.confusion = at::zeros({nclasses, nclasses}, at::kLong);
  double loss_sum = 0;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    const Tensor logits = model(batch->images.to(parameter_dtype(model)));
    if (logits.dim() != 2 || logits.size(1) != nclasses) {
      throw std::runtime_error("evaluate: the model gives " + flux::shape_string(logits) + " for " +
                               std::to_string(nclasses) + " classes");
    }
    loss_sum += at::cross_entropy_loss(logits, batch->labels, {}, at::Reduction::Sum).item<double>();
    const Tensor predicted = logits.argmax(1);
    e.confusion.view(-1).index_put_({batch->labels * nclasses + predicted}, at::ones_like(predicted), true);
    e.count += batch->labels.size(0);
  }
  if (group) {
    // One all-reduce of the counts, the loss and the confusion matrix (exact in doubles).
    Tensor all = at::cat({e.confusion.view(-1).to(at::kDouble),
                          at::tensor({loss_sum, static_cast<double>(e.count)}, at::kDouble)});
    group->all_reduce_sum(all);
    e.confusion = all.narrow(0, 0, nclasses * nclasses).round().to(at::kLong).view({nclasses, nclasses});
    loss_sum = all[nclasses * nclasses].item<double>();
    e.count = std::llround(all[nclasses * nclasses + 1].item<double>());
  }
  if (e.count == 0) throw std::runtime_error("evaluate: the data set is empty");
  const Tensor correct = e.confusion.diagonal();
  const Tensor per_class = e.confusion.sum(1);
  e.loss = loss_sum / static_cast<double>(e.count);
  e.accuracy = correct.sum().item<double>() / static_cast<double>(e.count);
  for (int64_t k = 0; k < nclasses; ++k) {
    const auto n = per_class[k].item<int64_t>();
    e.class_accuracy.push_back(n ? correct[k].item<double>() / static_cast<double>(n) : std::nan(""));
  }
  return e;
}

std::pair<std::vector<double>, std::vector<double>> channel_statistics(const Tensor& images) {
  if (images.dim() != 4 || images.size(0) == 0) throw std::invalid_argument("channel_statistics: expected [N, C, H, W]");
  std::vector<double> mean, stdv;
  for (int64_t c = 0; c < images.size(1); ++c) {
    const Tensor x = images.select(1, c).to(at::kDouble).div(255.0);
    mean.push_back(x.mean().item<double>());
    stdv.push_back(std::max(1e-6, x.std(/*unbiased=*/false).item<double>()));
  }
  return {mean, stdv};
}

// ---- the trainer ---------------------------------------------------------------------------

namespace {

data::Augment augment_of(const TrainOptions& o, const std::vector<double>& mean, const std::vector<double>& stdv) {
  return {.pad_crop = o.pad_crop, .hflip = o.hflip, .mean = mean, .std = stdv, .resize = o.image_size};
}

json history_json(const std::vector<MetricsRow>& rows) {
  json out = json::array();
  auto num = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  for (const auto& r : rows) {
    out.push_back({{"epoch", r.train.epoch},
                   {"lr", r.train.lr},
                   {"loss", r.train.loss},
                   {"accuracy", r.train.accuracy},
                   {"images_per_second", r.train.images_per_second},
                   {"seconds", r.train.seconds},
                   {"test_loss", num(r.test_loss)},
                   {"test_accuracy", num(r.test_accuracy)}});
  }
  return out;
}

std::vector<MetricsRow> history_from(const json& j) {
  std::vector<MetricsRow> rows;
  auto num = [](const json& x) { return x.is_null() ? std::nan("") : x.get<double>(); };
  for (const auto& r : j) {
    MetricsRow m;
    r.at("epoch").get_to(m.train.epoch);
    r.at("lr").get_to(m.train.lr);
    r.at("loss").get_to(m.train.loss);
    r.at("accuracy").get_to(m.train.accuracy);
    r.at("images_per_second").get_to(m.train.images_per_second);
    r.at("seconds").get_to(m.train.seconds);
    m.test_loss = num(r.at("test_loss"));
    m.test_accuracy = num(r.at("test_accuracy"));
    rows.push_back(m);
  }
  return rows;
}

}  // namespace

namespace {

bool has_backbone_split(const Model& model) {
  if (model->type_name == "UNet") return false;  // a dense predictor: its head is the decoder's last block
  try {
    metalhead::detail::logits_index(model);
    return !backbone(model)->parameters().empty();
  } catch (const std::invalid_argument&) {
    return false;
  }
}

// The backbone from options.weights; the logits layer stays as initialised.
void load_backbone(Model& model, const TrainOptions& o) {
  if (o.weights.empty()) return;
  // Weights files hold float32: a float64 model takes them as float32, then widens (in
  // place: the optimiser's tensors stay the model's).
  if (o.dtype == "float64") model->to(at::kFloat);
  load_weights(model, o.weights, {.keep = metalhead::detail::logits_tensor_names(model), .adapt_inchannels = true});
  if (o.dtype == "float64") model->to(at::kDouble);
}

}  // namespace

Trainer::Trainer(TrainOptions options, data::LabelledImages train)
    : Trainer(Model(nullptr), std::move(options), train, channel_statistics(train.images)) {
  load_backbone(model_, options_);
}

Trainer::Trainer(Model model, TrainOptions options, data::LabelledImages train)
    : Trainer(std::move(model), std::move(options), train, channel_statistics(train.images)) {
  load_backbone(model_, options_);
}

Trainer::Trainer(Model model, TrainOptions options, data::LabelledImages train, Statistics statistics)
    : options_(std::move(options)),
      classes_(train.classes),
      mean_(std::move(statistics.first)),
      std_(std::move(statistics.second)) {
  options_.validate();
  if (!train.images.defined() || train.images.dim() != 4 || train.images.size(0) == 0) {
    throw std::invalid_argument("Trainer: expected a non-empty [N, C, H, W] training set");
  }
  if (classes_.size() < 2) throw std::invalid_argument("Trainer: a classifier needs at least 2 classes");
  if (train.images.size(0) < options_.batch_size) {
    throw std::invalid_argument("Trainer: " + std::to_string(train.images.size(0)) +
                                " training images are fewer than one batch of " + std::to_string(options_.batch_size));
  }
  inchannels_ = train.images.size(1);
  input_size_ = options_.image_size.empty() ? std::vector<int64_t>{train.images.size(2), train.images.size(3)}
                                            : options_.image_size;
  // A batch that cannot fit is refused now, not by a failed allocation in a loader thread.
  {
    const int64_t p = options_.pad_crop;
    const double h = static_cast<double>(std::max(input_size_[0], train.images.size(2) + 2 * p));
    const double w = static_cast<double>(std::max(input_size_[1], train.images.size(3) + 2 * p));
    if (const std::string why = batch_memory_problem(options_.batch_size, inchannels_, h, w); !why.empty()) {
      throw std::invalid_argument("Trainer: " + why + " (smaller --batch-size, --image-size or --pad-crop)");
    }
  }
  torch::manual_seed(options_.seed);
  const auto nclasses = static_cast<int64_t>(classes_.size());
  if (model) {
    if (model->inchannels != inchannels_) {
      throw std::invalid_argument("Trainer: the " + model->type_name + " takes " + std::to_string(model->inchannels) +
                                  " channels, the data has " + std::to_string(inchannels_));
    }
    model_ = std::move(model);
  } else {
    // A family built for one image size is built for the data's (or --image-size's).
    const ModelInfo& info = model_info(options_.model);
    model_ = info.build({.inchannels = inchannels_, .nclasses = nclasses,
                         .imsize = info.takes_imsize() ? input_size_ : std::vector<int64_t>{}});
  }
  if (has_backbone_split(model_) && metalhead::detail::num_logits(model_) != nclasses) {
    throw std::invalid_argument("Trainer: the " + model_->type_name + " gives " +
                                std::to_string(metalhead::detail::num_logits(model_)) +
                                " logits, the data has " + std::to_string(nclasses) +
                                " classes (reset_classifier(model, " + std::to_string(nclasses) + ") gives it a new head)");
  }
  if ((options_.freeze_backbone || options_.head_lr_mult != 1.0) && !has_backbone_split(model_)) {
    throw std::invalid_argument("Trainer: the " + model_->type_name +
                                " has no backbone and classifier head to train apart (freeze-backbone, head-lr-mult)");
  }
  if (options_.dtype == "float64") model_->to(at::kDouble);
  // The head's parameters learn at head_lr_mult × lr.
  std::vector<Tensor> params = model_.ptr()->parameters();
  std::vector<double> scale(params.size(), 1.0);
  if (options_.head_lr_mult != 1.0) {
    for (const auto& h : classifier(model_)->parameters()) {
      for (size_t i = 0; i < params.size(); ++i) {
        if (params[i].is_same(h)) scale[i] = options_.head_lr_mult;
      }
    }
  }
  optimiser_ = std::make_unique<Optimiser>(params, options_, scale);
  loader_ = std::make_unique<data::DataLoader>(
      std::move(train), data::LoaderOptions{.batch_size = options_.batch_size,
                                            .shuffle = true,
                                            .seed = options_.seed,
                                            .workers = options_.workers,
                                            .drop_last = true,  // a batch of one breaks BatchNorm
                                            .augment = augment_of(options_, mean_, std_),
                                            .train = true});
}

std::unique_ptr<data::DataLoader> Trainer::test_loader(data::LabelledImages data, int64_t batch_size) const {
  if (data.images.size(1) != inchannels_) {
    throw std::invalid_argument("the test data has " + std::to_string(data.images.size(1)) +
                                " channels; the model was trained on " + std::to_string(inchannels_));
  }
  return std::make_unique<data::DataLoader>(
      std::move(data), data::LoaderOptions{.batch_size = batch_size,
                                           .workers = options_.workers,
                                           .augment = augment_of(options_, mean_, std_),
                                           .rank = group_ ? group_->rank() : 0,
                                           .world_size = group_ ? group_->world_size() : 1,
                                           .pad_shards = false});
}

Trainer::~Trainer() = default;

int64_t Trainer::distribute(std::shared_ptr<ProcessGroup> group, const DistributeOptions& d) {
  if (!group) throw std::invalid_argument("Trainer::distribute: no process group");
  if (group_) throw std::logic_error("Trainer::distribute: this run is already distributed");
  // Every rank must run the same training: options, data and model (DataParallel checks
  // the model's tensors).
  const json data{{"images", loader_->size()},
                  {"shape", loader_->data().images.sizes().vec()},
                  {"classes", classes_},
                  {"epoch", epoch_},
                  {"sync_batchnorm", d.sync_batchnorm}};
  group->check_same("training options", json(options_).dump(1));
  group->check_same("training data", data.dump(1));
  const int64_t w = group->world_size();
  const int64_t shard = (loader_->size() + w - 1) / w;
  if (shard < options_.batch_size) {
    throw std::invalid_argument("Trainer: each of the " + std::to_string(w) + " ranks gets " + std::to_string(shard) +
                                " of the " + std::to_string(loader_->size()) + " training images, fewer than one batch of " +
                                std::to_string(options_.batch_size) + " (--batch-size is per rank)");
  }
  const int64_t converted = d.sync_batchnorm ? convert_sync_batchnorm(model_, group) : 0;
  parallel_ = std::make_unique<DataParallel>(model_, group, d.data_parallel);
  data::LabelledImages images = loader_->data();
  data::LoaderOptions lo = loader_->options();
  lo.rank = group->rank();
  lo.world_size = w;
  loader_.reset();
  loader_ = std::make_unique<data::DataLoader>(std::move(images), lo);
  group_ = std::move(group);
  return converted;
}

double Trainer::communication_wait_seconds() const {
  return parallel_ ? parallel_->communication_wait_seconds() : 0.0;
}

void Trainer::set_frozen() {
  if (!options_.freeze_backbone) return;
  const bool frozen = options_.unfreeze_after == 0 || epoch_ < options_.unfreeze_after;
  for (auto& p : backbone(model_)->parameters()) p.requires_grad_(!frozen);
}

EpochMetrics Trainer::train_epoch(const std::function<void(const Progress&)>& progress) {
  using clock = std::chrono::steady_clock;
  set_frozen();
  flux::trainmode(*model_.ptr());
  loader_->start_epoch(epoch_);
  const int64_t batches = loader_->batches_per_epoch();
  const auto t0 = clock::now();
  double loss_sum = 0, lr = 0;
  int64_t correct = 0, seen = 0, b = 0;
  while (auto batch = loader_->next()) {
    const int64_t n = batch->labels.size(0);
    // The schedule's value at the middle of the step (by epoch, so that a run resumed
    // with another world size, and so other batches per epoch, keeps its schedule).
    lr = learning_rate(options_, static_cast<double>(epoch_) + (static_cast<double>(b) + 0.5) / static_cast<double>(batches));
    optimiser_->zero_grad();
    const Tensor images = options_.dtype == "float64" ? batch->images.to(at::kDouble) : batch->images;
    const Tensor logits = parallel_ ? (*parallel_)(images) : model_(images);
    const Tensor loss = at::cross_entropy_loss(logits, batch->labels, {}, at::Reduction::Mean, -100,
                                               options_.label_smoothing);
    loss.backward();
    optimiser_->step(lr);
    const double l = loss.item<double>();
    if (!std::isfinite(l)) {
      throw std::runtime_error("training diverged: the loss is " + std::to_string(l) + " at epoch " +
                               std::to_string(epoch_ + 1) + ", batch " + std::to_string(b + 1) +
                               " (try a smaller learning rate)");
    }
    loss_sum += l * static_cast<double>(n);
    correct += logits.argmax(1).eq(batch->labels).sum().item<int64_t>();
    seen += n;
    ++b;
    if (progress) {
      const double s = std::chrono::duration<double>(clock::now() - t0).count();
      progress({.epoch = epoch_ + 1,
                .batch = b,
                .batches = batches,
                .loss = loss_sum / static_cast<double>(seen),
                .accuracy = static_cast<double>(correct) / static_cast<double>(seen),
                .images_per_second = static_cast<double>(seen) / s,
                .lr = lr,
                .seconds = s});
    }
  }
  ++epoch_;
  if (group_) {
    // Every rank reports the whole group's figures.
    Tensor sums = at::tensor({loss_sum, static_cast<double>(correct), static_cast<double>(seen)}, at::kDouble);
    group_->all_reduce_sum(sums);
    loss_sum = sums[0].item<double>();
    correct = std::llround(sums[1].item<double>());
    seen = std::llround(sums[2].item<double>());
  }
  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
  EpochMetrics m{.epoch = epoch_,
                 .lr = lr,
                 .loss = loss_sum / static_cast<double>(seen),
                 .accuracy = static_cast<double>(correct) / static_cast<double>(seen),
                 .images_per_second = static_cast<double>(seen) / seconds,
                 .seconds = seconds};
  history_.push_back({.train = m});
  return m;
}

const std::vector<MetricsRow>& Trainer::fit(const FitOptions& f) {
  const int64_t last = f.stop_after > 0 ? std::min(options_.epochs, epoch_ + f.stop_after) : options_.epochs;
  const std::string title = f.title.empty() ? options_.model + " on " + options_.data : f.title;
  const auto nclasses = static_cast<int64_t>(classes_.size());
  while (epoch_ < last) {
    train_epoch(f.progress);
    if (f.test) record_test(evaluate(model_, *f.test, nclasses, group_.get()));
    if (!f.run_dir.empty() && writes_files()) {
      save(f.run_dir / "checkpoint.safetensors");
      write_metrics_csv(f.run_dir / "metrics.csv", history_);
      write_metrics_svg(f.run_dir / "metrics.svg", history_, title);
    }
    if (f.epoch_done) f.epoch_done(history_.back());
  }
  return history_;
}

void Trainer::record_test(const Evaluation& e) {
  if (history_.empty()) throw std::logic_error("Trainer::record_test: no epoch trained yet");
  history_.back().test_loss = e.loss;
  history_.back().test_accuracy = e.accuracy;
}

void Trainer::save(const std::filesystem::path& path) const {
  auto tensors = named_tensors(model_);
  // Never replace a checkpoint with one that cannot be used (a learning rate of 1e39, say,
  // is finite as a double and infinite as a float): the previous checkpoint stays.
  for (const auto& [name, t] : tensors) {
    if (t.is_floating_point() && !at::isfinite(t).all().item<bool>()) {
      throw std::runtime_error("training diverged: " + name + " is not finite after epoch " + std::to_string(epoch_) +
                               "; not saving it over " + path.string() + " (try a smaller learning rate)");
    }
  }
  for (auto& [name, t] : optimiser_->state()) tensors.emplace_back(kOptimiserPrefix + name, t);
  {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    tensors.emplace_back(kRngName, generator.get_state());
  }
  const json meta{{"model", options_.model},
                  {"inchannels", inchannels_},
                  {"input_size", input_size_},
                  {"classes", classes_},
                  {"mean", mean_},
                  {"std", std_},
                  {"epoch", epoch_},
                  {"options", options_},
                  {"history", history_json(history_)}};
  weights::write_safetensors(path, tensors, {{"format", "pt"}, {kMetaKey, meta.dump()}});
}

namespace {

// The run's metadata of a checkpoint file, parsed; throws when the file is not one.
json checkpoint_meta(const weights::Safetensors& file, const std::filesystem::path& path) {
  auto it = file.metadata.find(kMetaKey);
  if (it == file.metadata.end()) {
    throw NotACheckpoint(path.string() + ": not a checkpoint of `metalhead train` (no " + kMetaKey +
                             " metadata); for other weights use --model NAME --weights FILE");
  }
  try {
    return json::parse(it->second);
  } catch (const json::exception& e) {
    throw std::runtime_error(path.string() + ": damaged checkpoint metadata: " + e.what());
  }
}

CheckpointInfo info_from(const json& j, const std::filesystem::path& path) {
  try {
    CheckpointInfo info;
    j.at("model").get_to(info.model);
    j.at("inchannels").get_to(info.inchannels);
    j.at("classes").get_to(info.classes);
    j.at("mean").get_to(info.mean);
    j.at("std").get_to(info.std);
    j.at("epoch").get_to(info.epoch);
    info.options = j.at("options").get<TrainOptions>();
    j.at("input_size").get_to(info.input_size);
    return info;
  } catch (const json::exception& e) {
    throw std::runtime_error(path.string() + ": damaged checkpoint metadata: " + e.what());
  }
}

}  // namespace

std::string batch_memory_problem(int64_t batch, int64_t channels, double height, double width) {
  const double bytes = 4.0 * static_cast<double>(batch) * static_cast<double>(channels) * height * width;
  const double memory = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (bytes <= memory / 4) return "";
  char text[256];
  std::snprintf(text, sizeof text,
                "a batch of %lld images of %lld × %.0f × %.0f floats needs %.1f GB, more than a quarter of this "
                "machine's %.1f GB",
                static_cast<long long>(batch), static_cast<long long>(channels), height, width, bytes / 1e9, memory / 1e9);
  return text;
}

CheckpointInfo checkpoint_info(const std::filesystem::path& path) {
  return info_from(checkpoint_meta(weights::read_safetensors(path), path), path);
}

std::unique_ptr<Trainer> Trainer::resume(const std::filesystem::path& checkpoint, data::LabelledImages train,
                                         int64_t epochs) {
  return resume(checkpoint, Model(nullptr), std::move(train), epochs);
}

std::unique_ptr<Trainer> Trainer::resume(const std::filesystem::path& checkpoint, Model model, data::LabelledImages train,
                                         int64_t epochs) {
  const weights::Safetensors file = weights::read_safetensors(checkpoint);
  const json meta = checkpoint_meta(file, checkpoint);
  const CheckpointInfo info = info_from(meta, checkpoint);
  if (train.classes != info.classes) {
    throw std::invalid_argument(checkpoint.string() + ": the checkpoint was trained on " +
                                std::to_string(info.classes.size()) + " other classes (" + info.classes.front() +
                                ", ...) than this data (" + std::to_string(train.classes.size()) + " classes, " +
                                train.classes.front() + ", ...)");
  }
  if (train.images.size(1) != info.inchannels) {
    throw std::invalid_argument(checkpoint.string() + ": the checkpoint's model takes " +
                                std::to_string(info.inchannels) + " channels, the data has " +
                                std::to_string(train.images.size(1)));
  }
  TrainOptions o = info.options;
  if (epochs > 0) o.epochs = epochs;
  if (info.epoch >= o.epochs) {
    throw std::invalid_argument(checkpoint.string() + ": already trained " + std::to_string(info.epoch) +
                                " of " + std::to_string(o.epochs) + " epochs (give more --epochs to continue)");
  }
  std::unique_ptr<Trainer> t(new Trainer(std::move(model), o, std::move(train), {info.mean, info.std}));
  load_weights(t->model_, file.tensors, checkpoint.string(), {.naming = Naming::metalhead});
  std::vector<std::pair<std::string, Tensor>> state;
  Tensor rng;
  for (const auto& [name, tensor] : file.tensors) {
    if (name.rfind(kOptimiserPrefix, 0) == 0) state.emplace_back(name.substr(kOptimiserPrefix.size()), tensor);
    if (name == kRngName) rng = tensor;
  }
  try {
    t->optimiser_->load_state(state);
  } catch (const std::exception& e) {
    throw std::runtime_error(checkpoint.string() + ": " + e.what());
  }
  if (!rng.defined()) throw std::runtime_error(checkpoint.string() + ": no " + kRngName + " (not a training checkpoint)");
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng.clone());
  }
  t->epoch_ = info.epoch;
  t->history_ = history_from(meta.at("history"));
  return t;
}

Checkpoint load_checkpoint(const std::filesystem::path& path, const std::string& expect_model) {
  weights::Safetensors file = weights::read_safetensors(path);
  CheckpointInfo info = info_from(checkpoint_meta(file, path), path);
  if (!expect_model.empty() && model_info(expect_model).name != model_info(info.model).name) {
    throw std::invalid_argument(path.string() + ": a checkpoint of " + info.model + ", not of " + expect_model);
  }
  const ModelInfo& row = model_info(info.model);
  Model m = row.build({.inchannels = info.inchannels, .nclasses = static_cast<int64_t>(info.classes.size()),
                       .imsize = row.takes_imsize() ? info.input_size : std::vector<int64_t>{}});
  // A float64 run's weights, for float32 inference.
  for (auto& [name, t] : file.tensors) {
    if (t.is_floating_point() && t.scalar_type() != at::kFloat) t = t.to(at::kFloat);
  }
  load_weights(m, std::move(file.tensors), path.string(), {.naming = Naming::metalhead});
  flux::testmode(*m.ptr());
  return {std::move(m), std::move(info)};
}

Model load_checkpoint_model(const std::filesystem::path& path, const std::string& expect_model) {
  return load_checkpoint(path, expect_model).model;
}

RunFolderLock::RunFolderLock(const std::filesystem::path& dir) {
  const auto path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) throw std::runtime_error("cannot write to the run folder " + dir.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char pid[32] = {};
    [[maybe_unused]] auto n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (error == EWOULDBLOCK) {
      throw std::runtime_error("another training (process " + std::string(pid) + ") is writing to " + dir.string() +
                               "; wait for it to end, or choose another --output");
    }
    throw std::runtime_error("cannot lock the run folder " + dir.string() + ": " + std::strerror(error));
  }
  const std::string me = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot write to the run folder " + dir.string() + ": " + std::strerror(errno));
  }
}

RunFolderLock::~RunFolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

}  // namespace metalhead::train
