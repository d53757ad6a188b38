// distributed.cpp — ProcessGroup (a TCPStore and c10d's ProcessGroupGloo), DataParallel
// (bucketed, overlapped gradient all-reduce) and SyncBatchNorm's reducer.
#include <metalhead/distributed.h>

#include <flux/normalise.h>

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/types.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace metalhead::train {
namespace {

int64_t env_number(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n < lo || n > hi) {
    throw std::invalid_argument(std::string("distributed: ") + name + "=" + v + " is not a number from " +
                                std::to_string(lo) + " to " + std::to_string(hi));
  }
  return n;
}

std::string text(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }
std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

std::optional<DistributedOptions> distributed_environment() {
  if (!std::getenv("WORLD_SIZE") || !*std::getenv("WORLD_SIZE")) return std::nullopt;
  DistributedOptions o;
  o.world_size = env_number("WORLD_SIZE", 1, 1, 1 << 20);
  if (!std::getenv("RANK") || !*std::getenv("RANK")) {
    throw std::invalid_argument("distributed: WORLD_SIZE=" + std::string(std::getenv("WORLD_SIZE")) +
                                " is set but RANK is not (torchrun sets both; so does --nproc-per-node)");
  }
  o.rank = env_number("RANK", 0, 0, o.world_size - 1);
  o.local_rank = env_number("LOCAL_RANK", o.rank, 0, o.world_size - 1);
  o.master_port = env_number("MASTER_PORT", 29500, 1, 65535);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) o.master_addr = a;
  if (const char* a = std::getenv("TORCHELASTIC_USE_AGENT_STORE")) o.agent_store = std::string(a) == "True";
  return o;
}

// ---- ProcessGroup ----------------------------------------------------------------------

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;      // the main thread's client (or the server)
  c10::intrusive_ptr<c10d::Store> heartbeat;  // a second client: the heartbeat thread's own
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::thread beating;
  std::atomic<bool> stop{false};
};

ProcessGroup::ProcessGroup(const DistributedOptions& o) : options_(o), impl_(std::make_unique<Impl>()) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    throw std::invalid_argument("ProcessGroup: expected 0 <= rank < world_size, got rank " + std::to_string(o.rank) +
                                " of " + std::to_string(o.world_size));
  }
  if (o.backend != "gloo") {
    throw std::invalid_argument("ProcessGroup: backend \"" + o.backend + "\" is not in this build (it has gloo; nccl "
                                "needs a CUDA build of libtorch)");
  }
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.timeout);
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(o.master_port);
  so.isServer = o.rank == 0 && !o.agent_store;
  so.numWorkers = static_cast<size_t>(o.world_size);
  so.waitWorkers = false;
  so.timeout = timeout;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    c10d::TCPStoreOptions client = so;
    client.isServer = false;
    impl_->heartbeat = c10::make_intrusive<c10d::TCPStore>(o.master_addr, client);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (so.isServer && (what.find("in use") != std::string::npos || what.find("listen") != std::string::npos)) {
      throw std::runtime_error("distributed: rank 0 cannot serve the rendezvous store on " + where +
                               ": the port is already in use (another run?); choose another with MASTER_PORT or "
                               "--master-port");
    }
    throw std::runtime_error("distributed: rank " + std::to_string(o.rank) + " cannot reach the rendezvous store on " +
                             where + " within " + std::to_string(o.timeout.count()) + " s: " +
                             what.substr(0, what.find('\n')));
  }
  // Heartbeats: a rank that stops is named when a collective fails.
  impl_->beating = std::thread([this, key = "heartbeat/" + std::to_string(o.rank)] {
    while (!impl_->stop) {
      try {
        impl_->heartbeat->add(key, 1);
      } catch (...) {
        return;  // the store is gone (rank 0 stopped); diagnose_lost_ranks says so
      }
      for (int i = 0; i < 5 && !impl_->stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(o.master_addr == "localhost" ? "127.0.0.1" : o.master_addr));
  options->threads = 2;
  try {
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", impl_->store),
                                                           static_cast<int>(o.rank), static_cast<int>(o.world_size),
                                                           options);
  } catch (const std::exception& e) {
    impl_->stop = true;
    impl_->beating.join();
    const std::string what = e.what();
    throw std::runtime_error("distributed: rank " + std::to_string(o.rank) + " could not join the " +
                             std::to_string(o.world_size) + "-rank group at " + where + ": " +
                             what.substr(0, what.find('\n')));
  }
}

ProcessGroup::~ProcessGroup() {
  impl_->stop = true;
  if (impl_->beating.joinable()) impl_->beating.join();
}

namespace {

// Waits for a collective; its failure names the ranks that stopped.
void await(ProcessGroup& g, const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    const std::string why = e.what();
    throw std::runtime_error("distributed: rank " + std::to_string(g.rank()) + ": " + what + " failed: " +
                             g.diagnose_lost_ranks() + " (" + why.substr(0, why.find('\n')) + ")");
  }
}

}  // namespace

