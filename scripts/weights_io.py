"""Shared by scripts/export-weights and tests/parity/make-reference: building torchvision
models the way our registry names them, and writing safetensors files without the
`safetensors` package (the format is a little-endian u64 header length, a JSON header,
then the raw bytes)."""

import json
import os
import struct
import tempfile

DTYPES = {  # torch dtype name -> safetensors dtype
    "float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, torch.Tensor). Written to a temporary file, then renamed."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors:
        t = t.detach().cpu().contiguous()
        data = t.numpy().tobytes() if t.dtype != _bfloat16() else t.view(_int16()).numpy().tobytes()
        header[name] = {"dtype": DTYPES[str(t.dtype).replace("torch.", "")], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _bfloat16():
    import torch
    return torch.bfloat16


def _int16():
    import torch
    return torch.int16


# Registry name -> timm's name, where they differ.
TIMM_NAMES = {
    "vit_b_16": "vit_base_patch16_224", "vit_b_32": "vit_base_patch32_224",
    "vit_l_16": "vit_large_patch16_224", "vit_l_32": "vit_large_patch32_224",
    "vit_h_14": "vit_huge_patch14_224",
    "efficientnet_b8": "tf_efficientnet_b8",  # timm's b8 weights are the TF port's
    "efficientnet_v2_s": "tf_efficientnetv2_s", "efficientnet_v2_m": "tf_efficientnetv2_m",
    "efficientnet_v2_l": "tf_efficientnetv2_l",
    "mnasnet1_0": "mnasnet_100",
}


def torchvision_model(name, **kwargs):
    """torchvision's builder for one of our registry names. GoogLeNet and Inception v3
    without their auxiliary heads (ours have none)."""
    import torchvision.models as models
    if name in ("googlenet", "inception_v3"):
        kwargs.setdefault("aux_logits", False)
        kwargs.setdefault("init_weights", True)
    return getattr(models, name)(**kwargs)
