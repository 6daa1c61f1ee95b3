#!/usr/bin/env python3
"""Compares every standard layer of tiny-cnn with PyTorch.

    compare_layers.py --dump LAYER_DUMP --plugins DIR --work DIR [--extra-plugin FILE]...
        runs LAYER_DUMP DIR WORK [FILE...] (tests/torch/layer_dump.c) and compares
        what it wrote;
    compare_layers.py --manifest DIR
        compares a folder written earlier.

For each case of the manifest the equivalent torch operation is built in
float64 from the same inputs, weights and parameters; its output, input
gradients (through the same grad_output) and weight gradients, and for
BatchNorm the running statistics, are compared with tiny-cnn's by
    max|a - b| / max(max|b|, 1e-6) <= 1e-4        (a: tiny-cnn, b: torch).
Why 1e-4: tiny-cnn computes in float32 (6e-8 relative per rounding). The
longest sums here (conv_gemm's weight gradient, 33,800 products per
element; BatchNorm over 2,040 values per channel) collect roundings of
random sign, which grow like the square root of their number: measured
below 1e-6, two orders under the tolerance, while a wrong index, factor,
padding, stride or statistic gives 1e-3 (a factor off by 0.1 %) to 1.

Fails (exit 1) on any tensor over the tolerance, any case the dump could
not run, any case without a torch reference, and any layer type the plugin
folder registered that has no case, so a new layer cannot go untested.
"""
import argparse
import json
import math
import os
import subprocess
import sys

TOLERANCE = 1e-4
FLOOR = 1e-6

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # a missing tool is a failure, never a skip
    print(f"compare_layers: {e}: PyTorch and NumPy are needed; "
          "install them with scripts/install-deps.sh --test", file=sys.stderr)
    sys.exit(1)

torch.set_default_dtype(torch.float64)


class Case:
    """One manifest entry with its tensors loaded as float64 torch tensors."""

    def __init__(self, folder, entry):
        self.folder = folder
        self.e = entry
        self.name = entry["name"]
        self.type = entry["type"]
        self.p = entry["params"]

    def load(self, desc):
        data = np.fromfile(os.path.join(self.folder, desc["file"]), dtype=np.float32)
        shape = tuple(desc["shape"])
        if data.size != math.prod(shape):
            raise ValueError(f"{desc['file']}: {data.size} floats for shape {shape}")
        return torch.from_numpy(data.astype(np.float64).reshape(shape))

    def inputs(self, descs=None):
        """Leaf tensors; the non-label ones require a gradient."""
        out = []
        for d in descs if descs is not None else self.e["inputs"]:
            t = self.load(d)
            if not d["label"]:
                t.requires_grad_(True)
            out.append(t)
        return out

    def named(self, key):
        return {d["name"]: self.load(d) for d in self.e.get(key, [])}

    def weights(self):
        w = self.named("weights")
        for t in w.values():
            t.requires_grad_(True)
        return w

    def ip(self, name):
        return int(self.p[name])


# ---- torch references: (case, inputs, weights, state) -> output -----------
# state (a dict of float64 tensors) may be updated in place (BatchNorm).

def ref_conv2d(c, x, w, s):
    def axis(name, square):
        v = c.ip(name)
        return v if v != 0 else c.ip(square)
    stride = (axis("stride_h", "stride"), axis("stride_w", "stride"))
    padding = (axis("pad_h", "padding"), axis("pad_w", "padding"))
    dilation = (axis("dilation_h", "dilation"), axis("dilation_w", "dilation"))
    kh, kw = axis("kernel_h", "kernel_size"), axis("kernel_w", "kernel_size")
    if tuple(w["weight"].shape[2:]) != (kh, kw):
        raise ValueError(f"weight shape {tuple(w['weight'].shape)} for a {kh}x{kw} kernel")
    return F.conv2d(x[0], w["weight"], w.get("bias"), stride, padding, dilation,
                    c.ip("groups"))


def ref_linear(c, x, w, s):
    return F.linear(x[0], w["weight"], w.get("bias"))


def pool_args(c):
    k = c.ip("kernel_size")
    return k, c.ip("stride") or k, c.ip("padding")


def ref_max_pool2d(c, x, w, s):
    return F.max_pool2d(x[0], *pool_args(c))


def ref_avg_pool2d(c, x, w, s):
    return F.avg_pool2d(x[0], *pool_args(c), count_include_pad=True)