void ProcessGroup::all_reduce_sum(Tensor& t) {
  std::vector<Tensor> ts{t};
  await(*this, impl_->pg->allreduce(ts), "an all-reduce");
}

void ProcessGroup::broadcast(Tensor& t, int64_t root) {
  std::vector<Tensor> ts{t};
  c10d::BroadcastOptions bo;
  bo.rootRank = root;
  await(*this, impl_->pg->broadcast(ts, bo), "a broadcast");
}

void ProcessGroup::barrier() { await(*this, impl_->pg->barrier(), "a barrier"); }

void ProcessGroup::check_same(const std::string& what, const std::string& description) {
  const std::string key = "check/" + what + "/";
  impl_->store->set(key + std::to_string(rank()), bytes(description));
  // Each rank compares every other rank's with rank 0's, so that every one refuses.
  const std::string reference = rank() == 0 ? description : text(impl_->store->get(key + "0"));
  for (int64_t r = 1; r < world_size(); ++r) {
    const std::string other = r == rank() ? description : text(impl_->store->get(key + std::to_string(r)));
    if (other == reference) continue;
    std::istringstream a(reference), b(other);
    std::string la, lb;
    while (std::getline(a, la) && std::getline(b, lb) && la == lb) {
    }
    throw std::runtime_error("distributed: rank " + std::to_string(r) + "'s " + what + " differ from rank 0's: \"" +
                             lb + "\" against \"" + la + "\"; every rank must be started with the same options and model");
  }
}

std::string ProcessGroup::diagnose_lost_ranks() {
  auto counts = [&]() -> std::optional<std::vector<int64_t>> {
    std::vector<int64_t> c;
    try {
      for (int64_t r = 0; r < world_size(); ++r) c.push_back(impl_->store->add("heartbeat/" + std::to_string(r), 0));
    } catch (...) {
      return std::nullopt;
    }
    return c;
  };
  impl_->store->setTimeout(std::chrono::seconds(5));
  const auto before = counts();
  if (!before && options_.agent_store) {
    return "torchrun's agent, which serves the rendezvous store at " + options_.master_addr + ":" +
           std::to_string(options_.master_port) + ", was lost";
  }
  if (!before) {
    return "rank 0, which serves the rendezvous store at " + options_.master_addr + ":" +
           std::to_string(options_.master_port) + ", was lost";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto after = counts();
  if (!after) return "rank 0 (the rendezvous store) was lost";
  std::vector<int64_t> lost;
  for (int64_t r = 0; r < world_size(); ++r) {
    if (r != rank() && (*after)[r] == (*before)[r]) lost.push_back(r);
  }
  if (lost.empty()) return "no rank has stopped its heartbeat (a rank is slow or the network failed)";
  std::string s = lost.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < lost.size(); ++i) s += (i ? ", " : "") + std::to_string(lost[i]);
  return s + " stopped (no heartbeat)";
}

// ---- DataParallel ---------------------------------------------------------------------

