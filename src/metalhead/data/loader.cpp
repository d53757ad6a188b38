// loader.cpp — the DataLoader: workers claim batch indices in order and hand finished
// batches back by index, so the consumer sees them in order whatever finishes first.
#include <metalhead/data/loader.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace metalhead::data {
namespace {

// SplitMix64: independent, well-mixed seeds from (seed, epoch, sample).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t mix(uint64_t a, uint64_t b, uint64_t c = 0) { return mix(mix(mix(a) ^ b) ^ c); }

at::Tensor per_channel(const std::vector<double>& v, int64_t channels, const char* what) {
  if (v.size() != 1 && static_cast<int64_t>(v.size()) != channels) {
    throw std::invalid_argument(std::string("DataLoader: ") + what + " has " + std::to_string(v.size()) +
                                " values for " + std::to_string(channels) + " channels");
  }
  return at::tensor(std::vector<float>(v.begin(), v.end())).reshape({-1, 1, 1});
}

}  // namespace

DataLoader::DataLoader(LabelledImages data, LoaderOptions options) : data_(std::move(data)), options_(std::move(options)) {
  if (!data_.images.defined() || data_.images.dim() != 4 || data_.images.scalar_type() != at::kByte) {
    throw std::invalid_argument("DataLoader: expected [N, C, H, W] uint8 images");
  }
  if (data_.labels.dim() != 1 || data_.labels.size(0) != data_.images.size(0)) {
    throw std::invalid_argument("DataLoader: expected one label per image");
  }
  if (options_.batch_size < 1) throw std::invalid_argument("DataLoader: batch_size must be positive");
  if (options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size) {
    throw std::invalid_argument("DataLoader: expected 0 <= rank < world_size, got rank " + std::to_string(options_.rank) +
                                " of " + std::to_string(options_.world_size));
  }
  if (size() == 0 && options_.world_size > 1) throw std::invalid_argument("DataLoader: no images to shard");
  const int64_t c = data_.images.size(1);
  if (!options_.augment.mean.empty() || !options_.augment.std.empty()) {
    mean_ = per_channel(options_.augment.mean, c, "mean");
    std_ = per_channel(options_.augment.std, c, "std");
  }
  if (options_.workers > kMaxWorkers) {
    throw std::invalid_argument("DataLoader: at most " + std::to_string(kMaxWorkers) + " workers, got " +
                                std::to_string(options_.workers));
  }
  try {
    start_workers();
  } catch (const std::exception& e) {  // std::system_error, or bad_alloc for a thread's stack
    stop_workers();  // joins those that started
    throw std::runtime_error("DataLoader: cannot start " + std::to_string(std::max(1, options_.workers)) +
                             " worker threads: " + e.what());
  }
}

void DataLoader::start_workers() {
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] {
      std::unique_lock lock(mutex_);
      while (true) {
        space_.wait(lock, [&] { return stopping_ || (claimed_ < batches_ && claimed_ - next_ < options_.prefetch); });
        if (stopping_) return;
        const int64_t index = claimed_++;
        const uint64_t generation = generation_;
        const int64_t begin = index * options_.batch_size;
        const int64_t end = std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order_.size()));
        std::vector<int64_t> ids(order_.begin() + begin, order_.begin() + end);
        const int64_t epoch = epoch_;
        lock.unlock();
        // An exception must not leave the thread (std::terminate): next() rethrows it.
        std::optional<Batch> b;
        std::exception_ptr error;
        try {
          b = make_batch(ids, epoch);
        } catch (...) {
          error = std::current_exception();
        }
        lock.lock();
        if (generation == generation_) {  // not a batch of an epoch abandoned meanwhile
          if (error) failed_.emplace(index, error);
          else done_.emplace(index, std::move(*b));
          ready_.notify_all();
        }
      }
    });
  }
}

DataLoader::~DataLoader() { stop_workers(); }

void DataLoader::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  space_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

int64_t DataLoader::shard_size() const {
  const int64_t w = options_.world_size;
  if (!options_.pad_shards) return (size() - options_.rank + w - 1) / w;
  return (size() + w - 1) / w;
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = shard_size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::start_epoch(int64_t epoch) {
  std::lock_guard lock(mutex_);
  order_.resize(static_cast<size_t>(size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (options_.shuffle) {
    std::mt19937_64 rng(mix(options_.seed, static_cast<uint64_t>(epoch), 0xE90C));
    std::shuffle(order_.begin(), order_.end(), rng);
  }
  if (options_.world_size > 1) {
    const auto w = static_cast<size_t>(options_.world_size);
    std::vector<int64_t> shard;
    const size_t end = options_.pad_shards ? static_cast<size_t>(shard_size()) * w : order_.size();
    for (size_t i = static_cast<size_t>(options_.rank); i < end; i += w) shard.push_back(order_[i % order_.size()]);
    order_ = std::move(shard);
  }
  epoch_ = epoch;
  ++generation_;
  batches_ = batches_per_epoch();
  next_ = claimed_ = 0;
  done_.clear();
  failed_.clear();
  space_.notify_all();
}

std::optional<Batch> DataLoader::next() {
  std::unique_lock lock(mutex_);
  if (next_ >= batches_) return std::nullopt;
  ready_.wait(lock, [&] { return done_.count(next_) > 0 || failed_.count(next_) > 0; });
  if (auto failed = failed_.find(next_); failed != failed_.end()) std::rethrow_exception(failed->second);
  auto node = done_.extract(next_);
  ++next_;
  space_.notify_all();
  return std::move(node.mapped());
}

Batch DataLoader::make_batch(const std::vector<int64_t>& ids, int64_t epoch) const {
  const auto idx = at::tensor(ids, at::kLong);
  at::Tensor x = data_.images.index_select(0, idx).to(at::kFloat).div_(255.0f);
  const Augment& a = options_.augment;
  if (options_.train && (a.pad_crop > 0 || a.hflip)) {
    const int64_t h = x.size(2), w = x.size(3), p = a.pad_crop;
    at::Tensor padded = p > 0 ? at::constant_pad_nd(x, {p, p, p, p}, 0) : x;
    std::vector<at::Tensor> out;
    out.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      std::mt19937_64 rng(mix(options_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(ids[i]) + 1));
      const int64_t dy = p > 0 ? static_cast<int64_t>(rng() % (2 * p + 1)) : 0;
      const int64_t dx = p > 0 ? static_cast<int64_t>(rng() % (2 * p + 1)) : 0;
      at::Tensor img = padded[static_cast<int64_t>(i)].narrow(1, dy, h).narrow(2, dx, w);
      if (a.hflip && (rng() & 1)) img = img.flip({2});
      out.push_back(img);
    }
    x = at::stack(out);
  }
  if (!a.resize.empty() && (x.size(2) != a.resize[0] || x.size(3) != a.resize[1])) {
    x = at::upsample_bilinear2d(x, a.resize, /*align_corners=*/false);
  }
  if (mean_.defined()) x = (x - mean_) / std_;
  return {x.contiguous(), data_.labels.index_select(0, idx)};
}

}  // namespace metalhead::data
