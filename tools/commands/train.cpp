// train.cpp — `metalhead train`: a registry model on Fashion-MNIST or an image folder,
// with a progress bar, per-epoch metrics (CSV and SVG chart) and atomic checkpoints.
#include "../cli.h"

#include <metalhead/atomic_file.h>
#include <metalhead/data/images.h>
#include <metalhead/registry.h>
#include <metalhead/train.h>
#include <metalhead/weights.h>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include <unistd.h>

namespace cli {

namespace fs = std::filesystem;
using nlohmann::json;
namespace mt = metalhead::train;

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * x);
  return buf;
}

void set_threads(int threads) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (threads > 4 * cores) {
    throw CLI::ValidationError("--threads " + std::to_string(threads) + " is more than 4 × this machine's " +
                               std::to_string(cores) + " cores");
  }
  at::set_num_threads(threads > 0 ? threads : cores);
}

void check_input(const std::vector<int64_t>& hw, int64_t batch, int64_t channels) {
  if (hw.size() != 2 || hw[0] < 1 || hw[1] < 1 || hw[0] > metalhead::train::kMaxImageSide ||
      hw[1] > metalhead::train::kMaxImageSide) {
    throw CLI::ValidationError("--input-size must be two numbers H W from 1 to " +
                               std::to_string(metalhead::train::kMaxImageSide));
  }
  const std::string why = metalhead::train::batch_memory_problem(batch, channels, static_cast<double>(hw[0]),
                                                                 static_cast<double>(hw[1]));
  if (!why.empty()) throw CLI::ValidationError(why);
}

metalhead::data::LabelledImages load_data(const std::string& data, metalhead::data::Split split,
                                          const std::vector<int64_t>& size, int64_t channels, int64_t limit) {
  metalhead::data::LabelledImages d =
      data == "fashion-mnist" ? metalhead::data::fashion_mnist(split)
                              : metalhead::data::image_folder(data, {.size = size, .channels = channels});
  if (limit > 0 && limit < d.labels.size(0)) {
    d.images = d.images.narrow(0, 0, limit);
    d.labels = d.labels.narrow(0, 0, limit);
  }
  return d;
}