struct DataParallel::State {
  struct Bucket {
    std::vector<size_t> params;  // indices into State::params
    std::vector<int64_t> offsets;
    Tensor flat;
    size_t ready = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<Tensor> params;                  // every floating-point parameter
  std::vector<bool> trainable;                 // requires_grad when the buckets were made
  std::vector<std::pair<size_t, size_t>> slot; // param -> (bucket, position); bucket npos: none
  std::vector<bool> arrived;
  std::vector<Bucket> buckets;
  std::vector<unsigned> hooks;
  size_t launched = 0;
  bool armed = false, callback_queued = false;
  double wait_seconds = 0;
};

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

// Buckets over the trainable parameters, last first (backward's order), each up to `cap`
// bytes (the first up to `first`); parameters of another dtype start a new bucket.
void make_buckets(DataParallel::State& s, double first_mb, double mb) {
  s.buckets.clear();
  s.slot.assign(s.params.size(), {kNone, 0});
  s.trainable.clear();
  for (const auto& p : s.params) s.trainable.push_back(p.requires_grad());
  size_t bytes = 0;
  for (size_t k = s.params.size(); k-- > 0;) {
    const Tensor& p = s.params[k];
    if (!p.requires_grad()) continue;
    const double cap = (s.buckets.size() <= 1 ? first_mb : mb) * 1024 * 1024;
    const size_t size = static_cast<size_t>(p.numel()) * p.element_size();
    const bool fresh = s.buckets.empty() ||
                       (bytes > 0 && static_cast<double>(bytes + size) > cap) ||
                       s.params[s.buckets.back().params.front()].scalar_type() != p.scalar_type();
    if (fresh) {
      s.buckets.emplace_back();
      bytes = 0;
    }
    auto& b = s.buckets.back();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + s.params[b.params.back()].numel());
    s.slot[k] = {s.buckets.size() - 1, b.params.size()};
    b.params.push_back(k);
    bytes += size;
  }
  for (auto& b : s.buckets) {
    const auto& last = s.params[b.params.back()];
    b.flat = torch::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
  }
}

Tensor view_in(const DataParallel::State::Bucket& b, size_t i, const Tensor& p) {
  return b.flat.narrow(0, b.offsets[i], p.numel()).view(p.sizes());
}

}  // namespace

DataParallel::DataParallel(Model model, std::shared_ptr<ProcessGroup> group, const DataParallelOptions& options)
    : model_(std::move(model)), group_(std::move(group)), options_(options), state_(std::make_unique<State>()) {
  if (!group_) throw std::invalid_argument("DataParallel: no process group");
  if (!(options_.bucket_mb > 0) || !(options_.first_bucket_mb > 0)) {
    throw std::invalid_argument("DataParallel: bucket sizes must be positive");
  }
  // The same architecture everywhere, then rank 0's values everywhere.
  std::ostringstream arch;
  for (const auto& p : model_->named_parameters()) arch << p.key() << " " << p.value().sizes() << "\n";
  for (const auto& b : model_->named_buffers()) arch << b.key() << " " << b.value().sizes() << "\n";
  group_->check_same("model tensors", arch.str());
  {
    torch::NoGradGuard no_grad;
    for (auto p : model_->parameters()) group_->broadcast(p);
    for (auto b : model_->buffers()) group_->broadcast(b);
  }
  State& s = *state_;
  for (const auto& p : model_->parameters()) {
    if (p.is_floating_point()) s.params.push_back(p);
  }
  make_buckets(s, options_.first_bucket_mb, options_.bucket_mb);
  s.arrived.assign(s.params.size(), false);
  for (size_t k = 0; k < s.params.size(); ++k) {
    s.hooks.push_back(s.params[k].register_hook([this, k](const Tensor& grad) {
      State& s = *state_;
      if (!s.armed || s.slot[k].first == kNone) return;
      if (!s.callback_queued) {
        s.callback_queued = true;
        torch::autograd::Engine::get_default_engine().queue_callback([this] { finish(); });
      }
      auto& b = s.buckets[s.slot[k].first];
      view_in(b, s.slot[k].second, s.params[k]).copy_(grad);
      s.arrived[k] = true;
      ++b.ready;
      // Launch in bucket order only: every rank issues the same collectives in the same order.
      while (s.launched < s.buckets.size() && s.buckets[s.launched].ready == s.buckets[s.launched].params.size()) {
        launch(s.launched++);
      }
    }));
  }
}

