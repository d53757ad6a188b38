# pytorch_forward.py — PyTorch's forward throughput on a torchvision model, by path:
#   eager, channels_last, frozen (torch.jit.freeze + torch.jit.optimize_for_inference of a
#   trace), bf16 (autocast on channels_last).
#   python3 bench/pytorch_forward.py --path P --threads T --seconds S MODEL:BATCH
# prints one JSON line, as the other bench programs do.
import argparse, json, resource, time, warnings

import torch
import torchvision

warnings.filterwarnings("ignore")
p = argparse.ArgumentParser()
p.add_argument("--path", required=True, choices=["eager", "channels_last", "frozen", "bf16"])
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seconds", type=float, default=3)
p.add_argument("job")
a = p.parse_args()
torch.set_num_threads(a.threads)
name, batch = a.job.split(":")
batch = int(batch)
kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
model = getattr(torchvision.models, name)(**kwargs).eval()
side = 299 if name == "inception_v3" else 224
x = torch.randn(batch, 3, side, side)

with torch.no_grad():
    if a.path == "eager":
        run = lambda: model(x)
    elif a.path == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
        run = lambda: model(x)
    elif a.path == "frozen":
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x).eval()))
        run = lambda: frozen(x)
    else:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)

        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x)

    for _ in range(3):
        run()
    n, t0 = 0, time.perf_counter()
    while True:
        run()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= a.seconds:
            break
print(json.dumps({"impl": "pytorch", "path": a.path, "version": torch.__version__, "model": name, "batch": batch,
                  "threads": a.threads, "images_per_s": n * batch / elapsed, "ms_per_batch": 1000 * elapsed / n,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
