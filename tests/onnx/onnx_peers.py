#!/usr/bin/env python3
"""tiny-cnn's ONNX export and import checked against real peers.

    onnx_peers.py export  --tinycnn BIN --logits BIN --node NODE --data DIR --work DIR MODEL.json...
        trains each model briefly (BatchNorm statistics move), exports it, runs
        python3-onnx's checker and checks the file's structure (opset 13, IR 7,
        symbolic batch, the model's input and output names, class names, no
        loss or label), then compares ONNX Runtime's logits (onnxruntime-node)
        with tinycnn's on the same MNIST test images; then imports the file
        back and requires the same logits and predictions as the original
        (the round trip); with --plugin-dir DIR the plugins in DIR load too,
        and a model using their layers (models/lenet5_elu.json with the
        example plugin) must carry their own mappings' ops, and import, which
        knows only the standard set, must refuse it instead of the round trip;
    onnx_peers.py torch   --tinycnn BIN --logits BIN --data DIR --work DIR
        trains a LeNet-5 and a small CNN with BatchNorm and Concat in PyTorch,
        saves them with torch.onnx.export, imports them, and requires the same
        logits and confusion matrix as PyTorch on the whole MNIST test set,
        and `tinycnn eval` on the imported checkpoint to agree;
    onnx_peers.py ops     --tinycnn BIN --logits BIN --node NODE --data DIR --work DIR
        builds, with onnx.helper, models of the operators torch does not emit
        for these nets (MatMul + Add, Reshape, Identity, Sum, Sigmoid, Tanh,
        LeakyRelu, Softmax, padded AveragePool, per-axis Conv pads), imports
        them and compares with ONNX Runtime.

Logits agree when max|a - b| <= 1e-4 (a: tinycnn, b: the peer), with logits
of magnitude 1 to 20: both compute in float32, in different orders, so the
last bits differ (measured: a few 1e-6, printed by each check); a wrong weight
layout, padding, stride or normalisation is off by 1e-2 or more. --images N
compares on the first N test images instead (the sanitizer build's 500). A missing tool is a failure, never a
skip (scripts/install-deps.sh --test installs them).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

TOLERANCE = 1e-4

try:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, TensorProto
except ImportError as e:  # a missing tool is a failure, never a skip
    print(f"FAIL: {e}: install python3-onnx and python3-numpy (scripts/install-deps.sh --test)")
    sys.exit(1)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print("FAIL: " + " ".join(str(c) for c in cmd) + f" exited {r.returncode}\n" + r.stdout +
              r.stderr)
        sys.exit(1)
    return r.stdout


def mnist(data, split, n):
    """The first n images (uint8 [n,1,28,28]) and labels of an MNIST split."""
    stem = "t10k" if split == "test" else "train"
    with gzip.open(os.path.join(data, f"{stem}-images-idx3-ubyte.gz")) as f:
        img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(data, f"{stem}-labels-idx1-ubyte.gz")) as f:
        lbl = np.frombuffer(f.read(), np.uint8, offset=8)
    return img[:n].copy(), lbl[:n].astype(np.int64)


def tinycnn_logits(args, ckpt, pixels, work, tag):
    px, out = os.path.join(work, f"{tag}.u8"), os.path.join(work, f"{tag}.tc.f32")
    pixels.tofile(px)
    extra = [args.plugin_dir] if args.plugin_dir else []
    run([args.logits, ckpt, px, len(pixels), out] + extra)
    return np.fromfile(out, np.float32).reshape(len(pixels), -1)


def ort_logits(args, model, pixels, work, tag):
    x, out = os.path.join(work, f"{tag}.f32"), os.path.join(work, f"{tag}.ort.f32")
    (pixels.astype(np.float32) / np.float32(255)).tofile(x)
    n, c, h, w = pixels.shape
    info = json.loads(run([args.node, os.path.join(os.path.dirname(__file__), "ort_run.js"),
                           model, x, n, c, h, w, out]))
    return np.fromfile(out, np.float32).reshape(n, -1), info


def agree(a, b, what):
    diff = float(np.max(np.abs(a.astype(np.float64) - b))) if a.shape == b.shape else float("inf")
    check(diff <= TOLERANCE, f"{what}: max |diff| {diff:.3g} (tolerance {TOLERANCE:g}, "
          f"largest |logit| {float(np.max(np.abs(b))):.3g}), "
          f"predictions equal on {int(np.sum(a.argmax(1) == b.argmax(1)))}/{len(a)}")
    return diff


def structure(path, model_json):
    """The exported file's promises: opset, IR, names, batch, metadata."""
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    check(True, f"{path}: onnx.checker (full_check) passes")
    spec = json.load(open(model_json))
    image = [i["name"] for i in spec["inputs"] if i.get("role") != "label"][0]
    ops = {n.op_type for n in m.graph.node}
    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
    check(m.ir_version == 7 and opset == [13], f"{path}: IR version {m.ir_version}, opset {opset}")
    check([i.name for i in m.graph.input] == [image] and
          [o.name for o in m.graph.output] == [spec["output"]],
          f"{path}: input {[i.name for i in m.graph.input]}, output "
          f"{[o.name for o in m.graph.output]} as in the model")
    dims = [m.graph.input[0].type.tensor_type.shape.dim[0], m.graph.output[0].type.tensor_type.shape.dim[0]]
    check(all(d.dim_param == "N" for d in dims), f"{path}: symbolic batch dimension N")
    meta = {p.key: p.value for p in m.metadata_props}
    check(len(json.loads(meta.get("class_names", "[]"))) == 10, f"{path}: 10 class names in metadata_props")
    check("SoftmaxCrossEntropy" not in ops and not any("label" == i.name for i in m.graph.input),
          f"{path}: no loss, no label input")
    weights = {t.name for t in m.graph.initializer}
    return m, ops, weights


