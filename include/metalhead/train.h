// train.h — training a registry model on an image classification data set, with
// checkpoints that resume exactly.
//
//   metalhead::train::TrainOptions o{.model = "resnet18", .epochs = 3};
//   metalhead::train::Trainer t(o, data::fashion_mnist(data::Split::train));
//   auto test = t.test_loader(data::fashion_mnist(data::Split::test));
//   t.fit({.run_dir = "run", .test = test.get()});     // train, evaluate, save every epoch
//   // or by hand: while (t.epoch() < o.epochs) { t.train_epoch(); t.save("run/checkpoint.safetensors"); }
//
// Any Model trains: Trainer(my_model, options, data), with options.weights for a
// pretrained backbone (fine-tuning).
//
// Data-parallel: every rank builds the same Trainer, then t.distribute(group) (see
// distributed.h); each rank trains on its shard with gradients averaged, and fit() writes
// files on rank 0 only.
//
// Exactness: a Trainer restored from a checkpoint (Trainer::resume) continues with the same
// weights, optimiser state, schedule position, data order and random numbers an
// uninterrupted run has at that point, so with the same seed and thread count the final
// weights are bit-identical.
#pragma once

#include <metalhead/data/loader.h>
#include <metalhead/distributed.h>
#include <metalhead/model.h>

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace metalhead::train {

enum class OptimiserKind { sgd, adam, adamw };
enum class ScheduleKind { constant, cosine, step };

OptimiserKind optimiser_kind(const std::string& name);  // "sgd", "adam", "adamw"
ScheduleKind schedule_kind(const std::string& name);    // "constant", "cosine", "step"
std::string to_string(OptimiserKind kind);
std::string to_string(ScheduleKind kind);

/// The largest image side (and crop padding) that training accepts.
inline constexpr int64_t kMaxImageSide = 8192;

struct TrainOptions {
  std::string model = "resnet18";
  int64_t epochs = 3;
  int64_t batch_size = 128;
  OptimiserKind optimiser = OptimiserKind::sgd;
  double lr = 0.1;
  double momentum = 0.9;        // SGD only
  bool nesterov = false;        // SGD only
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam and AdamW
  double weight_decay = 5e-4;   // L2 for SGD and Adam, decoupled for AdamW
  ScheduleKind schedule = ScheduleKind::cosine;
  double warmup_epochs = 0;     // linear from lr / (steps of warm-up) up to lr
  int64_t step_size = 30;       // step schedule: epochs between decays
  double gamma = 0.1;           // step schedule: the decay factor
  double label_smoothing = 0;
  uint64_t seed = 0;
  int workers = 2;              // data-loading threads
  int64_t pad_crop = 0;         // random crop with this much zero padding
  bool hflip = false;           // random horizontal flips
  std::vector<int64_t> image_size;  // resize images to [H, W] (empty: as they are)
  std::string data = "fashion-mnist";       // what the run trains on (recorded for --resume)
  std::string test_data = "fashion-mnist";  // evaluated after each epoch ("": none)
  int64_t limit = 0;                   // only the first `limit` training images (0: all)
  // Fine-tuning: the backbone from `weights` (any file load_weights reads; the logits
  // layer stays new, sized to the data's classes), frozen for `unfreeze_after` epochs
  // (0: the whole run) with freeze_backbone, and the head at head_lr_mult × lr.
  std::string weights;
  bool freeze_backbone = false;
  int64_t unfreeze_after = 0;
  double head_lr_mult = 1.0;
  // "float32", or "float64": weights, gradients and optimiser state in double precision
  // (exactness checks: reduction order then changes results by ~1e-15, not ~1e-6).
  std::string dtype = "float32";

  /// Throws std::invalid_argument for contradictions (momentum with Adam, warm-up longer
  /// than the run, ...), naming the options.
  void validate() const;
};

void to_json(nlohmann::json& j, const TrainOptions& o);
void from_json(const nlohmann::json& j, TrainOptions& o);

/// The learning rate after `progress` epochs (fractional) of `total_epochs`: linear warm-up,
/// then constant, cosine (to zero at the end) or step decay.
double learning_rate(const TrainOptions& o, double progress);

/// SGD (with momentum, Nesterov), Adam and AdamW as torch.optim defines them (weight decay
/// added to the gradient for SGD and Adam, applied to the weights for AdamW).
class Optimiser {
 public:
  /// `lr_scale` (empty: all 1) multiplies each parameter's learning rate (a head's).
  Optimiser(std::vector<Tensor> parameters, const TrainOptions& options, std::vector<double> lr_scale = {});
  void zero_grad();
  void step(double lr);
  int64_t steps() const { return steps_; }
  /// The state as named tensors ("momentum.3", "exp_avg.3", "exp_avg_sq.3", "steps", and
  /// Adam's "param_steps"), and back.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  std::vector<Tensor> params_;
  std::vector<double> lr_scale_;
  TrainOptions o_;
  std::vector<Tensor> first_, second_;  // momentum / exp_avg, and exp_avg_sq
  int64_t steps_ = 0;
  std::vector<int64_t> param_steps_;    // Adam's per-parameter step counts
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based: the epoch just finished
  double lr = 0;      // at the end of the epoch
  double loss = 0, accuracy = 0;
  double images_per_second = 0, seconds = 0;
};

/// One epoch's line of the metrics: training, and the test set's (NaN when not evaluated).
struct MetricsRow {
  EpochMetrics train;
  double test_loss = std::numeric_limits<double>::quiet_NaN();
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// What the progress bar shows after each batch.
struct Progress {
  int64_t epoch = 0, batch = 0, batches = 0;
  double loss = 0, accuracy = 0, images_per_second = 0, lr = 0;
  double seconds = 0;  // since the epoch began
};

/// How a model does on a labelled data set.
struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
  std::vector<double> class_accuracy;  // per class (NaN for a class with no examples)
  Tensor confusion;                    // [classes, classes] int64: true label × predicted
};

/// evaluate(model, loader): cross-entropy and accuracy in test mode, without gradients.
/// With a group, each rank evaluates its loader's shard and the counts are summed, so that
/// every rank returns the whole data set's figures.
Evaluation evaluate(Model& model, data::DataLoader& loader, int64_t nclasses, ProcessGroup* group = nullptr);

/// Per-channel mean and standard deviation of [N, C, H, W] uint8 images, on [0, 1].
std::pair<std::vector<double>, std::vector<double>> channel_statistics(const Tensor& images);

/// What Trainer::fit does around the epochs.
struct FitOptions {
  /// Gets checkpoint.safetensors, metrics.csv and metrics.svg after every epoch (each
  /// written atomically); empty: nothing is written.
  std::filesystem::path run_dir;
  data::DataLoader* test = nullptr;  // evaluated after every epoch (its loss and accuracy recorded)
  int64_t stop_after = 0;            // run at most this many epochs now (0: to options().epochs)
  std::string title;                 // the chart's (default: "MODEL on DATA")
  std::function<void(const Progress&)> progress;           // after every batch
  std::function<void(const MetricsRow&)> epoch_done;       // after every epoch, once saved
};

/// How a Trainer joins a data-parallel group.
struct DistributeOptions {
  bool sync_batchnorm = false;  // batch statistics over the whole group (SyncBatchNorm)
  DataParallelOptions data_parallel;
};

class Trainer {
 public:
  /// A fresh run: builds options.model for the data's channels and classes, seeded, and
  /// loads options.weights into it.
  Trainer(TrainOptions options, data::LabelledImages train);
  /// A fresh run of `model` (any Model: a registry one, a high-level type, your own
  /// Chain), which must take the data's channels and give one logit per class.
  /// options.model only names it in the checkpoint; resuming needs the same model again.
  Trainer(Model model, TrainOptions options, data::LabelledImages train);
  /// Continues the run saved in `checkpoint`; `epochs` > 0 changes the total. The data
  /// must have the checkpoint's classes.
  static std::unique_ptr<Trainer> resume(const std::filesystem::path& checkpoint, data::LabelledImages train,
                                         int64_t epochs = 0);
  /// The same for a run of a model not built from a registry name: `model` must have
  /// the checkpoint's architecture.
  static std::unique_ptr<Trainer> resume(const std::filesystem::path& checkpoint, Model model, data::LabelledImages train,
                                         int64_t epochs = 0);

  ~Trainer();

  /// Makes this run one rank of `group`'s data-parallel training, before its first epoch
  /// (or after resume): every rank must call it with the same options, model and data,
  /// which it checks. Each rank then takes its DistributedSampler shard of every epoch
  /// (batch_size per rank), rank 0's weights go to all, and gradients are averaged.
  /// Returns the number of BatchNorms made synchronous (sync_batchnorm).
  int64_t distribute(std::shared_ptr<ProcessGroup> group, const DistributeOptions& options = {});
  /// The group (null when not distributed); rank 0 (or a lone process) writes the files.
  const std::shared_ptr<ProcessGroup>& group() const { return group_; }
  bool writes_files() const { return !group_ || group_->rank() == 0; }
  /// Seconds this rank has waited for gradient all-reduces after backward, in all.
  double communication_wait_seconds() const;

  /// One epoch; `progress` (if set) is called after every batch.
  EpochMetrics train_epoch(const std::function<void(const Progress&)>& progress = {});
  /// The epoch loop: train, evaluate, save, report, until options().epochs (or
  /// stop_after more); returns the history. `metalhead train` is this and its printing.
  /// Distributed, only rank 0 writes run_dir's files; every rank reports the same metrics.
  const std::vector<MetricsRow>& fit(const FitOptions& options = {});
  /// Writes model, optimiser, schedule position, RNG state, epoch, options and history
  /// to `path` atomically (a temporary file renamed over it).
  void save(const std::filesystem::path& path) const;

  int64_t epoch() const { return epoch_; }
  const TrainOptions& options() const { return options_; }
  Model& model() { return model_; }
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<int64_t>& input_size() const { return input_size_; }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return std_; }
  /// Every epoch's metrics so far (kept in checkpoints); record_test adds the test
  /// set's to the last epoch.
  const std::vector<MetricsRow>& history() const { return history_; }
  void record_test(const Evaluation& e);
  /// A loader over other data with this run's preprocessing (no augmentation); this
  /// rank's unpadded shard when distributed.
  std::unique_ptr<data::DataLoader> test_loader(data::LabelledImages data, int64_t batch_size = 256) const;

 private:
  using Statistics = std::pair<std::vector<double>, std::vector<double>>;  // mean, std
  Trainer(Model model, TrainOptions options, data::LabelledImages train, Statistics statistics);
  void set_frozen();  // the backbone's requires_grad for the epoch about to run
  TrainOptions options_;
  std::vector<std::string> classes_;
  std::vector<double> mean_, std_;
  int64_t inchannels_ = 0;
  std::vector<int64_t> input_size_;
  Model model_{nullptr};
  std::unique_ptr<Optimiser> optimiser_;
  std::unique_ptr<data::DataLoader> loader_;
  int64_t epoch_ = 0;
  std::vector<MetricsRow> history_;
  std::shared_ptr<ProcessGroup> group_;
  std::unique_ptr<DataParallel> parallel_;
};

