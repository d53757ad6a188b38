# onnx_check.py FILE — Debian's python3-onnx checker on an exported file, the full check
# with shape inference; prints the metadata and the inferred output shape as JSON.
import json
import sys

import onnx

model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
out = inferred.graph.output[0].type.tensor_type.shape.dim
print(json.dumps({
    "metadata": {p.key: p.value for p in model.metadata_props},
    "inputs": [i.name for i in model.graph.input],
    "outputs": [o.name for o in model.graph.output],
    "output_dims": [d.dim_param or d.dim_value for d in out],
    "opset": model.opset_import[0].version,
}))
