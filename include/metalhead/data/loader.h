// loader.h — batches of an in-memory image data set, prepared by background threads.
//
//   metalhead::data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 1,
//                                              .augment = {.pad_crop = 4, .hflip = true,
//                                                          .mean = {0.286}, .std = {0.353}}});
//   loader.start_epoch(epoch);
//   while (auto batch = loader.next()) step(batch->images, batch->labels);
//
// Deterministic: the order of an epoch and every random crop and flip follow from
// (seed, epoch, sample) alone, never from thread timing, so a run resumed at an epoch
// sees exactly the batches an uninterrupted run sees.
#pragma once

#include <metalhead/data/idx.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace metalhead::data {

struct Augment {
  int64_t pad_crop = 0;      // random crop of the image padded by this many zero pixels
  bool hflip = false;        // random horizontal flip
  std::vector<double> mean;  // per channel (one value: all channels), on [0, 1] pixels
  std::vector<double> std;
  std::vector<int64_t> resize;  // [H, W] (bilinear), after cropping; empty: as they are
};

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;
  uint64_t seed = 0;
  int workers = 2;           // threads preparing batches
  int prefetch = 4;          // batches prepared ahead
  bool drop_last = false;
  Augment augment;           // crop and flip only when `train`; normalisation always
  bool train = false;
  // Data-parallel sharding, as torch's DistributedSampler: the epoch's order padded (from
  // its start) to a multiple of world_size, of which rank r takes positions r, r + W, ...
  // Without padding (evaluation) the ranks' shards together hold every sample once.
  int64_t rank = 0, world_size = 1;
  bool pad_shards = true;
};

struct Batch {
  at::Tensor images;  // [B, C, H, W] float32
  at::Tensor labels;  // [B] int64
};

class DataLoader {
 public:
  static constexpr int kMaxWorkers = 256;
  DataLoader(LabelledImages data, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// Begins epoch `epoch` (any order; each one is reproducible on its own).
  void start_epoch(int64_t epoch);
  /// The next batch of the epoch, or nullopt at its end. An error while a worker prepared
  /// the batch is thrown here, in the caller's thread.
  std::optional<Batch> next();

  int64_t size() const { return data_.labels.size(0); }
  /// The samples this rank sees per epoch: ceil(size / world_size) when padded.
  int64_t shard_size() const;
  int64_t batches_per_epoch() const;
  const LabelledImages& data() const { return data_; }
  const LoaderOptions& options() const { return options_; }

 private:
  Batch make_batch(const std::vector<int64_t>& ids, int64_t epoch) const;
  void start_workers();
  void stop_workers();

  LabelledImages data_;
  LoaderOptions options_;
  at::Tensor mean_, std_;  // [C or 1, 1, 1], when normalising
  std::vector<int64_t> order_;
  int64_t epoch_ = 0, batches_ = 0, next_ = 0;

  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::map<int64_t, Batch> done_;  // finished batches by index
  std::map<int64_t, std::exception_ptr> failed_;  // batches whose preparation threw, by index
  int64_t claimed_ = 0;            // next batch index a worker takes
  uint64_t generation_ = 0;        // start_epoch calls so far
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace metalhead::data
