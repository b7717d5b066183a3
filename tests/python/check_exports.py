#!/usr/bin/python3
"""Independent checks of RepNAS Studio's exported files (run with Debian's /usr/bin/python3).

usage: check_exports.py ONNX TORCHSCRIPT INPUT.f32 EXPECTED.f32 N C H W CLASSES

INPUT.f32 holds N*C*H*W little-endian float32 values, EXPECTED.f32 the N*CLASSES logits the
tool computed. Checks: onnx.checker full_check; OpenCV dnn runs the ONNX file and agrees with
EXPECTED to 1e-4 (relative to max |logit|, at least 1); PyTorch loads the TorchScript file and
agrees to 1e-5; PyTorch rebuilds the network from the ONNX initializers and agrees to 1e-4.
Exit 0 when all pass, 1 on a failed check, 77 when a checker module is not installed.
"""
import sys

missing = []
try:
    import numpy as np
except ImportError:
    print("SKIP: python3-numpy is not installed"); sys.exit(77)
for name in ("onnx", "cv2", "torch"):
    try:
        __import__(name)
    except ImportError:
        missing.append(name)
if missing:
    pkg = {"onnx": "python3-onnx", "cv2": "python3-opencv", "torch": "python3-torch"}
    print("SKIP: not installed: " + ", ".join(pkg[m] for m in missing)); sys.exit(77)

import cv2
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

onnx_path, ts_path, in_path, exp_path = sys.argv[1:5]
n, c, h, w, classes = map(int, sys.argv[5:10])
x = np.fromfile(in_path, dtype="<f4").reshape(n, c, h, w)
expected = np.fromfile(exp_path, dtype="<f4").reshape(n, classes)
scale = max(1.0, float(np.abs(expected).max()))
failures = []

def check(name, got, tol):
    err = float(np.abs(got - expected).max())
    ok = err <= tol * scale
    print(f"{name}: max abs err {err:.3e} (limit {tol * scale:.3e}) {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(name)

model = onnx.load(onnx_path)
onnx.checker.check_model(model, full_check=True)
print("onnx.checker full_check: ok")
ops = {node.op_type for node in model.graph.node}
allowed = {"Conv", "Relu", "Add", "GlobalAveragePool", "Flatten", "Gemm"}
if not ops <= allowed:
    failures.append("operators"); print("unexpected operators:", ops - allowed)
if model.opset_import[0].version != 13:
    failures.append("opset"); print("opset", model.opset_import[0].version)
dims = model.graph.input[0].type.tensor_type.shape.dim
if not dims[0].dim_param or model.graph.input[0].name != "input" or model.graph.output[0].name != "logits":
    failures.append("io"); print("input/output names or dynamic batch wrong")
meta = {p.key: p.value for p in model.metadata_props}
if "repnas.odbb" not in meta:
    failures.append("metadata"); print("no repnas.odbb metadata")

net = cv2.dnn.readNetFromONNX(onnx_path)
net.setInput(x)
check("opencv dnn (onnx)", net.forward(), 1e-4)

module = torch.jit.load(ts_path)
with torch.no_grad():
    check("torch.jit.load (torchscript)", module(torch.from_numpy(x)).numpy(), 1e-5)

# PyTorch from the ONNX initializers, node by node.
init = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
values = {"input": torch.from_numpy(x)}
def attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
with torch.no_grad():
    for node in model.graph.node:
        ins = [values[i] if i in values else init[i] for i in node.input]
        if node.op_type == "Conv":
            p = attr(node, "pads")
            out = F.conv2d(ins[0], ins[1], ins[2], stride=attr(node, "strides"), padding=(p[0], p[1]), groups=attr(node, "group"))
        elif node.op_type == "Relu":
            out = F.relu(ins[0])
        elif node.op_type == "Add":
            out = ins[0] + ins[1]
        elif node.op_type == "GlobalAveragePool":
            out = ins[0].mean(dim=(2, 3), keepdim=True)
        elif node.op_type == "Flatten":
            out = ins[0].flatten(attr(node, "axis"))
        elif node.op_type == "Gemm":
            out = ins[0] @ (ins[1].t() if attr(node, "transB") else ins[1]) + ins[2]
        values[node.output[0]] = out
check("pytorch from onnx initializers", values["logits"].numpy(), 1e-4)

sys.exit(1 if failures else 0)