# The ONNX ops the example plugin (plugins/example) maps its layers onto.
EXAMPLE_PLUGIN_OPS = {"ELU": {"Elu"}, "Scale": {"Mul", "Add"}}


def plugin_ops_of(spec, args):
    """The ops the plugin layers of a model must have exported (empty: none)."""
    if not args.plugin_dir:
        return set()
    return set().union(*[EXAMPLE_PLUGIN_OPS.get(n["type"], set()) for n in spec["nodes"]])


def cmd_export(args):
    os.makedirs(args.work, exist_ok=True)
    pixels, _ = mnist(args.data, "test", args.images or 1000)
    env = dict(os.environ, TINYCNN_DATA=args.data)
    for model_json in args.models:
        tag = os.path.splitext(os.path.basename(model_json))[0]
        ckpt, onnx_path = os.path.join(args.work, tag + ".ckpt"), os.path.join(args.work, tag + ".onnx")
        plugins = ["--plugin-dir", args.plugin_dir] if args.plugin_dir else []
        run([args.tinycnn, "train", model_json, "--epochs", 1, "--limit", 512, "--test-limit", 100,
             "--batch-size", 32,
             "-o", ckpt, "--threads", 2] + plugins, env=env)
        run([args.tinycnn, "export", ckpt, "-o", onnx_path] + plugins)
        m, ops, weights = structure(onnx_path, model_json)
        spec = json.load(open(model_json))
        if any(n["type"].startswith("BatchNorm") for n in spec["nodes"]):
            check("BatchNormalization" in ops and any(w.endswith(".running_var") for w in weights),
                  f"{onnx_path}: BatchNormalization with the running statistics")
        tc = tinycnn_logits(args, ckpt, pixels, args.work, tag)
        ort, info = ort_logits(args, onnx_path, pixels, args.work, tag)
        print(f"     ONNX Runtime {info['ort']['node']}, output '{info['output']}' {info['dims']}")
        agree(tc, ort, f"{tag}: tinycnn vs ONNX Runtime on {len(pixels)} MNIST test images")
        plugin_ops = plugin_ops_of(spec, args)
        if plugin_ops:
            check(plugin_ops <= ops, f"{tag}: the plugin layers' own mappings {sorted(plugin_ops)} "
                  f"are in the file (ops: {sorted(ops)})")
            # import covers the standard set only: the plugins' ops are refused by name
            refused(args, onnx_path, "is not supported", args.work)
            continue
        # the round trip: export -> import -> the same logits as the original
        back_json, back_ckpt = os.path.join(args.work, tag + ".back.json"), os.path.join(args.work, tag + ".back.ckpt")
        run([args.tinycnn, "import", onnx_path, "-o", back_json, "--checkpoint", back_ckpt])
        back = tinycnn_logits(args, back_ckpt, pixels, args.work, tag + ".back")
        d = agree(back, tc, f"{tag}: export -> import vs the original checkpoint")
        check(d == 0.0 and np.array_equal(back.argmax(1), tc.argmax(1)),
              f"{tag}: the round trip is exact (max |diff| {d})")


