#!/usr/bin/python3
"""A tinycnn model file's net built in PyTorch and timed like tinycnn-bench.

The net is built from the model's JSON node list (docs/model-format.md):
Conv2d, BatchNorm2d/1d, ReLU, LeakyReLU, Tanh, Sigmoid, MaxPool2d,
AvgPool2d, GlobalAvgPool2d, Add, Concat, Flatten, Linear, Dropout, Softmax
and the SoftmaxCrossEntropy loss, with the parameters and defaults of
layers/*.c. Weights are initialised in the same family: He-normal
(N(0, sqrt(2 / fan_in))) for convolution and linear weights, zero biases,
BatchNorm weight 1 and bias 0.

Figures, as tinycnn-bench --model FILE: training images/s at batch 32 and
128 (forward + backward + optimiser step over --images images, after
--warmup untimed steps), inference images/s at batch 1 and at batch N
(--only inferN; torch.no_grad, eval mode), peak RSS (ru_maxrss). The
optimiser: Adam at lr 1e-3, or with --optimizer model the model's own
"training" settings (SGD with momentum or Adam, weight decay except on
biases and BatchNorm weights, as tinycnn; its lr schedule, an epoch being
a pass over the training images). Data: --synthetic
N random uint8 images of the model's input shape (and N/6 test images),
normalised per batch with the model's mean/std like tinycnn does.

--check FILE compares with tinycnn: FILE is written by
tinycnn-bench --dump-check FILE (same model); the weights are loaded into
this net and one inference forward and one training forward (BatchNorm
on batch statistics) are compared with tinycnn's. Exit status 1 on a
mismatch.

Needs the Debian python3-torch (run with /usr/bin/python3). --json prints
one JSON object with the keys of tinycnn-bench --json.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- the net ------------------------------------------------------------

def _pair(p, square, h, w, default):
    """A per-axis Conv2d parameter: kernel_h/kernel_w override kernel_size."""
    s = p.get(square, default)
    return (p.get(h) or s, p.get(w) or s)


def _conv(p, shapes):
    c_in = shapes[0][1]
    k = _pair(p, "kernel_size", "kernel_h", "kernel_w", None)
    m = nn.Conv2d(c_in, int(p["out_channels"]), k,
                  stride=_pair(p, "stride", "stride_h", "stride_w", 1),
                  padding=_pair(p, "padding", "pad_h", "pad_w", 0),
                  dilation=_pair(p, "dilation", "dilation_h", "dilation_w", 1),
                  groups=int(p.get("groups", 1)), bias=bool(p.get("bias", True)))
    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    if m.bias is not None:
        nn.init.zeros_(m.bias)
    return m


def _linear(p, shapes):
    m = nn.Linear(shapes[0][1], int(p["out_features"]), bias=bool(p.get("bias", True)))
    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    if m.bias is not None:
        nn.init.zeros_(m.bias)
    return m


def _bn(cls):
    def make(p, shapes):
        return cls(shapes[0][1], eps=float(p.get("eps", 1e-5)),
                   momentum=float(p.get("momentum", 0.1)), affine=bool(p.get("affine", True)))
    return make


def _pool(cls):
    def make(p, shapes):
        k = int(p["kernel_size"])
        return cls(k, stride=int(p.get("stride") or k), padding=int(p.get("padding", 0)))
    return make


class Add(nn.Module):
    def forward(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Concat(nn.Module):
    def __init__(self, axis):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        # tinycnn's axis counts the batch axis too (0 cannot be joined)
        return torch.cat(xs, dim=self.axis)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class FlattenAll(nn.Module):
    def forward(self, x):
        return torch.flatten(x, 1)


# type -> function (params, input shapes with the batch) -> module
BUILDERS = {
    "Conv2d": _conv,
    "Linear": _linear,
    "BatchNorm2d": _bn(nn.BatchNorm2d),
    "BatchNorm1d": _bn(nn.BatchNorm1d),
    "MaxPool2d": _pool(nn.MaxPool2d),
    "AvgPool2d": _pool(nn.AvgPool2d),  # count_include_pad=True, as tinycnn
    "GlobalAvgPool2d": lambda p, s: GlobalAvgPool(),
    "ReLU": lambda p, s: nn.ReLU(),
    "LeakyReLU": lambda p, s: nn.LeakyReLU(float(p.get("negative_slope", 0.01))),
    "Tanh": lambda p, s: nn.Tanh(),
    "Sigmoid": lambda p, s: nn.Sigmoid(),
    "Dropout": lambda p, s: nn.Dropout(float(p.get("p", 0.5))),
    "Flatten": lambda p, s: FlattenAll(),
    "Add": lambda p, s: Add(),
    "Concat": lambda p, s: Concat(int(p.get("axis", 1))),
    "Softmax": lambda p, s: nn.Softmax(dim=int(p.get("axis", -1))),
}


def topo_order(nodes, inputs):
    """Node dicts in an order where each comes after its inputs."""
    by_name = {n["name"]: n for n in nodes}
    done, order = set(inputs), []

    def visit(n, path):
        if n["name"] in done:
            return
        if n["name"] in path:
            sys.exit(f"pytorch_model: the model has a cycle through {n['name']}")
        for i in n["inputs"]:
            if i not in done:
                if i not in by_name:
                    sys.exit(f"pytorch_model: node {n['name']}: unknown input {i}")
                visit(by_name[i], path | {n["name"]})
        done.add(n["name"])
        order.append(n)

    for n in nodes:
        visit(n, set())
    return order


def image_input(spec):
    img = [i for i in spec["inputs"] if i.get("role", "image") == "image" and i["shape"]]
    if len(img) != 1:
        sys.exit("pytorch_model: want exactly one image input")
    return img[0]


class ModelNet(nn.Module):
    """The graph of a model file up to its output node (the logits)."""

    def __init__(self, spec):
        super().__init__()
        ins = spec["inputs"]
        self.image = image_input(spec)
        self.input_name = self.image["name"]
        self.output = spec["output"]
        losses = [n for n in spec["nodes"] if n["name"] == spec.get("loss")]
        if losses and losses[0]["type"] != "SoftmaxCrossEntropy":
            sys.exit(f"pytorch_model: loss type {losses[0]['type']} not supported")
        nodes = [n for n in spec["nodes"] if n["name"] != spec.get("loss")]
        order = topo_order(nodes, [i["name"] for i in ins])
        needed = self._needed(order, self.output)
        self.order = [(n["name"], n["inputs"]) for n in order if n["name"] in needed]
        # after node k runs, the values no later node reads are dropped (as
        # a hand-written forward does), so inference holds no dead activations
        last = {}
        for k, (_, inputs) in enumerate(self.order):
            for i in inputs:
                last[i] = k
        self.drop = [[i for i in set(inputs) if last[i] == k and i != self.output]
                     for k, (_, inputs) in enumerate(self.order)]
        self.mods = nn.ModuleDict()
        self._build([n for n in order if n["name"] in needed])

    @staticmethod
    def _needed(order, output):
        by_name = {n["name"]: n for n in order}
        need, todo = set(), [output]
        while todo:
            k = todo.pop()
            if k in by_name and k not in need:
                need.add(k)
                todo.extend(by_name[k]["inputs"])
        return need

    def _build(self, order):
        """Modules in order; shapes from running each on a zero batch of 2."""
        vals = {self.input_name: torch.zeros([2] + list(self.image["shape"]))}
        with torch.no_grad():
            for n in order:
                if n["type"] not in BUILDERS:
                    sys.exit(f"pytorch_model: node {n['name']}: type {n['type']} not supported")
                xs = [vals[i] for i in n["inputs"]]
                m = BUILDERS[n["type"]](n.get("params", {}), [list(x.shape) for x in xs])
                m.eval()
                vals[n["name"]] = m(*xs)
                self.mods[n["name"]] = m

    def forward(self, x):
        vals = {self.input_name: x}
        for (name, inputs), drop in zip(self.order, self.drop):
            vals[name] = self.mods[name](*[vals[i] for i in inputs])
            for i in drop:
                del vals[i]
        return vals[self.output]


def param_groups(net, weight_decay):
    """Weight decay on convolution and linear weights only (tinycnn's no_decay
    marks biases and BatchNorm's weight and bias)."""
    decay, rest = [], []
    for m in net.modules():
        for name, p in m.named_parameters(recurse=False):
            ok = isinstance(m, (nn.Conv2d, nn.Linear)) and name == "weight"
            (decay if ok else rest).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]


