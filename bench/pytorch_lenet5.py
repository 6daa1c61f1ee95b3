#!/usr/bin/python3
"""The LeNet-5 of models/lenet5.json in PyTorch, timed like tinycnn-bench.

Figures: training images/s at batch 32 and 128 (forward + backward + Adam
step over --images images, after --warmup untimed steps), inference images/s
at batch 1 (torch.no_grad) and batch 1000, peak RSS (ru_maxrss).

Data: the MNIST IDX .gz files of --data / $TINYCNN_DATA / data/mnist, read
with gzip + numpy and kept as uint8 tensors; each batch is gathered and
normalised like tinycnn does ((pixel/255 - 0.1307) / 0.3081). Without them,
random bytes of the same shape (said in the output as "data": "synthetic").

Needs the Debian python3-torch (run with /usr/bin/python3). --json prints
one JSON object with the same keys as tinycnn-bench --json.
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pytorch_model import cpu_model, run_figures, time_infer, time_train

MEAN, STD = 0.1307, 0.3081


class LeNet5(nn.Module):
    """conv 6@5x5 pad 2, ReLU, max 2x2, conv 16@5x5, ReLU, max 2x2, 120, 84, 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(d, name):
    for p in (os.path.join(d, name + ".gz"), os.path.join(d, name)):
        if os.path.exists(p):
            return p
    return None


def load_data(d, seed):
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [find(d, n) for n in names]
    if all(paths):
        arrs = [read_idx(p) for p in paths]
        tr_x, tr_y, te_x, te_y = arrs
        kind = d
    else:
        print(f"pytorch_lenet5: note: no MNIST IDX files in {d}; using random bytes "
              "of the same shape (60000 + 10000 images)", file=sys.stderr)
        rng = np.random.default_rng(seed)
        tr_x = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        tr_y = rng.integers(0, 10, 60000, dtype=np.uint8)
        te_x = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8)
        te_y = rng.integers(0, 10, 10000, dtype=np.uint8)
        kind = "synthetic"
    t = lambda a: torch.from_numpy(np.array(a))  # a writable copy
    return (t(tr_x).unsqueeze(1), t(tr_y).long(), t(te_x).unsqueeze(1), t(te_y).long(),
            kind)


def to_input(u8):
    return u8.float().div_(255.0).sub_(MEAN).div_(STD)


def bench_train(args, data, bs):
    torch.manual_seed(args.seed)
    model = LeNet5()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return time_train(args, model, opt, data[0], data[1], to_input, bs)


def bench_infer(args, data, bs):
    te_x = data[2]
    torch.manual_seed(args.seed)
    n = te_x.shape[0]
    per = max(n // bs, 1)  # whole batches of the test set, from the start again

    def batch_at(k):
        pos = (k % per) * bs
        return to_input(te_x[pos:pos + bs])

    return time_infer(args, LeNet5(), batch_at, bs)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("TINYCNN_DATA") or "data/mnist")
    p.add_argument("--threads", type=int, default=0, help="0: the cores available")
    p.add_argument("--images", type=int, default=60000)
    p.add_argument("--infer-images", type=int, default=10000)
    p.add_argument("--min-seconds", type=float, default=0.5)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--only", default="train32,train128,infer1,infer1000")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    figures = ["train32", "train128", "infer1", "infer1000"]
    only = figures if args.only == "all" else args.only.split(",")
    # "profile" is tinycnn-bench's own table; PyTorch has no counterpart here
    only = [f for f in only if f != "profile"]
    for f in only:
        if f not in figures:
            p.error(f"--only: unknown figure '{f}'")

    torch.set_num_threads(args.threads if args.threads > 0 else (os.cpu_count() or 1))
    data = load_data(args.data, args.seed)
    out = {"program": "pytorch", "torch": torch.__version__, "model": "LeNet5 (PyTorch)",
           "threads": torch.get_num_threads(), "cpu": cpu_model(), "data": data[4],
           "weights": sum(q.numel() for q in LeNet5().parameters())}
    if not args.json:
        print(f"pytorch_lenet5: torch {torch.__version__}, {out['threads']} thread(s), "
              f"data {data[4]}, {out['cpu']}\n")
    run = lambda f, bs: (bench_train if f.startswith("train") else bench_infer)(args, data, bs)
    run_figures(args, out, [f for f in figures if f in only], run)


if __name__ == "__main__":
    main()
