// `metalhead train` as ranks of a data-parallel group: real processes on 127.0.0.1,
// launched by --nproc-per-node, by torchrun, or one by one with torchrun's environment.
#include "image_folder.h"
#include "run.h"
#include "temp_dir.h"

#include <metalhead/data/images.h>
#include <metalhead/train.h>
#include <metalhead/weights/safetensors.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kQuiet = "--threads 1 --workers 1 --test-data '' -q";
const std::string kSmall = "--limit 192 --epochs 1 " + kQuiet;

// Ports of our own: the other suites' tests (and other runs) use other ones.
int port() {
  static int next = 36000 + static_cast<int>(::getpid() % 1000) * 16;
  return next++;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One rank started as torchrun starts it: its environment, stdout and stderr to files.
struct Rank {
  pid_t pid = -1;
  fs::path out, err;

  Rank(const std::string& args, const std::map<std::string, std::string>& env, const std::string& name) {
    out = fs::path(testing::TempDir()) / ("metalhead-rank-" + name + ".out");
    err = fs::path(testing::TempDir()) / ("metalhead-rank-" + name + ".err");
    const std::string cmd = "exec " + std::string(METALHEAD_CLI) + " " + args + " >" + out.string() + " 2>" + err.string();
    pid = ::fork();
    if (pid == 0) {
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  // The exit status (-1: killed by a signal), or nullopt if still running after `limit`.
  std::optional<int> wait(std::chrono::seconds limit) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }
  std::string error() const { return slurp(err); }
  ~Rank() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

std::map<std::string, std::string> rank_env(int rank, int world, int master_port) {
  return {{"RANK", std::to_string(rank)},          {"LOCAL_RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},   {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(master_port)}, {"OMP_NUM_THREADS", "1"}};
}

std::map<std::string, torch::Tensor> model_tensors(const fs::path& ckpt) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : metalhead::weights::read_safetensors(ckpt).tensors) {
    if (name.rfind("training/", 0) != 0 && t.is_floating_point()) out.emplace(name, t.clone());
  }
  return out;
}

// The largest per-tensor difference, relative to that tensor's largest value.
std::pair<double, std::string> worst_relative(const fs::path& a, const fs::path& b) {
  const auto x = model_tensors(a), y = model_tensors(b);
  EXPECT_EQ(x.size(), y.size());
  std::pair<double, std::string> worst{0, ""};
  for (const auto& [name, t] : y) {
    const double scale = std::max(t.abs().max().item<double>(), 1e-30);
    const double d = (x.at(name) - t).abs().max().item<double>() / scale;
    if (d > worst.first) worst = {d, name};
  }
  return worst;
}

bool torchrun_available() {
  return std::system("/usr/bin/python3 -c 'import torch.distributed.run' >/dev/null 2>&1") == 0;
}

}  // namespace

// The equivalence: with SyncBatchNorm, 2 ranks × 32 for 3 steps are 1 rank × 64.
// In float64, so that what differs is the arithmetic's order (~1e-14), not float32's noise:
// one process with 1 and with 2 threads already differs by ~3e-5 after these 3 steps.
TEST(CliDistributed, SyncBatchNormTwoRanksOfHalfTheBatchEqualOneRank) {
  const auto one = fresh_dir("one"), two = fresh_dir("two"), unsynced = fresh_dir("unsynced");
  const std::string common = "train --model resnet18 --dtype float64 " + kSmall;
  auto r = run(common + " --batch-size 64 --output " + one.string());
  ASSERT_EQ(r.status, 0) << r.err;
  r = run(common + " --batch-size 32 --nproc-per-node 2 --master-port " + std::to_string(port()) +
          " --sync-batchnorm --output " + two.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto [synced, where] = worst_relative(two / "checkpoint.safetensors", one / "checkpoint.safetensors");
  EXPECT_LT(synced, 1e-5) << where;
  // Without it each rank normalises by its own half's statistics: not the same training.
  r = run(common + " --batch-size 32 --nproc-per-node 2 --master-port " + std::to_string(port()) + " --output " +
          unsynced.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GT(worst_relative(unsynced / "checkpoint.safetensors", one / "checkpoint.safetensors").first, 1e-3);
  // Rank 0 alone wrote the run's files, and the checkpoint records one epoch.
  EXPECT_EQ(metalhead::train::checkpoint_info(two / "checkpoint.safetensors").epoch, 1);
  EXPECT_TRUE(fs::exists(two / "metrics.csv"));
}

// torchrun's own launch, and a model without batch statistics: no SyncBatchNorm needed.
TEST(CliDistributed, TorchrunRanksOfAModelWithoutBatchNormEqualOneRank) {
  if (!torchrun_available()) GTEST_SKIP() << "no torch.distributed.run in /usr/bin/python3";
  const auto one = fresh_dir("one"), two = fresh_dir("two");
  const std::string common = "train --model vit_tiny_patch16_224 --image-size 32 32 --lr 0.01 --dtype float64 " + kSmall;
  auto r = run(common + " --batch-size 64 --output " + one.string());
  ASSERT_EQ(r.status, 0) << r.err;
  r = run(common + " --batch-size 32 --output " + two.string(),
          // Debian's torch 1.13 spells them with underscores (later ones take both); on
          // Python 3.11 its default --redirects fails to parse (Std(0) is no longer listed).
          "OMP_NUM_THREADS=1 /usr/bin/python3 -m torch.distributed.run --nproc_per_node 2 --redirects 1 --tee 1 "
          "--master_port " + std::to_string(port()) + " --no_python");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto [d, where] = worst_relative(two / "checkpoint.safetensors", one / "checkpoint.safetensors");
  EXPECT_LT(d, 1e-5) << where;
  // --sync-batchnorm on it: a warning, and the run goes on.
  const auto warned = fresh_dir("warned");
  r = run(common + " --batch-size 32 --nproc-per-node 2 --sync-batchnorm --master-port " + std::to_string(port()) +
          " --output " + warned.string());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "--sync-batchnorm")) << r.err;
  EXPECT_TRUE(contains(r.err, "no BatchNorm")) << r.err;
}

// Evaluation's counts are summed over the ranks' unpadded shards: 91 test images, 46 and
// 45, give the accuracy one process finds on all 91.
TEST(CliDistributed, EvaluationCountsEverySampleOnce) {
  const auto data = image_folder("images", 45, 46), dir = fresh_dir("run");
  auto r = run("train --model resnet18 --data " + data.string() + " --test-data " + data.string() +
               " --epochs 1 --batch-size 16 --threads 1 --workers 1 --json --nproc-per-node 2 --master-port " +
               std::to_string(port()) + " --output " + dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  // One rank printed: one JSON line.
  std::istringstream lines(r.out);
  std::string line, last;
  int n = 0;
  while (std::getline(lines, line)) {
    if (!line.empty()) last = line, ++n;
  }
  ASSERT_EQ(n, 1) << r.out;
  const double accuracy = json::parse(last).at("test_accuracy").get<double>();
  auto e = run("eval " + dir.string() + " --data " + data.string() + " --threads 1 --json --no-optimise");
  ASSERT_EQ(e.status, 0) << e.err;
  const auto j = json::parse(e.out);
  EXPECT_EQ(j.at("images"), 91);
  EXPECT_DOUBLE_EQ(accuracy, j.at("accuracy").get<double>()) << last;
}

TEST(CliDistributed, AKilledRankStopsTheOthersNamingItAndTheCheckpointStays) {
  for (int killed : {1, 0}) {
    SCOPED_TRACE("killing rank " + std::to_string(killed));
    const auto dir = fresh_dir("run" + std::to_string(killed));
    const int p = port();
    const std::string args = "train --model resnet18 --limit 1024 --batch-size 32 --epochs 4 --threads 1 --workers 1 "
                             "--test-data '' -q --timeout 30 --output " + dir.string();
    Rank r0(args, rank_env(0, 2, p), "r0"), r1(args, rank_env(1, 2, p), "r1");
    // After the first epoch's checkpoint, mid-way through the second.
    const fs::path ckpt = dir / "checkpoint.safetensors";
    const auto until = Clock::now() + std::chrono::seconds(120);
    while (!fs::exists(ckpt) && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(fs::exists(ckpt)) << r0.error() << r1.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    const std::string saved = slurp(ckpt);
    Rank& victim = killed == 0 ? r0 : r1;
    Rank& survivor = killed == 0 ? r1 : r0;
    ::kill(victim.pid, SIGKILL);
    const auto t0 = Clock::now();
    const auto status = survivor.wait(std::chrono::seconds(45));
    ASSERT_TRUE(status.has_value()) << "the surviving rank still runs 45 s after the other was killed";
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(30));
    EXPECT_NE(*status, 0);
    const std::string err = survivor.error();
    EXPECT_TRUE(contains(err, "rank " + std::to_string(killed))) << err;
    EXPECT_EQ(slurp(ckpt), saved);
    EXPECT_EQ(metalhead::train::checkpoint_info(ckpt).epoch, 1);
    EXPECT_NO_THROW(metalhead::train::load_checkpoint(ckpt));
  }
}

TEST(CliDistributed, MismatchedOptionsAreRefusedOnEveryRank) {
  const int p = port();
  const std::string args = "train --model resnet18 " + kSmall + " --batch-size 32 --timeout 30 --output " +
                           fresh_dir("run").string();
  Rank r0(args + " --lr 0.1", rank_env(0, 2, p), "m0"), r1(args + " --lr 0.05", rank_env(1, 2, p), "m1");
  for (Rank* r : {&r0, &r1}) {
    const auto status = r->wait(std::chrono::seconds(60));
    ASSERT_TRUE(status.has_value());
    EXPECT_NE(*status, 0);
    const std::string err = r->error();
    EXPECT_TRUE(contains(err, "differ from rank 0's")) << err;
    EXPECT_TRUE(contains(err, "\"lr\"")) << err;
  }
}

TEST(CliDistributed, BadLaunchesGetClearErrors) {
  const std::string args = "train --model resnet18 " + kSmall + " --batch-size 32 --timeout 3 --output " +
                           fresh_dir("run").string();
  auto r = run(args, "WORLD_SIZE=2");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "RANK is not")) << r.err;
  r = run(args, "WORLD_SIZE=2 RANK=2");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "RANK=2")) << r.err;
  r = run(args + " --nproc-per-node 0");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "--nproc-per-node must be at least 1")) << r.err;
  // A port someone else listens on.
  const int taken = port();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(taken));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  r = run(args, "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(taken));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "already in use")) << r.err;
  ::close(fd);
  // A master nobody serves: an error within the timeout (3 s), not a hang.
  const auto t0 = Clock::now();
  r = run(args, "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port()));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(20));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "cannot reach the rendezvous store")) << r.err;
}

// --resume with another world size: 2 ranks for the first epoch, then 1 for the second.
TEST(CliDistributed, ResumesWithAnotherWorldSize) {
  const auto dir = fresh_dir("run");
  auto r = run("train --model resnet18 --limit 192 " + kQuiet + " --epochs 2 --stop-after 1 --batch-size 32 --nproc-per-node 2 "
               "--master-port " + std::to_string(port()) + " --output " + dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(metalhead::train::checkpoint_info(dir / "checkpoint.safetensors").epoch, 1);
  r = run("train --resume " + dir.string() + " --threads 1 -q");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(metalhead::train::checkpoint_info(dir / "checkpoint.safetensors").epoch, 2);
}