def train_settings(spec):
    """The model's training settings over tinycnn's built-in defaults
    (tinycnn/train.h)."""
    t = dict(optimizer="adam", lr=1e-3, momentum=0.9, weight_decay=0.0, beta1=0.9,
             beta2=0.999, eps=1e-8, epochs=10, lr_schedule="constant", warmup_epochs=0.0,
             step_epochs=0, step_gamma=0.1)
    t.update(spec.get("training", {}))
    return t


def lr_at(t, s, steps_per_epoch):
    """tc_lr_at (runtime/src/train.c): the lr of global step s."""
    total = t["epochs"] * steps_per_epoch
    warm = min(int(round(t["warmup_epochs"] * steps_per_epoch)), total)
    if s < warm:
        return t["lr"] * (s + 1) / warm
    if t["lr_schedule"] == "cosine":
        span = total - warm
        return t["lr"] if span <= 0 else \
            t["lr"] * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (s - warm) / span)))
    if t["lr_schedule"] == "step":
        period = max(1, t["step_epochs"] or t["epochs"] // 3)
        return t["lr"] * t["step_gamma"] ** ((s // steps_per_epoch) // period)
    return t["lr"]


def make_optimizer(net, spec, which):
    """Adam at 1e-3 (tinycnn-bench's default), or the model's settings."""
    t = dict(optimizer="adam", lr=1e-3, momentum=0.9, weight_decay=0.0, beta1=0.9,
             beta2=0.999, eps=1e-8)
    if which == "model":
        t.update({k: v for k, v in train_settings(spec).items() if k in t})
    groups = param_groups(net, float(t["weight_decay"]))
    if t["optimizer"] == "sgd":
        opt = torch.optim.SGD(groups, lr=float(t["lr"]), momentum=float(t["momentum"]))
    else:
        opt = torch.optim.Adam(groups, lr=float(t["lr"]),
                               betas=(float(t["beta1"]), float(t["beta2"])), eps=float(t["eps"]))
    return opt, t["optimizer"], float(t["lr"])


# ---- data and timing ----------------------------------------------------

class Data:
    """Random uint8 images of the model's input shape, normalised per batch."""

    def __init__(self, image, n_train, seed):
        shape = list(image["shape"])
        c = shape[0]
        rng = np.random.default_rng(seed)
        n_test = max(n_train // 6, 1)
        t = lambda a: torch.from_numpy(a)
        self.tr_x = t(rng.integers(0, 256, [n_train] + shape, dtype=np.uint8))
        self.tr_y = t(rng.integers(0, 10, n_train, dtype=np.uint8)).long()
        self.te_x = t(rng.integers(0, 256, [n_test] + shape, dtype=np.uint8))
        mean = image.get("mean", [0.0] * c)
        std = image.get("std", [1.0] * c)
        per = lambda v: torch.tensor([v[i if i < len(v) else 0] for i in range(c)]
                                     ).view(1, c, *([1] * (len(shape) - 1)))
        self.mean, self.std = per(mean), per(std)

    def batch(self, x_u8):
        return x_u8.float().div_(255.0).sub_(self.mean).div_(self.std)


def time_train(args, net, opt, x_u8, y, to_input, bs, lr_of_step=None):
    """Training images/s over args.images images (the last batch may be
    short), after args.warmup untimed steps, in a shuffled order from
    args.seed; lr_of_step(step) sets the lr of each step when given.
    Shared with pytorch_lenet5.py."""
    g = torch.Generator().manual_seed(args.seed)
    n = x_u8.shape[0]
    order = torch.randperm(n, generator=g)
    pos, steps = 0, 0

    def step(cnt):
        nonlocal pos, steps
        idx = order[torch.arange(pos, pos + cnt) % n]
        x, yb = to_input(x_u8[idx]), y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), yb)
        loss.backward()
        if lr_of_step:
            for grp in opt.param_groups:
                grp["lr"] = lr_of_step(steps)
        opt.step()
        pos += cnt
        steps += 1
        return loss

    first_loss = None
    for _ in range(args.warmup):
        loss = step(bs)
        first_loss = float(loss) if first_loss is None else first_loss
    done = 0
    t0 = time.perf_counter()
    while done < args.images:
        cnt = min(bs, args.images - done)
        loss = step(cnt)
        done += cnt
        # the first loss of all (no warm-up): read it outside the timed loop's cost
        if first_loss is None:
            first_loss = loss.detach()
    sec = time.perf_counter() - t0
    return {"batch": bs, "images": done, "seconds": sec, "images_per_s": done / sec,
            "loss_first": float(first_loss), "loss_last": float(loss)}


def time_infer(args, net, batch_at, bs):
    """Inference images/s (eval mode, no_grad) on batch_at(k), the input
    of the k-th batch, until args.infer_images images and args.min_seconds
    have gone by, after args.warmup batches (batch 1: ten times as many).
    Shared with pytorch_lenet5.py."""
    net.eval()
    k = 0
    with torch.no_grad():
        for _ in range(args.warmup * (10 if bs == 1 else 1)):
            net(batch_at(k))
            k += 1
        done, sec = 0, 0.0
        t0 = time.perf_counter()
        while done < args.infer_images or sec < args.min_seconds:
            net(batch_at(k))
            k += 1
            done += bs
            sec = time.perf_counter() - t0
    return {"batch": bs, "images": done, "seconds": sec, "images_per_s": done / sec}


def bench_train(args, spec, data, bs):
    torch.manual_seed(args.seed)
    net = ModelNet(spec)
    net.train()
    opt, _, _ = make_optimizer(net, spec, args.optimizer)
    lr_of_step = None
    if args.optimizer == "model":  # as tinycnn-bench: the model's schedule
        t, n = train_settings(spec), data.tr_x.shape[0]
        lr_of_step = lambda s: lr_at(t, s, (n + bs - 1) // bs)
    return time_train(args, net, opt, data.tr_x, data.tr_y, data.batch, bs, lr_of_step)


def bench_infer(args, spec, data, bs):
    torch.manual_seed(args.seed)
    net = ModelNet(spec)
    n = data.te_x.shape[0]
    # as tinycnn-bench: batch k is images k*bs.. of the test set, wrapping round
    batch_at = lambda k: data.batch(data.te_x[torch.arange(k * bs, (k + 1) * bs) % n])
    return time_infer(args, net, batch_at, bs)


# ---- the check against tinycnn -----------------------------------------

def close(name, ours, ref, tol):
    ours, ref = ours.detach().double(), torch.as_tensor(ref).double()
    err = float((ours - ref).abs().max())
    scale = max(1.0, float(ref.abs().max()))
    ok = err <= tol * scale
    print(f"pytorch_model: check {name}: max |PyTorch - tinycnn| = {err:.3g} "
          f"(scale {scale:.3g}): {'ok' if ok else 'MISMATCH'}")
    return ok


def same_init(name, ours, theirs):
    """The same initialisation family: a constant stays that constant, a
    random tensor of 256+ elements has a standard deviation within 15%."""
    ours, theirs = ours.detach().double(), theirs.double()
    if float(theirs.std()) == 0 if theirs.numel() > 1 else True:
        ok = bool(torch.all(ours == theirs.flatten()[0]))
        what = f"constant {float(theirs.flatten()[0]):g}"
    elif theirs.numel() >= 256:
        r = float(ours.std()) / float(theirs.std())
        ok, what = 0.85 <= r <= 1.15, f"std ratio {r:.3f}"
    else:
        return True
    if not ok:
        print(f"pytorch_model: check init of {name}: {what}: MISMATCH")
    return ok


def load_dump(path):
    with open(path) as f:
        hdr = json.load(f)
    raw = np.fromfile(path + ".bin", dtype=np.float32)
    tensors, off = {}, 0
    for t in hdr["tensors"]:
        cnt = int(np.prod(t["shape"])) if t["shape"] else 1
        tensors[t["name"]] = torch.from_numpy(raw[off:off + cnt].reshape(t["shape"]).copy())
        off += cnt
    if off != raw.size:
        sys.exit(f"pytorch_model: {path}.bin holds {raw.size} floats, header says {off}")
    return hdr, tensors


def load_weights(net, tensors, check_init=True):
    """Copies tinycnn's weights and states into net by name; False (and
    says why) where one has no counterpart or the init family differs."""
    ours = dict(net.named_parameters())
    ours.update(net.named_buffers())
    ok, loaded = True, set()
    with torch.no_grad():
        for name, v in tensors.items():
            if name.split(".")[0] in ("eval", "train", "step2"):
                continue
            key = "mods." + name
            if key not in ours or tuple(ours[key].shape) != tuple(v.shape):
                print(f"pytorch_model: check: tinycnn's {name} {list(v.shape)} has no "
                      f"counterpart here")
                ok = False
                continue
            ok &= not check_init or same_init(name, ours[key], v)
            ours[key].copy_(v)
            loaded.add(key)
    missing = [k for k, p in net.named_parameters() if k not in loaded]
    if missing:
        print(f"pytorch_model: check: not in tinycnn's weights: {', '.join(missing)}")
        ok = False
    return ok


def check(args, spec):
    """Loads tinycnn's weights (tinycnn-bench --dump-check) and compares."""
    hdr, tensors = load_dump(args.check)
    torch.manual_seed(args.seed)
    net = ModelNet(spec)
    n_params = sum(p.numel() for p in net.parameters())
    ok = n_params == hdr["weights"]
    print(f"pytorch_model: check parameters: PyTorch {n_params}, tinycnn {hdr['weights']}: "
          f"{'ok' if ok else 'MISMATCH'}")
    ok &= load_weights(net, tensors)
    tol = args.tolerance
    net.eval()
    with torch.no_grad():
        ok &= close("inference output", net(tensors["eval.input"]), tensors["eval.output"], tol)
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in net.modules()):
        # the two draw different masks: only inference compares
        print("pytorch_model: check: the net has Dropout; training not compared")
        return ok, n_params
    net.train()
    x, y = tensors["train.input"], torch.tensor(hdr["labels"]).long()
    with torch.no_grad():
        out = net(x)
    ok &= close("training output", out, tensors["train.output"], tol)
    ok &= close("training loss", F.cross_entropy(out, y), hdr["train_loss"], tol)
    ok &= check_steps(args, spec, net, hdr, tensors)
    return ok, n_params


def check_steps(args, spec, net, hdr, tensors):
    """Two optimiser steps on the training batch from tinycnn's weights,
    against tinycnn's weights after them: gradients and update rule. In
    float64, where PyTorch's float32 BatchNorm backward on 4 images alone
    is ~1% off a float64 step."""
    load_weights(net, tensors, False)  # undo the forward's running statistics
    net.double().train()
    opt, kind, lr = make_optimizer(net, spec, args.optimizer)
    ok = True
    if kind != hdr["optimizer"] or abs(lr - hdr["lr"]) > 1e-6 * lr:
        print(f"pytorch_model: check optimiser: {kind} lr {lr:g} here, {hdr['optimizer']} "
              f"lr {hdr['lr']:g} in tinycnn's: MISMATCH (same --optimizer on both sides?)")
        ok = False
    x, y = tensors["train.input"].double(), torch.tensor(hdr["labels"]).long()
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()
    # The updates, compared as vectors: Adam's first steps are about lr *
    # sign(gradient), so a gradient within rounding of 0 can flip one element
    # without anything being different.
    params = dict(net.named_parameters())
    worst = (0.0, "-")
    for k, v in tensors.items():
        if k.startswith("step2."):
            w0 = tensors[k[6:]].double()
            ours, theirs = params["mods." + k[6:]].detach().double() - w0, v.double() - w0
            err = float((ours - theirs).norm()) / max(float(theirs.norm()), 1e-12)
            worst = max(worst, (err, k[6:]))
    good = worst[0] <= args.update_tolerance
    print(f"pytorch_model: check the update of 2 {kind} steps (lr {lr:g}): largest |PyTorch - "
          f"tinycnn| / |tinycnn| = {worst[0]:.3g} ({worst[1]}): {'ok' if good else 'MISMATCH'}")
    return ok and good


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="a tinycnn model file (JSON)")
    p.add_argument("--threads", type=int, default=0, help="0: the cores available")
    p.add_argument("--images", type=int, default=768, help="per training figure")
    p.add_argument("--infer-images", type=int, default=512)
    p.add_argument("--min-seconds", type=float, default=0.5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--synthetic", type=int, default=4096, help="random training images")
    p.add_argument("--optimizer", choices=["adam", "model"], default="adam")
    p.add_argument("--only", default="train32,train128,infer1,infer256")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--check", metavar="FILE", help="compare with tinycnn-bench --dump-check FILE")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="--check: largest difference, relative to max(1, largest value)")
    # 5e-2, not tighter: with 4 images at the model's lr (0.1 for ResNet-8) a
    # ReLU input within float32 rounding of 0 after the first step flips the
    # second step's gradient at that pixel; tinycnn's own GEMM and direct
    # convolution paths differ by 1.25% in one BatchNorm bias that way. A
    # wrong update rule (momentum, decay, lr) is off by tens of percent.
    p.add_argument("--update-tolerance", type=float, default=5e-2,
                   help="--check: largest relative difference of a weight's update")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    only = [f for f in args.only.split(",") if f != "profile"]
    for f in only:
        if f not in ("train32", "train128") and not (f.startswith("infer") and f[5:].isdigit()):
            p.error(f"--only: unknown figure '{f}' (want train32, train128 or inferN)")
    return args, only


def main():
    args, only = parse_args()
    with open(args.model) as f:
        spec = json.load(f)
    torch.set_num_threads(args.threads if args.threads > 0 else (os.cpu_count() or 1))
    if args.check:
        ok, _ = check(args, spec)
        sys.exit(0 if ok else 1)
    net = ModelNet(spec)
    _, opt_kind, lr = make_optimizer(net, spec, args.optimizer)
    out = {"program": "pytorch", "torch": torch.__version__, "model": args.model,
           "threads": torch.get_num_threads(), "cpu": cpu_model(), "data": "synthetic",
           "weights": sum(q.numel() for q in net.parameters()), "optimizer": opt_kind, "lr": lr}
    del net
    data = Data(image_input(spec), args.synthetic, args.seed)
    if not args.json:
        print(f"pytorch_model: {args.model}, torch {torch.__version__}, {out['threads']} "
              f"thread(s), {out['weights']} weights, {opt_kind} lr {lr:g}, {out['cpu']}\n")
    run_figures(args, out, only, lambda f, bs: (bench_train if f.startswith("train")
                                              else bench_infer)(args, spec, data, bs))


def run_figures(args, out, figures, run_one):
    """Runs run_one(figure, batch) for each figure ("train32", "infer256":
    the batch is in the name) into out, with the peak RSS after loading,
    after train32 and at the end; prints out as JSON (--json) or a report.
    Shared with pytorch_lenet5.py."""
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["rss_after_load_kb"] = rss()
    for f in figures:
        bs = int(f[5:])  # train32 -> 32, infer256 -> 256
        r = out[f] = run_one(f, bs)
        if f == "train32":
            out["rss_after_train32_kb"] = rss()
        if not args.json:
            print(f"{f[:5]}   batch {bs:4d}: {r['images_per_s']:9.0f} images/s  "
                  f"({r['images']} images in {r['seconds']:.2f} s)")
    out["peak_rss_kb"] = rss()
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"\npeak RSS: {out['peak_rss_kb'] / 1024:.1f} MB")


if __name__ == "__main__":
    main()
