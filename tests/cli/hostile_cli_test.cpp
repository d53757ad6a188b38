// The program given hostile input (issue 15): FIFOs, absurd sizes and thread counts, corrupt
// and non-finite checkpoints, two writers of one run. Each must end quickly with a clear
// message and a non-zero exit, never a hang, an abort or a libtorch stack dump.
#include "run.h"
#include "temp_dir.h"

#include <metalhead/weights/safetensors.h>

#include <sys/stat.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;

namespace {

// No libtorch C++ stack in what the user reads.
void expect_clean(const cli_test::Run& r) {
  EXPECT_FALSE(contains(r.err, "Exception raised from")) << r.err;
  EXPECT_FALSE(contains(r.err, "frame #")) << r.err;
  EXPECT_NE(r.status, 124) << "timed out: " << r.err;
}

// A hang fails as exit 124 instead of blocking the suite.
const std::string kTimeout = "timeout 60";

const std::string kQuick = "--model resnet18 --limit 128 --batch-size 64 --threads 1 --workers 1 --test-data '' -q";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(CliHostile, FifosAreRefusedWithoutHanging) {
  const auto dir = fresh_dir("fifo");
  const fs::path fifo = dir / "checkpoint.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& args : {"classify x.png --model resnet18 --weights " + fifo.string(), "eval " + fifo.string(),
                                  "train --resume " + dir.string()}) {
    SCOPED_TRACE(args);
    const auto r = run(args, kTimeout);
    expect_clean(r);
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "not a regular file (a FIFO)")) << r.err;
  }
}

TEST(CliHostile, AbsurdSizesAndThreadCountsAreUsageErrors) {
  for (const std::string& args :
       {std::string("summary resnet18 --input-size -5 -5"), std::string("summary resnet18 --input-size 100000 100000"),
        std::string("bench resnet18 --batch-size 1000000000 --seconds 0.01"), std::string("bench resnet18 --threads 1000"),
        std::string("eval nothing --threads 1000"), std::string("classify x.png --weights w --threads 1000"),
        "train " + kQuick + " --image-size 100000 100000", "train " + kQuick + " --pad-crop 100000",
        "train " + kQuick + " --workers 1000000"}) {
    SCOPED_TRACE(args);
    const auto r = run(args, kTimeout);
    expect_clean(r);
    EXPECT_EQ(r.status, 2) << r.err;
  }
  EXPECT_TRUE(contains(run("bench resnet18 --threads 1000").err, "more than 4 ×"));
  EXPECT_TRUE(contains(run("summary resnet18 --input-size 100000 100000").err, "from 1 to 8192"));
  EXPECT_TRUE(contains(run("bench resnet18 --batch-size 1000000000").err, "more than a quarter"));
}

TEST(CliHostile, DivergedTrainingSavesNoCheckpoint) {
  const auto dir = fresh_dir("diverged");
  const auto r = run("train --model resnet18 --limit 64 --batch-size 64 --epochs 1 --threads 1 --workers 1 "
                     "--test-data '' -q --lr 1e39 --output " + (dir / "run").string(), kTimeout);
  expect_clean(r);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "not finite")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "run" / "checkpoint.safetensors"));
}

TEST(CliHostile, CorruptAndNonFiniteCheckpointsAreRefused) {
  const auto dir = fresh_dir("corrupt");
  const fs::path run_dir = dir / "run", ckpt = run_dir / "checkpoint.safetensors";
  ASSERT_EQ(run("train " + kQuick + " --epochs 2 --stop-after 1 --output " + run_dir.string()).status, 0);
  const std::string good = slurp(ckpt);

  // A flipped bit in the data: eval and resume refuse it as corrupt.
  std::string bad = good;
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x40);
  std::ofstream(ckpt, std::ios::binary) << bad;
  const auto png_dir = dir / "img";
  ASSERT_EQ(run("samples --count 1 --output " + png_dir.string()).status, 0);
  const auto png = fs::directory_iterator(png_dir)->path();
  for (const std::string& args : {"eval " + run_dir.string(), "train --resume " + run_dir.string() + " --threads 1",
                                  "classify " + png.string() + " --weights " + ckpt.string()}) {
    SCOPED_TRACE(args);
    const auto r = run(args, kTimeout);
    expect_clean(r);
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "corrupt")) << r.err;
  }

  // NaN weights written with a valid digest: classify and eval fail loudly.
  std::ofstream(ckpt, std::ios::binary) << good;
  auto st = metalhead::weights::read_safetensors(ckpt);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (auto& [name, t] : st.tensors) {
    tensors.emplace_back(name, name.rfind("training/", 0) == 0 ? t.clone() : t.clone().fill_(NAN));
  }
  metalhead::weights::write_safetensors(ckpt, tensors, st.metadata);
  auto r = run("classify " + png.string() + " --weights " + ckpt.string() + " --threads 1", kTimeout);
  expect_clean(r);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "non-finite")) << r.err;
  r = run("eval " + run_dir.string() + " --limit 64 --threads 1", kTimeout);
  expect_clean(r);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "non-finite")) << r.err;
}

TEST(CliHostile, AStaleTemporaryIsRemovedOnResume) {
  const auto dir = fresh_dir("stale");
  const fs::path run_dir = dir / "run";
  ASSERT_EQ(run("train " + kQuick + " --epochs 2 --stop-after 1 --output " + run_dir.string()).status, 0);
  // What a SIGKILL during a save leaves: a temporary of a process that is gone (pid 2^22 + 1 is above pid_max's default).
  const fs::path stale = run_dir / ".checkpoint.safetensors.tmp-4194305-0";
  std::ofstream(stale) << "partial";
  const auto r = run("train --resume " + run_dir.string() + " --threads 1 --workers 1 -q", kTimeout);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(stale));
}
