#!/usr/bin/python3
"""training-step throughput of a torchvision model in PyTorch eager, the counterpart of
`metalhead bench --json` (same model, input, batch, loss and optimiser step).

    torchvision_train.py [--threads N] [--seconds S] [--inchannels C] [--nclasses K]
                         [--input-size H W] MODEL:BATCH ...

The step: zero_grad, cross-entropy of model(x), backward, SGD with momentum 0.9 and weight
decay 5e-4 (what `metalhead train` does by default). One JSON line per measurement.
"""
import argparse
import json
import time

import torch
import torchvision.models as M


def build(name, inchannels, nclasses):
    kw = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = getattr(M, name)(weights=None, num_classes=nclasses, **kw)
    if inchannels != 3:  # our registry builds the first convolution for the data's channels
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        replacement = torch.nn.Conv2d(inchannels, first.out_channels, first.kernel_size, first.stride,
                                      first.padding, bias=first.bias is not None)
        for parent in model.modules():
            for key, child in parent.named_children():
                if child is first:
                    setattr(parent, key, replacement)
    return model.train()


def rate(batch, seconds, step):
    step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n * batch / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--inchannels", type=int, default=3)
    ap.add_argument("--nclasses", type=int, default=1000)
    ap.add_argument("--input-size", type=int, nargs=2, default=[224, 224])
    ap.add_argument("jobs", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for job in args.jobs:
        name, batch = job.split(":")
        batch = int(batch)
        model = build(name, args.inchannels, args.nclasses)
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(batch, args.inchannels, *args.input_size)
        y = torch.randint(0, args.nclasses, (batch,))

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        print(json.dumps({"impl": "pytorch", "model": name, "batch": batch, "threads": args.threads,
                          "train_img_per_s": rate(batch, args.seconds, step)}), flush=True)


if __name__ == "__main__":
    main()