def torch_models():
    import torch
    import torch.nn as nn

    class Norm(nn.Module):  # MNIST's mean/std, exported as Sub and Div
        def forward(self, x):
            return (x - 0.1307) / 0.3081

    lenet = nn.Sequential(Norm(), nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))

    class BnConcat(nn.Module):
        """BatchNorm after joins (not after a Conv, which the exporter folds)."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1)
            self.a = nn.Conv2d(8, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 1)
            self.bn_cat = nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2)
            self.c = nn.Conv2d(16, 16, 3, padding=1, groups=2)
            self.bn_add = nn.BatchNorm2d(16)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 32)
            self.bn1d = nn.BatchNorm1d(32)
            self.drop = nn.Dropout(0.2)
            self.out = nn.Linear(32, 10)

        def forward(self, x):
            x = torch.relu(self.stem((x - 0.1307) / 0.3081))
            x = torch.cat([torch.relu(self.a(x)), torch.tanh(self.b(x))], 1)
            x = self.pool(torch.relu(self.bn_cat(x)))
            x = nn.functional.leaky_relu(self.bn_add(self.c(x) + x), 0.05)
            x = torch.flatten(self.gap(x), 1)
            return self.out(self.drop(torch.relu(self.bn1d(self.fc(x)))))

    return {"torch_lenet5": lenet, "torch_bn_concat": BnConcat()}


def train_torch(net, images, labels):
    import torch
    x = torch.from_numpy(images.astype(np.float32) / 255)
    y = torch.from_numpy(labels)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    net.train()
    for i in range(0, len(x), 64):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x[i:i + 64]), y[i:i + 64])
        loss.backward()
        opt.step()
    net.eval()


def confusion(labels, pred):
    m = np.zeros((10, 10), np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def cmd_torch(args):
    try:
        import torch
    except ImportError as e:
        print(f"FAIL: {e}: install python3-torch (scripts/install-deps.sh --test)")
        sys.exit(1)
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(2)
    train_x, train_y = mnist(args.data, "train", 6000)
    all_x, all_y = mnist(args.data, "test", 10000)
    test_x, test_y = all_x[:args.images or 10000], all_y[:args.images or 10000]
    torch.manual_seed(0)  # the initial weights too: the same models every run
    for tag, net in torch_models().items():
        train_torch(net, train_x, train_y)
        path = os.path.join(args.work, tag + ".onnx")
        torch.onnx.export(net, torch.zeros(2, 1, 28, 28), path, opset_version=13,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        print(f"     {tag}: torch {torch.__version__} exported {ops}")
        with torch.no_grad():
            ref_all = net(torch.from_numpy(all_x.astype(np.float32) / 255)).numpy()
        ref = ref_all[:len(test_x)]
        mj, ck = os.path.join(args.work, tag + ".json"), os.path.join(args.work, tag + ".ckpt")
        run([args.tinycnn, "import", path, "-o", mj, "--checkpoint", ck])
        spec = json.load(open(mj))
        check(spec["output"] == "logits" and spec["inputs"][0]["name"] == "image" and
              abs(spec["inputs"][0]["mean"] - 0.1307) < 1e-7 and abs(spec["inputs"][0]["std"] - 0.3081) < 1e-7,
              f"{tag}: imported with input 'image' (mean/std folded in), output 'logits'")
        tc = tinycnn_logits(args, ck, test_x, args.work, tag)
        agree(tc, ref, f"{tag}: imported into tinycnn vs PyTorch on the {len(test_x)} MNIST test images")
        same = np.array_equal(confusion(test_y, tc.argmax(1)), confusion(test_y, ref.argmax(1)))
        acc = float(np.mean(ref.argmax(1) == test_y))
        check(same, f"{tag}: equal confusion matrices (PyTorch accuracy {100 * acc:.2f}%)")
        # the runner as a user would run it (with --images N, on the N images its
        # --limit picks): every image's prediction and the confusion matrix
        per = os.path.join(args.work, tag + ".eval.jsonl")
        ev = json.loads(run([args.tinycnn, "eval", ck, "--data", args.data, "--json", "--limit",
                             args.images, "--per-image", per]))
        recs = [json.loads(line) for line in open(per)]
        idx = np.array([r["index"] for r in recs], np.int64)
        ok = (len(recs) == ev["total"] == (args.images or len(all_y)) and
              all(r["prediction"] == int(ref_all[r["index"]].argmax()) and
                  r["label"] == int(all_y[r["index"]]) for r in recs) and
              np.array_equal(np.array(ev["confusion"]), confusion(all_y[idx], ref_all[idx].argmax(1))))
        check(ok, f"{tag}: tinycnn eval of the imported checkpoint agrees with PyTorch on each of "
                  f"its {len(recs)} images (accuracy {ev['accuracy']})")


def graph_model(name, nodes, inits, in_shape, out_dim, opset=13):
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out_dim])],
                          [numpy_helper.from_array(v.astype(v.dtype), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnx.helper")
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    return m


def op_models():
    r = np.random.default_rng(7)
    f = lambda *s: r.standard_normal(s).astype(np.float32) * 0.3
    N = helper.make_node
    yield "matmul_reshape", graph_model("matmul_reshape", [
        N("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 0, 1, 0], kernel_shape=[3, 1]),
        N("LeakyRelu", ["c"], ["l"], alpha=0.2),
        N("AveragePool", ["l"], ["p"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
          count_include_pad=1),
        N("Reshape", ["p", "shape"], ["r"]),
        N("Identity", ["r"], ["i"]),
        N("MatMul", ["i", "w2"], ["mm"]),
        N("Add", ["mm", "b2"], ["a"]),
        N("Tanh", ["a"], ["t"]), N("Sigmoid", ["a"], ["s"]), N("Relu", ["a"], ["u"]),
        N("Sum", ["t", "s", "u"], ["sum"]),
        N("Gemm", ["sum", "w3", "b3"], ["g"], transB=0),
        N("Softmax", ["g"], ["y"], axis=-1)],
        {"w1": f(4, 1, 3, 1), "b1": f(4), "shape": np.array([-1, 4 * 15 * 15], np.int64),
         "w2": f(900, 16), "b2": f(16), "w3": f(16, 10), "b3": f(10)}, [1, 28, 28], 10)
    pos = lambda *s: (r.random(s).astype(np.float32) + 0.5)
    yield "pool_concat_opset11", graph_model("pool_concat", [
        N("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        N("Conv", ["c", "wg"], ["g"], pads=[2, 2, 2, 2], dilations=[2, 2], group=2),
        N("Concat", ["c", "g"], ["cat"], axis=-3),
        N("MaxPool", ["cat"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        N("BatchNormalization", ["mp", "s2", "o2", "m2", "v2"], ["bn"], epsilon=1e-3),
        N("GlobalAveragePool", ["bn"], ["gap"]),
        N("Flatten", ["gap"], ["fl"], axis=1),
        N("BatchNormalization", ["fl", "s1", "o1", "m1", "v1"], ["bn1"]),
        N("Dropout", ["bn1"], ["d"], ratio=0.3),
        N("Gemm", ["d", "w3", "b3"], ["z"], transB=1),
        N("Softmax", ["z"], ["y"], axis=1)],
        {"w1": f(4, 1, 3, 3), "b1": f(4), "wg": f(4, 2, 3, 3), "s2": pos(8), "o2": f(8),
         "m2": f(8), "v2": pos(8), "s1": pos(8), "o1": f(8), "m1": f(8), "v1": pos(8),
         "w3": f(10, 8), "b3": f(10)}, [1, 28, 28], 10, opset=11)


def refused(args, path, needle, work):
    """The runner on a file it must refuse: exit 1, one line naming it, no output."""
    mj, ck = os.path.join(work, "refused.json"), os.path.join(work, "refused.ckpt")
    for f in (mj, ck):
        if os.path.exists(f):
            os.remove(f)
    r = subprocess.run([args.tinycnn, "import", path, "-o", mj], capture_output=True, text=True)
    lines = r.stderr.splitlines()
    check(r.returncode == 1 and len(lines) == 1 and lines[0].startswith("tinycnn: " + path) and
          needle in lines[0] and not os.path.exists(mj) and not os.path.exists(ck),
          f"import of {os.path.basename(path)} refused: {r.stderr.strip()}")


def cmd_ops(args):
    os.makedirs(args.work, exist_ok=True)
    pixels, _ = mnist(args.data, "test", args.images or 300)
    N = helper.make_node
    bad = graph_model("gelu", [N("Relu", ["x"], ["r"], name="relu1"), N("Erf", ["r"], ["e"], name="erf1"),
                               N("Flatten", ["e"], ["y"])], {}, [1, 2, 5], 10)
    path = os.path.join(args.work, "erf.onnx")
    onnx.save(bad, path)
    refused(args, path, "node 'erf1' (Erf): op type 'Erf' is not supported", args.work)
    data = open(path, "rb").read()
    with open(path + ".half", "wb") as f:
        f.write(data[:len(data) // 2])
    refused(args, path + ".half", "truncated or corrupt", args.work)
    for tag, m in op_models():
        path = os.path.join(args.work, tag + ".onnx")
        onnx.save(m, path)
        mj, ck = os.path.join(args.work, tag + ".json"), os.path.join(args.work, tag + ".ckpt")
        run([args.tinycnn, "import", path, "-o", mj, "--checkpoint", ck])
        types = sorted({n["type"] for n in json.load(open(mj))["nodes"]})
        print(f"     {tag}: imported as {types}")
        ort, _ = ort_logits(args, path, pixels, args.work, tag)
        tc = tinycnn_logits(args, ck, pixels, args.work, tag)
        agree(tc, ort, f"{tag}: imported into tinycnn vs ONNX Runtime on {len(pixels)} images")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["export", "torch", "ops"])
    p.add_argument("--tinycnn", required=True)
    p.add_argument("--logits", required=True)
    p.add_argument("--node")
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--images", type=int, default=0,
                   help="MNIST test images to compare on (default: export 1000, torch all 10000, ops 300)")
    p.add_argument("--plugin-dir", help="export: also load the plugins in this folder (the "
                   "example plugin's layers, mapped by their own onnx_export)")
    p.add_argument("models", nargs="*")
    args = p.parse_intermixed_args()
    if args.what in ("export", "ops") and not args.node:
        print("FAIL: no node to run ONNX Runtime with (install nodejs; scripts/install-deps.sh --test)")
        return 1
    {"export": cmd_export, "torch": cmd_torch, "ops": cmd_ops}[args.what](args)
    if failures:
        print(f"FAIL: {len(failures)} check(s) failed")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