def ref_batch_norm(c, x, w, s):
    return F.batch_norm(x[0], s["running_mean"], s["running_var"], w.get("weight"),
                        w.get("bias"), bool(c.e["training"]), c.p["momentum"], c.p["eps"])


def ref_dropout_eval(c, x, w, s):
    return x[0]


REFERENCES = {
    "Conv2d": ref_conv2d,
    "Linear": ref_linear,
    "MaxPool2d": ref_max_pool2d,
    "AvgPool2d": ref_avg_pool2d,
    "GlobalAvgPool2d": lambda c, x, w, s: x[0].mean(dim=(2, 3)),
    "ReLU": lambda c, x, w, s: F.relu(x[0]),
    "LeakyReLU": lambda c, x, w, s: F.leaky_relu(x[0], c.p["negative_slope"]),
    "Sigmoid": lambda c, x, w, s: torch.sigmoid(x[0]),
    "Tanh": lambda c, x, w, s: torch.tanh(x[0]),
    "Softmax": lambda c, x, w, s: F.softmax(x[0], dim=c.ip("axis")),
    "Add": lambda c, x, w, s: sum(x[1:], x[0]),
    "Concat": lambda c, x, w, s: torch.cat(x, dim=c.ip("axis")),
    "Flatten": lambda c, x, w, s: x[0].reshape(x[0].shape[0], -1),
    "Dropout": ref_dropout_eval,  # training: see dropout_train_rows
    "BatchNorm2d": ref_batch_norm,
    "BatchNorm1d": ref_batch_norm,
    "SoftmaxCrossEntropy": lambda c, x, w, s: F.cross_entropy(x[0], x[1].long()).reshape(1),
}


# ---- comparison --------------------------------------------------------------

def rel_error(got, want):
    """max|got - want| / max(max|want|, FLOOR); inf for a shape mismatch or NaN."""
    got, want = got.detach(), want.detach()
    if tuple(got.shape) != tuple(want.shape):
        return math.inf, f"shape {tuple(got.shape)}, torch {tuple(want.shape)}"
    if got.numel() == 0:
        return 0.0, ""
    if not torch.isfinite(got).all():
        return math.inf, f"{int((~torch.isfinite(got)).sum())} non-finite values"
    scale = max(want.abs().max().item(), FLOOR)
    return (got - want).abs().max().item() / scale, ""


def forward_backward(c, ref, xs, w, state):
    y = ref(c, xs, w, state)
    grad_output = c.load(c.e["grad_output"])
    if tuple(y.shape) != tuple(grad_output.shape):
        raise ValueError(f"tiny-cnn's output has shape {tuple(grad_output.shape)}, "
                         f"torch's {tuple(y.shape)}")
    params = [t for t in xs + list(w.values()) if t.requires_grad]
    grads = torch.autograd.grad(y, params, grad_output, allow_unused=True)
    return y, dict(zip(map(id, params), grads))


def reference_rows(c):
    """(tensor, got, want) triples for one case."""
    ref = REFERENCES[c.type]
    w = c.weights()
    state = {k: v.clone() for k, v in c.named("state_initial").items()}
    for step in c.e["step_inputs"]:  # earlier training steps move the running statistics
        with torch.no_grad():
            ref(c, c.inputs(step), w, state)
    xs = c.inputs()
    y, g = forward_backward(c, ref, xs, w, state)
    rows = [("output", c.load(c.e["output"]), y)]
    for i, (x, d) in enumerate(zip(xs, c.e["grad_inputs"])):
        if d is not None:
            want = g.get(id(x))
            rows.append((f"grad input{i}", c.load(d),
                         want if want is not None else torch.zeros_like(x)))
    got_gw = c.named("grad_weights")
    for name, t in w.items():
        want = g.get(id(t))
        rows.append((f"grad {name}", got_gw[name],
                     want if want is not None else torch.zeros_like(t)))
    got_state = c.named("state")
    for name, want in state.items():
        rows.append((f"state {name}", got_state[name], want))
    return rows


