// allreduce.cpp — all-reduce bandwidth of metalhead::train::ProcessGroup (c10d Gloo) over
// this machine's loopback, one JSON line per size from rank 0. Started once per rank with
// torchrun's environment (bench/distributed does it); bench/allreduce.py is its twin on
// Python's torch.distributed, with the same sizes and counts.
//   RANK=r WORLD_SIZE=2 MASTER_PORT=p build/metalhead_bench_allreduce
#include <metalhead/distributed.h>

#include <torch/types.h>

#include <chrono>
#include <cstdio>

int main() {
  auto env = metalhead::train::distributed_environment();
  if (!env) {
    std::fprintf(stderr, "metalhead_bench_allreduce: start it with RANK, WORLD_SIZE and MASTER_PORT set\n");
    return 2;
  }
  metalhead::train::ProcessGroup group(*env);
  for (const auto& [mb, n] : {std::pair{1.0, 100}, std::pair{25.0, 20}, std::pair{100.0, 8}}) {
    auto t = torch::ones({static_cast<int64_t>(mb * 1024 * 1024 / 4)});
    for (int i = 0; i < 3; ++i) group.all_reduce_sum(t);  // connections and buffers warm
    group.barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) group.all_reduce_sum(t);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n;
    if (group.rank() == 0) {
      const double bytes = mb * 1024 * 1024, w = static_cast<double>(group.world_size());
      // Bus bandwidth as nccl-tests count it: 2 (W - 1) / W of the bytes cross each link.
      std::printf("{\"impl\": \"metalhead\", \"megabytes\": %g, \"seconds\": %.6f, \"algbw_gbps\": %.3f, "
                  "\"busbw_gbps\": %.3f}\n",
                  mb, s, bytes / s / 1e9, bytes / s / 1e9 * 2 * (w - 1) / w);
    }
  }
  return 0;
}