namespace {

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

// One line on a terminal, redrawn in place; nothing at all elsewhere.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  // `epochs`: the run's total; `last`: the epoch this invocation stops after (the ETA's end).
  void update(const mt::Progress& p, int64_t epochs, int64_t last) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (p.batch != p.batches && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const int width = 24;
    const int filled = static_cast<int>(width * p.batch / std::max<int64_t>(1, p.batches));
    const int64_t remaining = p.batches - p.batch + (last - p.epoch) * p.batches;
    const double eta = p.seconds / static_cast<double>(std::max<int64_t>(1, p.batch)) * static_cast<double>(remaining);
    char line[256];
    std::snprintf(line, sizeof line, "\r\033[Kepoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  acc %s  %.0f img/s  ETA %s",
                  static_cast<long long>(p.epoch), static_cast<long long>(epochs), std::string(filled, '#').c_str(),
                  std::string(width - filled, '.').c_str(), static_cast<long long>(p.batch),
                  static_cast<long long>(p.batches), p.loss, percent(p.accuracy).c_str(), p.images_per_second,
                  clock_text(eta).c_str());
    std::cerr << line << std::flush;
  }
  void finish() {
    if (enabled_) std::cerr << "\r\033[K" << std::flush;
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point last_{};
};

std::string default_run_dir(const std::string& model) {
  const std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + model + "-" + stamp;
}

struct Args {
  mt::TrainOptions o;
  std::string output, resume;
  int threads = 0;
  int64_t stop_after = 0;
  bool quiet = false, json = false;
  bool pretrained = false;
  EngineFlags engine;  // --device only
  // Data-parallel training.
  int nproc_per_node = 0, master_port = 29500, timeout = 1800;
  std::string dist_backend;  // default: gloo on CPU, nccl on CUDA
  bool sync_batchnorm = false;
};

// This process's group when torchrun (or --nproc-per-node) started it as one rank.
std::shared_ptr<mt::ProcessGroup> join_group(const Args& a) {
  auto env = mt::distributed_environment();
  if (!env) return nullptr;
  env->backend = !a.dist_backend.empty() ? a.dist_backend : a.engine.device == "cuda" ? "nccl" : "gloo";
  env->timeout = std::chrono::seconds(a.timeout);
  return std::make_shared<mt::ProcessGroup>(*env);
}

// The options a resumed run takes from its checkpoint: giving any of them contradicts it.
const char* const kRunOptions[] = {"--model",   "--data",           "--batch-size",    "--optimiser", "--lr",
                                   "--momentum", "--nesterov",      "--weight-decay",  "--schedule",  "--warmup-epochs",
                                   "--step-size", "--gamma", "--test-data",        "--label-smoothing", "--seed",    "--pad-crop",
                                   "--hflip",    "--image-size",    "--limit",         "--beta1",     "--beta2",
                                   "--weights",  "--pretrained",    "--freeze-backbone", "--unfreeze-after",
                                   "--head-lr-mult", "--dtype"};

void run(const Args& a, CLI::App* cmd) {
  auto given = [&](const char* name) { return cmd->count(name) > 0; };
  mt::TrainOptions o = a.o;
  // Joined first: an unreachable master fails before the data loads. Only rank 0 (or a
  // lone process) makes, locks and writes the run folder, and prints.
  const std::shared_ptr<mt::ProcessGroup> group = join_group(a);
  const bool writer = !group || group->rank() == 0;
  const bool quiet = a.quiet || !writer, json_lines = a.json && writer;
  std::unique_ptr<mt::Trainer> trainer;
  fs::path dir;
  std::optional<mt::RunFolderLock> lock;  // held to the end: one writer per run folder
  if (!a.resume.empty()) {
    for (const char* name : kRunOptions) {
      if (given(name)) {
        throw CLI::ValidationError(std::string(name) + " contradicts --resume: a resumed run keeps the options "
                                   "of its checkpoint (only --epochs, --threads, --workers and the output flags "
                                   "may change)");
      }
    }
    if (given("--output")) throw CLI::ValidationError("--output contradicts --resume: the run's folder is the one resumed");
    fs::path ckpt = a.resume;
    if (fs::is_directory(ckpt)) ckpt /= "checkpoint.safetensors";
    if (!fs::exists(ckpt)) throw std::runtime_error("--resume: no checkpoint " + ckpt.string());
    dir = ckpt.parent_path().empty() ? fs::path(".") : ckpt.parent_path();
    if (writer) {
      lock.emplace(dir);
      metalhead::remove_stale_temporaries(dir);
    }
    const mt::CheckpointInfo info = mt::checkpoint_info(ckpt);
    o = info.options;
    trainer = mt::Trainer::resume(ckpt,
                                  load_data(o.data, metalhead::data::Split::train, o.image_size, info.inchannels, o.limit),
                                  given("--epochs") ? a.o.epochs : 0);
    o = trainer->options();
  } else {
    // An image folder has no test set unless one is named.
    if (!given("--test-data") && o.data != "fashion-mnist") o.test_data.clear();
    // Options for one optimiser or schedule given with another contradict it.
    if (o.optimiser != mt::OptimiserKind::sgd && (given("--momentum") || given("--nesterov"))) {
      throw CLI::ValidationError("--momentum and --nesterov are SGD's; --optimiser is " + mt::to_string(o.optimiser));
    }
    if (o.optimiser == mt::OptimiserKind::sgd && (given("--beta1") || given("--beta2"))) {
      throw CLI::ValidationError("--beta1 and --beta2 are Adam's; --optimiser is sgd");
    }
    if (o.schedule != mt::ScheduleKind::step && (given("--step-size") || given("--gamma"))) {
      throw CLI::ValidationError("--step-size and --gamma belong to --schedule step; --schedule is " +
                                 mt::to_string(o.schedule));
    }
    if (a.pretrained && !o.weights.empty()) throw CLI::ValidationError("--pretrained and --weights each name the weights: give one");
    try {
      o.validate();
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError(e.what());
    }
    metalhead::model_info(o.model);  // an unknown model fails before the data loads
    if (a.pretrained) o.weights = metalhead::pretrained_weights_path(metalhead::model_info(o.model).name).string();
    if (!o.weights.empty() && !fs::is_regular_file(o.weights)) {
      throw std::runtime_error("--weights " + o.weights + ": no such file");
    }
    dir = a.output.empty() ? default_run_dir(metalhead::model_info(o.model).name) : a.output;
    auto refuse_existing = [&] {
      if (fs::exists(dir / "checkpoint.safetensors")) {
        throw std::runtime_error(dir.string() + " already holds a run (checkpoint.safetensors); continue it with --resume " +
                                 dir.string() + " or choose another --output");
      }
    };
    auto make_trainer = [&] {
      trainer = std::make_unique<mt::Trainer>(o, load_data(o.data, metalhead::data::Split::train, o.image_size, 0, o.limit));
    };
    if (!writer) {
      make_trainer();
    } else {
      refuse_existing();
      // The folder is made and locked first: an unwritable --output fails now, not after an epoch.
      const bool created = !fs::exists(dir);
      fs::create_directories(dir);
      try {
        lock.emplace(dir);
        refuse_existing();  // another run may have saved meanwhile
        metalhead::remove_stale_temporaries(dir);
        make_trainer();
      } catch (...) {
        if (created) {
          std::error_code ec;
          lock.reset();
          fs::remove(dir / ".lock", ec);
          fs::remove(dir, ec);  // only when empty
        }
        throw;
      }
    }
  }
  if (group) {
    const int64_t synced = trainer->distribute(group, {.sync_batchnorm = a.sync_batchnorm});
    if (a.sync_batchnorm && synced == 0 && writer) {
      std::cerr << "metalhead train: warning: --sync-batchnorm: the " << o.model
                << " has no BatchNorm; there are no batch statistics to synchronise" << std::endl;
    }
  } else if (a.sync_batchnorm && !quiet) {
    std::cerr << "metalhead train: warning: --sync-batchnorm in a single process (no torchrun or --nproc-per-node "
                 "group): nothing to synchronise" << std::endl;
  }
  // The test set: Fashion-MNIST's own, or --test-data.
  std::unique_ptr<metalhead::data::DataLoader> test;
  if (!o.test_data.empty()) {
    auto t = load_data(o.test_data, metalhead::data::Split::test, trainer->input_size(),
                       trainer->model()->inchannels);
    if (t.classes != trainer->classes()) {
      throw std::runtime_error("--test-data " + o.test_data + " has other classes than the training data");
    }
    test = trainer->test_loader(std::move(t));
  }
  const fs::path ckpt = dir / "checkpoint.safetensors", csv = dir / "metrics.csv", svg = dir / "metrics.svg";
  const bool terminal = ::isatty(STDERR_FILENO) && !quiet && !a.json;
  ProgressBar bar(terminal);
  if (!quiet && !a.json) {
    std::cout << "training " << o.model << " on " << o.data << " (" << trainer->classes().size() << " classes, "
              << size_string(trainer->input_size()) << "), " << o.epochs << " epochs, " << mt::to_string(o.optimiser)
              << " lr " << o.lr << " " << mt::to_string(o.schedule) << ", " << at::get_num_threads() << " threads";
    if (group) std::cout << " × " << group->world_size() << " ranks (batch " << o.batch_size << " per rank)";
    std::cout << "; run folder " << dir.string() << std::endl;
  }
  const int64_t last = a.stop_after > 0 ? std::min(o.epochs, trainer->epoch() + a.stop_after) : o.epochs;
  mt::FitOptions fit{.run_dir = dir, .test = test.get(), .stop_after = a.stop_after, .title = o.model + " on " + o.data};
  fit.progress = [&](const mt::Progress& p) { bar.update(p, o.epochs, last); };
  double waited_before = 0;
  fit.epoch_done = [&](const mt::MetricsRow& row) {
    bar.finish();
    const mt::EpochMetrics& m = row.train;
    const bool tested = test != nullptr;
    if (json_lines) {
      json line{{"epoch", m.epoch}, {"lr", m.lr}, {"loss", m.loss}, {"accuracy", m.accuracy},
                {"images_per_second", m.images_per_second}, {"seconds", m.seconds}, {"checkpoint", ckpt.string()}};
      if (tested) line["test_loss"] = row.test_loss, line["test_accuracy"] = row.test_accuracy;
      if (group) {  // rank 0's wait for gradient all-reduces after backward, this epoch
        const double waited = trainer->communication_wait_seconds();
        line["world_size"] = group->world_size();
        line["communication_wait_seconds"] = waited - waited_before;
        waited_before = waited;
      }
      std::cout << line.dump() << std::endl;
    } else if (!quiet && !a.json) {
      char text[256];
      std::snprintf(text, sizeof text, "epoch %lld/%lld  lr %.4g  loss %.4f  acc %s", static_cast<long long>(m.epoch),
                    static_cast<long long>(o.epochs), m.lr, m.loss, percent(m.accuracy).c_str());
      std::cout << text;
      if (tested) std::cout << "  test loss " << std::fixed << std::setprecision(4) << row.test_loss << "  test acc "
                            << percent(row.test_accuracy);
      std::cout << "  " << std::fixed << std::setprecision(0) << m.images_per_second << " img/s  "
                << clock_text(m.seconds) << std::defaultfloat << std::endl;
    }
  };
  trainer->fit(fit);
  if (!quiet && !a.json) {
    std::cout << "checkpoint " << ckpt.string() << "\nmetrics    " << csv.string() << "\nchart      " << svg.string()
              << std::endl;
  }
}

}  // namespace

