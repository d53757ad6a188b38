// launch.cpp — `metalhead train --nproc-per-node N`: torchrun's local launch without
// Python. The program starts itself N times with torchrun's environment and waits; when
// a rank fails, the others get --timeout to notice (they exit on their own, naming the
// lost rank) before they are killed.
#include "../cli.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <thread>

namespace cli {

namespace {

// Our own command line, less --nproc-per-node N (or --nproc-per-node=N).
std::vector<std::string> own_arguments_without_launch() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t at = 0; at < all.size();) {
    const size_t end = all.find('\0', at);
    args.push_back(all.substr(at, end - at));
    at = end == std::string::npos ? all.size() : end + 1;
  }
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc-per-node") {
      ++i;  // and its value
    } else if (args[i].rfind("--nproc-per-node=", 0) != 0) {
      kept.push_back(args[i]);
    }
  }
  return kept;
}

}  // namespace

void launch_local_ranks(int nproc, int master_port, std::chrono::seconds timeout) {
  if (nproc < 1) throw CLI::ValidationError("--nproc-per-node must be at least 1, got " + std::to_string(nproc));
  if (const char* w = std::getenv("WORLD_SIZE"); w && *w) {
    throw CLI::ValidationError("--nproc-per-node inside a group that torchrun started (WORLD_SIZE=" + std::string(w) +
                               "): give one launcher, not both");
  }
  const std::vector<std::string> args = own_arguments_without_launch();
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const std::string threads = std::to_string(std::max(1, cores / nproc));
  const pid_t launcher = ::getpid();
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t p : pids) ::kill(p, SIGTERM);
      throw std::runtime_error("--nproc-per-node: cannot start rank " + std::to_string(r) + ": fork failed");
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed launcher takes its ranks with it
      if (::getppid() != launcher) ::_exit(1);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 0);
      ::setenv("MASTER_PORT", std::to_string(master_port).c_str(), 1);
      ::setenv("OMP_NUM_THREADS", threads.c_str(), 0);  // the cores shared out, as torchrun does
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  // Wait for all; after the first failure, the others have the timeout (and a margin to
  // write their message) before they are killed.
  using clock = std::chrono::steady_clock;
  std::optional<clock::time_point> deadline;
  int failed_rank = -1, failed_status = 0, running = nproc;
  bool killed = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      --running;
      const int rank = static_cast<int>(std::find(pids.begin(), pids.end(), pid) - pids.begin());
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && failed_rank < 0) {
        failed_rank = rank;
        failed_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        deadline = clock::now() + timeout + std::chrono::seconds(10);
      }
      continue;
    }
    if (deadline && clock::now() > *deadline && !killed) {
      for (pid_t p : pids) ::kill(p, SIGKILL);  // reaped as they go
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (failed_rank >= 0) {
    throw std::runtime_error("rank " + std::to_string(failed_rank) + " of " + std::to_string(nproc) +
                             " failed (exit status " + std::to_string(failed_status) + ")" +
                             (killed ? "; the ranks still running after --timeout were stopped" : ""));
  }
}

}  // namespace cli
