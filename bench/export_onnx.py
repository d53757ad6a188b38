# export_onnx.py — torchvision models as ONNX files for ONNX Runtime (bench/inference).
#   python3 bench/export_onnx.py DIR NAME:BATCH ...    writes DIR/NAME-BATCH.onnx (skips existing)
import os, sys, warnings
import torch, torchvision

warnings.filterwarnings("ignore")
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for job in sys.argv[2:]:
    name, batch = job.split(":")
    path = os.path.join(out, f"{name}-{batch}.onnx")
    if os.path.exists(path):
        continue
    kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    model = getattr(torchvision.models, name)(**kwargs).eval()
    side = 299 if name == "inception_v3" else 224
    x = torch.randn(int(batch), 3, side, side)
    tmp = path + ".tmp"
    torch.onnx.export(model, x, tmp, opset_version=17, input_names=["images"], output_names=["logits"])
    os.replace(tmp, path)
