# allreduce.py — bench/allreduce.cpp's twin: torch.distributed's Gloo all-reduce over
# loopback, same sizes and counts, one JSON line per size from rank 0.
import json, os, time

import torch
import torch.distributed as dist

torch.set_num_threads(1)
dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
for mb, n in ((1.0, 100), (25.0, 20), (100.0, 8)):
    t = torch.ones(int(mb * 1024 * 1024 / 4))
    for _ in range(3):
        dist.all_reduce(t)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(n):
        dist.all_reduce(t)
    s = (time.perf_counter() - t0) / n
    if rank == 0:
        b = mb * 1024 * 1024
        print(json.dumps({"impl": "pytorch", "megabytes": mb, "seconds": s, "algbw_gbps": b / s / 1e9,
                          "busbw_gbps": b / s / 1e9 * 2 * (world - 1) / world}), flush=True)
dist.destroy_process_group()
