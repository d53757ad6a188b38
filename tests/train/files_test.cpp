// The run folder under faults (issue 15): temporaries removed on SIGINT/SIGTERM and after
// SIGKILL, one writer per folder, no checkpoint of non-finite weights, batches that fit.
#include <metalhead/atomic_file.h>
#include <metalhead/data/idx.h>
#include <metalhead/train.h>

#include "flux/testing.h"
#include "temp_dir.h"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
namespace mt = metalhead::train;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A pid that is not running now: a child that has exited and been reaped.
pid_t gone_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

}  // namespace

TEST(AtomicFile, SigtermDuringAWriteLeavesNoTemporary) {
  const auto dir = fresh_dir("sigterm");
  for (int signal : {SIGTERM, SIGINT}) {
    const pid_t child = ::fork();
    if (child == 0) {
      metalhead::remove_temporaries_on_signal();
      metalhead::AtomicFile f(dir / "checkpoint.safetensors", "test");
      f.write("partial", 7);
      std::raise(signal);  // mid-write, as a Ctrl-C or `kill` would come
      ::_exit(3);          // not reached
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal) << "the signal still ends the process";
    EXPECT_EQ(names_in(dir), std::vector<std::string>{}) << "signal " << signal;
  }
}

TEST(AtomicFile, StaleTemporariesOfDeadProcessesAreRemoved) {
  const auto dir = fresh_dir("stale");
  const std::string dead = ".checkpoint.safetensors.tmp-" + std::to_string(gone_pid()) + "-0";
  const std::string alive = ".checkpoint.safetensors.tmp-" + std::to_string(::getppid()) + "-1";
  for (const auto& n : {dead, alive, std::string("checkpoint.safetensors"), std::string(".tmp-notes")}) {
    std::ofstream(dir / n) << "x";
  }
  EXPECT_EQ(metalhead::remove_stale_temporaries(dir), 1);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{alive, ".tmp-notes", "checkpoint.safetensors"}));
}

TEST(RunFolderLock, ASecondWriterIsRefused) {
  const auto dir = fresh_dir("lock");
  {
    mt::RunFolderLock first(dir);
    expect_error<std::runtime_error>([&] { mt::RunFolderLock second(dir); },
                                     {"another training (process " + std::to_string(::getpid()) + ")", dir.string()});
  }
  EXPECT_NO_THROW(mt::RunFolderLock again(dir));  // released with the first
}

TEST(RunFolderLock, AnUnwritableFolderIsRefusedAtOnce) {
  expect_error<std::runtime_error>([] { mt::RunFolderLock lock("/proc/metalhead-no-such-run"); },
                                   {"cannot write to the run folder /proc/metalhead-no-such-run"});
}

TEST(Trainer, RefusesToCheckpointNonFiniteWeights) {
  auto d = metalhead::data::fashion_mnist(metalhead::data::Split::train);
  d.images = d.images.narrow(0, 0, 64);
  d.labels = d.labels.narrow(0, 0, 64);
  // 1e39 is a finite double and an infinite float: one step makes the weights infinite,
  // and one batch per epoch means no later loss shows it.
  mt::Trainer t({.model = "resnet18", .epochs = 1, .batch_size = 64, .lr = 1e39, .workers = 1}, d);
  t.train_epoch();
  const auto dir = fresh_dir("nonfinite");
  expect_error<std::runtime_error>([&] { t.save(dir / "checkpoint.safetensors"); }, {"not finite"});
  EXPECT_FALSE(fs::exists(dir / "checkpoint.safetensors"));
  EXPECT_EQ(names_in(dir), std::vector<std::string>{});
}

TEST(Trainer, ABatchThatCannotFitIsRefusedUpFront) {
  auto d = metalhead::data::fashion_mnist(metalhead::data::Split::train);
  d.images = d.images.narrow(0, 0, 128);
  d.labels = d.labels.narrow(0, 0, 128);
  expect_error<std::invalid_argument>(
      [&] { mt::Trainer t({.model = "resnet18", .batch_size = 128, .workers = 1, .image_size = {8192, 8192}}, d); },
      {"GB, more than a quarter"});
  expect_error<std::invalid_argument>([] { mt::TrainOptions{.image_size = {100000, 100000}}.validate(); },
                                      {"from 1 to 8192"});
  expect_error<std::invalid_argument>([] { mt::TrainOptions{.pad_crop = 100000}.validate(); }, {"crop padding"});
  expect_error<std::invalid_argument>([] { mt::TrainOptions{.workers = 1000000}.validate(); },
                                      {"workers must be from 1 to 256"});
}