def dropout_train_rows(c):
    """Dropout's training mask comes from tiny-cnn's own random stream, which
    torch cannot reproduce. What is checked instead: every output is 0 or
    x / (1 - p) (the mask read back from the output: the inputs are never 0),
    backward lets the gradient through that same mask with the same scale, and
    the kept fraction is 1 - p within 5 standard deviations."""
    p = c.p["p"]
    x = c.inputs()[0].detach()
    got_y = c.load(c.e["output"])
    mask = (got_y != 0).to(torch.float64)
    grad_output = c.load(c.e["grad_output"])
    rows = [("output (mask from output)", got_y, x * mask / (1 - p)),
            ("grad input0 (same mask)", c.load(c.e["grad_inputs"][0]),
             grad_output * mask / (1 - p))]
    n = mask.numel()
    kept = mask.mean().item()
    limit = 5 * math.sqrt(p * (1 - p) / n)
    rows.append(("kept fraction", abs(kept - (1 - p)), limit,
                 f"|{kept:.4f} - {1 - p:.4f}| of {n} elements, limit 5 sigma = {limit:.4f}"))
    return rows


def case_rows(c):
    """(tensor, error, limit, note) rows for one case."""
    if "error" in c.e:
        return [("(dump)", math.inf, TOLERANCE, c.e["error"])]
    if c.type not in REFERENCES:
        return [("(reference)", math.inf, TOLERANCE,
                 f"no torch reference for layer type {c.type}")]
    triples = dropout_train_rows(c) if c.type == "Dropout" and c.e["training"] else \
        reference_rows(c)
    rows = []
    for row in triples:
        if len(row) == 4:  # a statistic with its own limit
            rows.append(row)
        else:
            err, note = rel_error(row[1], row[2])
            rows.append((row[0], err, TOLERANCE, note))
    return rows


def compare(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    failed = 0
    worst, bad = {}, set()
    print(f"{'case':<22} {'tensor':<28} {'worst rel err':>13}  result")
    for entry in manifest["cases"]:
        c = Case(folder, entry)
        try:
            rows = case_rows(c)
        except Exception as e:  # a reference that cannot be built is a failure
            rows = [("(reference)", math.inf, TOLERANCE, f"{type(e).__name__}: {e}")]
        worst.setdefault(c.type, 0.0)
        for name, err, limit, note in rows:
            ok = err <= limit
            if not ok:
                failed += 1
                bad.add(c.type)
            if limit == TOLERANCE:
                worst[c.type] = max(worst[c.type], err)
            print(f"{c.name:<22} {name:<28} {err:>13.3e}  {'PASS' if ok else 'FAIL'}"
                  f"{'  ' + note if note else ''}")
    print()
    print(f"{'layer type':<22} {'worst rel err':>13}  result")
    for t in manifest["layer_types"]:
        if t not in worst:
            failed += 1
            print(f"{t:<22} {'-':>13}  FAIL  registered, but no case compares it")
        else:
            print(f"{t:<22} {worst[t]:>13.3e}  {'FAIL' if t in bad else 'PASS'}")
    for t in sorted(set(worst) - set(manifest["layer_types"])):
        print(f"{t:<22} {worst[t]:>13.3e}  FAIL  (a case for a type the folder did not "
              "register)")
    if failed:
        plural = "s" if failed != 1 else ""
        print(f"\nFAIL: {failed} comparison{plural} failed (tolerance {TOLERANCE:g})")
        return 1
    print(f"\nPASS: {len(manifest['cases'])} cases of {len(manifest['layer_types'])} layer types "
          f"agree with torch {torch.__version__} within {TOLERANCE:g}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", help="the layer_dump program")
    ap.add_argument("--plugins", help="plugin folder for --dump")
    ap.add_argument("--work", help="folder --dump writes into (emptied first)")
    ap.add_argument("--extra-plugin", action="append", default=[],
                    help="another plugin file for --dump to load (repeatable)")
    ap.add_argument("--manifest", help="compare this folder, written earlier")
    a = ap.parse_args()
    if a.manifest:
        return compare(a.manifest)
    if not (a.dump and a.plugins and a.work):
        ap.error("give --dump, --plugins and --work, or --manifest")
    os.makedirs(a.work, exist_ok=True)
    for f in os.listdir(a.work):  # only what an earlier dump wrote
        if f.endswith(".f32") or f == "manifest.json":
            os.remove(os.path.join(a.work, f))
    r = subprocess.run([a.dump, a.plugins, a.work] + a.extra_plugin)
    if r.returncode != 0:
        print(f"compare_layers: {a.dump} exited with status {r.returncode}", file=sys.stderr)
        return 1
    return compare(a.work)


if __name__ == "__main__":
    sys.exit(main())
