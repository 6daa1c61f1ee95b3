#!/usr/bin/env python3
"""Writes the checkpoint seeds of tests/fuzz/corpus/checkpoint/ (small files
in the format of runtime/include/tinycnn/checkpoint.h), so the fuzzer starts
from valid files rather than from nothing.  Run from the repository root."""
import json, os, struct, zlib

OUT = "tests/fuzz/corpus/checkpoint"

def tensor(name, dims, values=None):
    n = 1
    for d in dims:
        n *= d
    values = values if values is not None else [0.25 * (i % 7) - 0.5 for i in range(n)]
    b = name.encode()
    return (struct.pack("<I", len(b)) + b + struct.pack("<I", len(dims)) +
            b"".join(struct.pack("<q", d) for d in dims) +
            b"".join(struct.pack("<f", v) for v in values))

def checkpoint(model, meta, tensors, extra_sections=(), version=1):
    sections = [(1, model.encode()), (2, meta.encode()),
                (3, struct.pack("<I", len(tensors)) + b"".join(tensors))]
    sections += list(extra_sections)
    body = b"TCNNCKPT" + struct.pack("<II", version, len(sections))
    for kind, data in sections:
        body += struct.pack("<IQ", kind, len(data)) + data
    return body + struct.pack("<I", zlib.crc32(body) & 0xffffffff)

MODEL = json.dumps({
    "name": "tiny",
    "inputs": [{"name": "image", "shape": [1, 2, 2]},
               {"name": "label", "shape": [], "role": "label"}],
    "nodes": [{"name": "f", "type": "Flatten", "inputs": ["image"]},
              {"name": "fc", "type": "Linear", "inputs": ["f"], "params": {"out_features": 3}},
              {"name": "loss", "type": "SoftmaxCrossEntropy", "inputs": ["fc", "label"]}],
    "output": "fc", "loss": "loss"}, separators=(",", ":"))
META = json.dumps({"format": "tinycnn-training-state", "epoch": 1, "batch": 0,
                   "optimizer_steps": 5}, separators=(",", ":"))
W = [tensor("fc.weight", [3, 4]), tensor("fc.bias", [3])]
ADAM = [tensor("optim/fc.weight.m", [3, 4]), tensor("optim/fc.weight.v", [3, 4]),
        tensor("optim/fc.bias.m", [3]), tensor("optim/fc.bias.v", [3])]

SEEDS = {
    "weights": checkpoint(MODEL, "{}", W),
    "adam": checkpoint(MODEL, META, W + ADAM),
    "ranks": checkpoint("", "", [tensor("s", []), tensor("e", [0]), tensor("r6", [1, 2, 1, 2, 1, 1])]),
    "unknown-section": checkpoint(MODEL, "{}", W, extra_sections=[(9, b"later")]),
    "nonfinite": checkpoint(MODEL, "{}", [tensor("fc.weight", [3, 4], [float("nan")] * 12),
                                           tensor("fc.bias", [3], [float("inf")] * 3)]),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(data)
