#!/usr/bin/python3
# Every torchvision row's pretrained_cfg in `metalhead list --json` against Debian's
# torchvision: the weights the registry loads (DEFAULT; vit_h_14's and regnet_y_128gf's
# at 224) and their evaluation transform (resize, crop, interpolation, mean, std) and
# class count.
#   pretrained_cfg_torchvision.py path/to/metalhead
import json, subprocess, sys
import torchvision

rows = json.loads(subprocess.run([sys.argv[1], "list", "--json"], check=True, capture_output=True, text=True).stdout)
problems, checked = [], 0
for row in rows:
    if row["source"] != "torchvision":
        continue
    name, cfg = row["name"], row["pretrained_cfg"]
    enum = torchvision.models.get_model_weights(name)
    w = enum.IMAGENET1K_SWAG_LINEAR_V1 if name in ("vit_h_14", "regnet_y_128gf") else enum.DEFAULT
    t = w.transforms()
    want = {
        "weights": f"{type(w).__name__}.{w.name}",
        "naming": "torchvision",
        "resize": t.resize_size[0],
        "input_size": [3, t.crop_size[0], t.crop_size[0]],
        "interpolation": t.interpolation.value,
        "mean": list(t.mean),
        "std": list(t.std),
        "num_classes": len(w.meta["categories"]),
        "crop_mode": "center",
    }
    for key, value in want.items():
        got = cfg[key]
        same = all(abs(a - b) < 1e-9 for a, b in zip(got, value)) if key in ("mean", "std") else got == value
        if not same:
            problems.append(f"{name}: {key} is {got!r}, torchvision's {value!r}")
    if abs(cfg["crop_pct"] - t.crop_size[0] / t.resize_size[0]) > 1e-3:
        problems.append(f"{name}: crop_pct {cfg['crop_pct']} but torchvision crops {t.crop_size[0]} of {t.resize_size[0]}")
    checked += 1
print(f"{checked} torchvision rows checked")
if checked < 80 or problems:
    print("\n".join(problems) or "fewer than the 80 torchvision rows")
    sys.exit(1)
