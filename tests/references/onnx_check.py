# onnx_check.py MANIFEST.json — for each exported file: Debian's python3-onnx checker (the
# full check, with shape inference), then OpenCV's DNN module (Debian's python3-opencv) on
# its raw float32 input, writing the raw float32 output to "opencv_output". One JSON line
# per entry: the metadata, input and output names, inferred output dims, and OpenCV's
# output dims or its error.
import json
import sys

import cv2
import numpy as np
import onnx

for job in json.load(open(sys.argv[1])):
    row = {"onnx": job["onnx"]}
    try:
        model = onnx.load(job["onnx"])
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        out = inferred.graph.output[0].type.tensor_type.shape.dim
        row.update({
            "metadata": {p.key: p.value for p in model.metadata_props},
            "inputs": [i.name for i in model.graph.input],
            "outputs": [o.name for o in model.graph.output],
            "output_dims": [d.dim_param or d.dim_value for d in out],
            "opset": model.opset_import[0].version,
        })
    except Exception as e:  # the checker's refusal is the test's failure, with its words
        row["checker_error"] = str(e)[-2000:]
    if "opencv_output" in job:
        try:
            x = np.fromfile(job["input"], dtype=np.float32).reshape(job["shape"])
            net = cv2.dnn.readNetFromONNX(job["onnx"])
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setInput(x, "images")
            y = net.forward()
            np.ascontiguousarray(y, dtype=np.float32).tofile(job["opencv_output"])
            row["opencv_dims"] = list(y.shape)
        except cv2.error as e:
            lines = [l for l in str(e).splitlines() if l.strip()]
            row["opencv_error"] = " ".join(lines[-3:])[-600:]
    print(json.dumps(row), flush=True)
