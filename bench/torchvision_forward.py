#!/usr/bin/python3
"""forward-pass throughput of torchvision models, the counterpart of forward.cpp.

    torchvision_forward.py [--threads N] [--seconds S] MODEL:BATCH ...

Prints one JSON line per measurement. Models are built with weights=None and, for
googlenet/inception_v3, aux_logits=False (as ours), in eval mode under inference_mode.
"""
import argparse
import json
import time

import torch
import torchvision.models as M

SIZES = {"inception_v3": 299}


def build(name):
    kw = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    return getattr(M, name)(weights=None, **kw).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--malloc", default="default", help="label only: the MALLOC_* environment it runs under")
    ap.add_argument("jobs", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for job in args.jobs:
        name, _, batch = job.partition(":")
        batch = int(batch or 1)
        model = build(name)
        size = SIZES.get(name, 224)
        x = torch.randn(batch, 3, size, size)
        with torch.inference_mode():
            for _ in range(2):
                model(x)
            n, t0 = 0, time.perf_counter()
            while True:
                model(x)
                n += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= args.seconds:
                    break
        print(json.dumps({"impl": "torchvision", "model": name, "batch": batch, "threads": args.threads,
                          "malloc": args.malloc, "images_per_s": n * batch / elapsed, "ms_per_batch": 1000 * elapsed / n}), flush=True)


if __name__ == "__main__":
    main()
