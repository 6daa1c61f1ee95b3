#!/usr/bin/env python3
"""Writes the ONNX seeds of tests/fuzz/corpus/onnx/: small valid models (built
with python3-onnx's helper) that together use every operator the importer
reads, so the fuzzer starts from files that get past the protobuf layer.
Run from the repository root with /usr/bin/python3."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = "tests/fuzz/corpus/onnx"
N = helper.make_node
r = np.random.default_rng(3)


def f(*s):
    return (r.standard_normal(s) * 0.3).astype(np.float32)


def model(name, nodes, inits, in_shape, out_shape, opset=13, meta=None):
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"] + out_shape)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    for k, v in (meta or {}).items():
        m.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(m)
    with open(os.path.join(OUT, name + ".onnx"), "wb") as out:
        out.write(m.SerializeToString())


os.makedirs(OUT, exist_ok=True)
model("conv_pool_gemm", [
    N("Sub", ["x", "mean"], ["s"]), N("Div", ["s", "std"], ["n"]),
    N("Conv", ["n", "w", "b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
    N("Relu", ["c"], ["r"]), N("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
    N("Flatten", ["p"], ["fl"]), N("Gemm", ["fl", "fw", "fb"], ["y"], transB=1)],
    {"mean": np.array([0.1], np.float32), "std": np.array([0.3], np.float32),
     "w": f(2, 1, 3, 3), "b": f(2), "fw": f(3, 8), "fb": f(3)}, [1, 4, 4], [3],
    meta={"class_names": '["a","b","c"]'})
model("bn_gap_concat", [
    N("Conv", ["x", "w"], ["c"], group=1, dilations=[1, 1]),
    N("BatchNormalization", ["c", "s", "o", "m", "v"], ["bn"], epsilon=1e-3),
    N("LeakyRelu", ["bn"], ["l"], alpha=0.1), N("Sigmoid", ["bn"], ["sg"]),
    N("Concat", ["l", "sg"], ["cat"], axis=1), N("GlobalAveragePool", ["cat"], ["gap"]),
    N("Flatten", ["gap"], ["fl"]), N("Dropout", ["fl"], ["d"]),
    N("Gemm", ["d", "fw", "fb"], ["g"], transB=1), N("Softmax", ["g"], ["y"])],
    {"w": f(2, 2, 1, 1), "s": f(2) + 1, "o": f(2), "m": f(2), "v": np.abs(f(2)) + 0.5,
     "fw": f(2, 4), "fb": f(2)}, [2, 3, 3], [2], opset=11)
model("matmul_reshape", [
    N("AveragePool", ["x"], ["a"], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 1, 1],
      count_include_pad=1),
    N("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
    N("Reshape", ["a", "shape"], ["rs"]), N("Identity", ["rs"], ["i"]),
    N("MatMul", ["i", "mw"], ["mm"]), N("Add", ["mm", "mb"], ["ad"]),
    N("Tanh", ["ad"], ["t"]), N("Relu", ["ad"], ["u"]), N("Sum", ["t", "u", "ad"], ["y"])],
    {"mw": f(25, 3), "mb": f(3)}, [1, 4, 4], [3])
model("resnet_block", [
    N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
    N("BatchNormalization", ["c1", "s", "o", "m", "v"], ["bn"]), N("Relu", ["bn"], ["r"]),
    N("Conv", ["r", "w2"], ["c2"], pads=[1, 1, 1, 1]), N("Add", ["c2", "r"], ["ad"]),
    N("GlobalAveragePool", ["ad"], ["gap"]),
    N("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([-1, 2], np.int64))),
    N("Reshape", ["gap", "shape"], ["fl"]), N("Gemm", ["fl", "fw"], ["y"])],
    {"w1": f(2, 1, 3, 3), "b1": f(2), "s": f(2) + 1, "o": f(2), "m": f(2),
     "v": np.abs(f(2)) + 0.5, "w2": f(2, 2, 3, 3), "fw": f(2, 2)}, [1, 3, 3], [2])
