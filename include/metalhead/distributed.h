// distributed.h — data-parallel training on c10d (Gloo; NCCL in CUDA builds), as torch's
// DistributedDataParallel does it, for processes that torchrun (or `metalhead train
// --nproc-per-node`) starts.
//
//   auto group = metalhead::train::ProcessGroup::from_environment();  // RANK, WORLD_SIZE, ...
//   metalhead::train::convert_sync_batchnorm(model, group);           // optional
//   metalhead::train::DataParallel ddp(model, group);                 // rank 0's weights everywhere
//   loss_of(ddp(images)).backward();                                   // gradients averaged
//   optimiser.step(lr);
//
// DataParallel assigns the trainable parameters, last first, to buckets of about 25 MB
// (the first 1 MB), as torch's DDP does. A gradient hook copies each gradient into its
// bucket as backward produces it; a bucket whose gradients are all there is all-reduced
// asynchronously at once (in bucket order, the same on every rank), so communication
// overlaps the rest of backward. At the end of backward (an autograd engine callback) the
// remaining buckets are reduced, every bucket awaited, and the averages written to the
// parameters' gradients.
#pragma once

#include <metalhead/model.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace metalhead::train {

struct DistributedOptions {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::string backend = "gloo";            // gloo; nccl in CUDA builds
  std::chrono::seconds timeout{1800};      // for every collective and store operation
  // torchrun's agent already serves the store on MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE):
  // every rank, rank 0 too, is its client.
  bool agent_store = false;
};

/// torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; nullopt
/// when WORLD_SIZE is unset. Throws for values that are not numbers or out of range.
std::optional<DistributedOptions> distributed_environment();

/// One process's membership of the group: a TCPStore (served by rank 0) and a c10d
/// process group over it. Every rank must create it; the constructor returns once all have.
class ProcessGroup {
 public:
  explicit ProcessGroup(const DistributedOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return options_.rank; }
  int64_t world_size() const { return options_.world_size; }
  const DistributedOptions& options() const { return options_; }

  /// Elementwise sum over the ranks, in place (blocking).
  void all_reduce_sum(Tensor& t);
  /// Rank `root`'s values into `t` on every rank (blocking).
  void broadcast(Tensor& t, int64_t root = 0);
  void barrier();
  /// Every rank gives `what` its own `description` (options, an architecture); throws on
  /// every rank, naming the first differing line, unless all equal rank 0's.
  void check_same(const std::string& what, const std::string& description);
  /// After a failed collective: which ranks stopped (their heartbeats in the store stopped),
  /// as a sentence for the error message.
  std::string diagnose_lost_ranks();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
};

struct DataParallelOptions {
  double bucket_mb = 25;            // torch's bucket_cap_mb
  double first_bucket_mb = 1;       // the first bucket (the last layers') is smaller, as torch's
  bool broadcast_buffers = true;    // rank 0's buffers (BatchNorm statistics) before every forward
};

/// A Model whose training steps are data-parallel over `group`. It shares the model's
/// layers: the wrapped model is the one trained.
class DataParallel {
 public:
  DataParallel(Model model, std::shared_ptr<ProcessGroup> group, const DataParallelOptions& options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  /// The model's forward; in grad mode it also arms the next backward's gradient averaging.
  Tensor operator()(const Tensor& images);
  /// Seconds spent waiting for all-reduces after backward (not overlapped), in all.
  double communication_wait_seconds() const;
  /// The buckets, as lists of indices into the model's parameters (the trainable ones).
  std::vector<std::vector<size_t>> buckets() const;
  const Model& model() const { return model_; }

  struct State;

 private:
  void launch(size_t bucket);  // its all-reduce, asynchronously
  void finish();               // at the end of backward: the averages into the gradients
  Model model_;
  std::shared_ptr<ProcessGroup> group_;
  DataParallelOptions options_;
  std::unique_ptr<State> state_;
};

/// Makes every BatchNorm of `model` compute its training statistics over the whole group
/// (torch's SyncBatchNorm): batch mean and variance, and in backward the sums the
/// gradient needs, all-reduced. Returns how many it converted. Evaluation is unchanged.
int64_t convert_sync_batchnorm(Model& model, std::shared_ptr<ProcessGroup> group);

}  // namespace metalhead::train