DataParallel::~DataParallel() {
  for (size_t k = 0; k < state_->params.size(); ++k) state_->params[k].remove_hook(state_->hooks[k]);
}

void DataParallel::launch(size_t i) {
  auto& b = state_->buckets[i];
  b.flat.div_(static_cast<double>(group_->world_size()));
  std::vector<Tensor> ts{b.flat};
  b.work = group_->impl().pg->allreduce(ts);
}

void DataParallel::finish() {
  State& s = *state_;
  const auto t0 = std::chrono::steady_clock::now();
  // Parameters that got no gradient (unused in this forward) contribute zeros.
  for (size_t k = 0; k < s.params.size(); ++k) {
    if (s.slot[k].first == kNone || s.arrived[k]) continue;
    auto& b = s.buckets[s.slot[k].first];
    view_in(b, s.slot[k].second, s.params[k]).zero_();
    ++b.ready;
  }
  while (s.launched < s.buckets.size()) launch(s.launched++);
  for (auto& b : s.buckets) {
    try {
      b.work->wait();
    } catch (const std::exception& e) {
      s.armed = false;
      const std::string why = e.what();
      throw std::runtime_error("distributed: rank " + std::to_string(group_->rank()) +
                               ": the gradient all-reduce failed: " + group_->diagnose_lost_ranks() + " (" +
                               why.substr(0, why.find('\n')) + ")");
    }
    b.work.reset();
    for (size_t i = 0; i < b.params.size(); ++i) {
      Tensor& p = s.params[b.params[i]];
      const Tensor avg = view_in(b, i, p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(avg);
      } else {
        p.mutable_grad() = avg.clone();
      }
    }
    b.ready = 0;
  }
  s.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.arrived.assign(s.params.size(), false);
  s.launched = 0;
  s.armed = s.callback_queued = false;
}

Tensor DataParallel::operator()(const Tensor& images) {
  State& s = *state_;
  if (torch::GradMode::is_enabled()) {
    // Parameters frozen or unfrozen since (fine-tuning's schedule, the same on every rank).
    for (size_t k = 0; k < s.params.size(); ++k) {
      if (s.params[k].requires_grad() != s.trainable[k]) {
        make_buckets(s, options_.first_bucket_mb, options_.bucket_mb);
        break;
      }
    }
    if (options_.broadcast_buffers) {
      torch::NoGradGuard no_grad;
      for (auto b : model_->buffers()) group_->broadcast(b);
    }
    s.arrived.assign(s.params.size(), false);
    for (auto& b : s.buckets) b.ready = 0;
    s.launched = 0;
    s.armed = true;
    s.callback_queued = false;
  }
  return model_(images);
}

double DataParallel::communication_wait_seconds() const { return state_->wait_seconds; }

std::vector<std::vector<size_t>> DataParallel::buckets() const {
  std::vector<std::vector<size_t>> out;
  for (const auto& b : state_->buckets) out.push_back(b.params);
  return out;
}

// ---- SyncBatchNorm ----------------------------------------------------------------------

namespace {

class GroupSum : public flux::ReplicaReducer {
 public:
  explicit GroupSum(std::shared_ptr<ProcessGroup> g) : group_(std::move(g)) {}
  void sum(Tensor& t) override { group_->all_reduce_sum(t); }

 private:
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace

int64_t convert_sync_batchnorm(Model& model, std::shared_ptr<ProcessGroup> group) {
  if (!group) throw std::invalid_argument("convert_sync_batchnorm: no process group");
  auto reducer = std::make_shared<GroupSum>(std::move(group));
  int64_t n = 0;
  for (const auto& m : model->modules()) {
    auto bn = dynamic_cast<flux::BatchNormImpl*>(m.get());
    if (bn && !dynamic_cast<flux::InstanceNormImpl*>(m.get())) {
      bn->sync = reducer;
      ++n;
    }
  }
  return n;
}

}  // namespace metalhead::train