/// What a checkpoint says about its run (its safetensors metadata), without the tensors.
struct CheckpointInfo {
  std::string model;
  int64_t inchannels = 0, epoch = 0;
  std::vector<std::string> classes;
  std::vector<double> mean, std;
  std::vector<int64_t> input_size;  // [H, W] the model was trained at
  TrainOptions options;
};

/// Empty when a float batch of batch × channels × height × width takes at most a quarter of
/// this machine's memory; otherwise a message saying what it needs. Trainer and the CLI
/// refuse such a batch up front rather than fail inside an allocation.
std::string batch_memory_problem(int64_t batch, int64_t channels, double height, double width);

/// Thrown for a readable safetensors file that `metalhead train` did not write (no run
/// metadata): other weights, which need a model named by the caller.
struct NotACheckpoint : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Reads the metadata of a checkpoint `metalhead train` wrote; throws NotACheckpoint naming
/// the file when it is not one.
CheckpointInfo checkpoint_info(const std::filesystem::path& path);

/// A checkpoint's model, built and loaded (test mode), and its run, from one read of the file.
struct Checkpoint {
  Model model{nullptr};
  CheckpointInfo info;
};

/// `expect_model` (if not empty) must be the checkpoint's model.
Checkpoint load_checkpoint(const std::filesystem::path& path, const std::string& expect_model = "");

/// load_checkpoint(path, expect_model).model
Model load_checkpoint_model(const std::filesystem::path& path, const std::string& expect_model = "");

/// Metrics as CSV, and as an SVG chart of loss and accuracy per epoch (both atomic).
void write_metrics_csv(const std::filesystem::path& path, const std::vector<MetricsRow>& rows);
void write_metrics_svg(const std::filesystem::path& path, const std::vector<MetricsRow>& rows, const std::string& title);

/// A run folder held by one writer: an flock'd `.lock` file inside it. A second training
/// into the same folder (at once) is refused with a clear message; the lock ends with the
/// process, however it ends. Creating the lock also proves the folder is writable.
class RunFolderLock {
 public:
  explicit RunFolderLock(const std::filesystem::path& dir);
  ~RunFolderLock();
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace metalhead::train