// metalhead train [--model NAME] [--data fashion-mnist|DIR] [--epochs N] ... [--output DIR | --resume DIR]
void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a registry model on Fashion-MNIST or an image folder");
  auto a = std::make_shared<Args>();
  mt::TrainOptions& o = a->o;
  auto optimiser = std::make_shared<std::string>("sgd"), schedule = std::make_shared<std::string>("cosine");
  cmd->add_option("--model", o.model, "a registry name (see `metalhead list`)")->capture_default_str();
  cmd->add_option("--data", o.data, "fashion-mnist, or a folder with one sub-folder of images per class")
      ->capture_default_str();
  cmd->add_option("--test-data", o.test_data, "evaluated after every epoch: fashion-mnist's test set, or a folder")
      ->capture_default_str();
  cmd->add_option("--epochs", o.epochs, "epochs in all (with --resume: the new total)")->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size, "images per step")->capture_default_str();
  cmd->add_option("--optimiser,--optimizer", *optimiser, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  cmd->add_option("--momentum", o.momentum, "SGD's momentum")->capture_default_str();
  cmd->add_flag("--nesterov", o.nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--beta1", o.beta1, "Adam's first-moment decay")->capture_default_str();
  cmd->add_option("--beta2", o.beta2, "Adam's second-moment decay")->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "L2 (SGD, Adam) or decoupled (AdamW) weight decay")
      ->capture_default_str();
  cmd->add_option("--schedule", *schedule, "cosine, step or constant")
      ->check(CLI::IsMember({"cosine", "step", "constant"}))
      ->capture_default_str();
  cmd->add_option("--warmup-epochs", o.warmup_epochs, "linear warm-up (fractions allowed)")->capture_default_str();
  cmd->add_option("--step-size", o.step_size, "step schedule: epochs between decays")->capture_default_str();
  cmd->add_option("--gamma", o.gamma, "step schedule: decay factor")->capture_default_str();
  cmd->add_option("--label-smoothing", o.label_smoothing, "label smoothing")->capture_default_str();
  cmd->add_option("--pad-crop", o.pad_crop, "random crops of images zero-padded by this many pixels")
      ->capture_default_str();
  cmd->add_flag("--hflip", o.hflip, "random horizontal flips");
  cmd->add_option("--image-size", o.image_size, "resize images to H W")->expected(2);
  cmd->add_option("--limit", o.limit, "train on the first N images only")->check(CLI::NonNegativeNumber);
  cmd->add_option("--weights", o.weights,
                  "fine-tune: start from this file's backbone (torchvision/timm .pth or .safetensors, or a "
                  "checkpoint); the classifier is new, sized to the data's classes");
  cmd->add_flag("--pretrained", a->pretrained, "fine-tune from the model's pretrained weights (see `metalhead list`)");
  cmd->add_flag("--freeze-backbone", o.freeze_backbone, "train only the classifier head");
  cmd->add_option("--unfreeze-after", o.unfreeze_after, "with --freeze-backbone: train everything from this epoch on")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--head-lr-mult", o.head_lr_mult, "the head's learning rate is this × --lr")->capture_default_str();
  cmd->add_option("--dtype", o.dtype, "float32, or float64 for exactness checks (slower)")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "seeds initialisation, data order and augmentation")->capture_default_str();
  cmd->add_option("--workers", o.workers, "data-loading threads")->capture_default_str();
  cmd->add_option("--threads", a->threads, "compute threads (default: one per core)");
  cmd->add_option("--output", a->output, "the run folder (default: runs/MODEL-DATE-TIME)");
  cmd->add_option("--resume", a->resume, "continue the run in this folder (or checkpoint file)");
  cmd->add_option("--stop-after", a->stop_after, "stop after this many epochs (the schedule still spans --epochs); "
                  "continue with --resume")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet,-q", a->quiet, "print nothing but errors");
  cmd->add_flag("--json", a->json, "one JSON line per epoch");
  add_engine_flags(cmd, a->engine, /*inference=*/false);
  cmd->add_option("--nproc-per-node", a->nproc_per_node,
                  "data-parallel: start this many local ranks (as torchrun does; --batch-size is per rank)");
  cmd->add_option("--master-port", a->master_port, "with --nproc-per-node: the rendezvous port on 127.0.0.1")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--dist-backend", a->dist_backend, "gloo (CPU) or nccl (CUDA builds); default: by --device")
      ->check(CLI::IsMember({"gloo", "nccl"}));
  cmd->add_option("--timeout", a->timeout, "seconds a rank waits for the others before it fails")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_flag("--sync-batchnorm", a->sync_batchnorm, "batch statistics over all ranks (SyncBatchNorm)");
  cmd->callback([a, cmd, optimiser, schedule] {
    a->o.optimiser = mt::optimiser_kind(*optimiser);
    a->o.schedule = mt::schedule_kind(*schedule);
    check_engine_flags(a->engine);
    if (cmd->count("--nproc-per-node")) {
      launch_local_ranks(a->nproc_per_node, a->master_port, std::chrono::seconds(a->timeout));
      return;
    }
    // A rank shares the machine's cores with the other local ranks: OMP_NUM_THREADS (which
    // torchrun and --nproc-per-node set) unless --threads says otherwise.
    int threads = a->threads;
    if (const char* omp = std::getenv("OMP_NUM_THREADS"); threads == 0 && omp && std::getenv("WORLD_SIZE")) {
      threads = std::max(1, std::atoi(omp));
    }
    set_threads(threads);
    run(*a, cmd);
  });
}

}  // namespace cli
