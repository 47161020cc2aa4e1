#!/usr/bin/env python3
"""Builds the benchmark detectors: realistic network shapes with deterministic random weights.

Random weights are fine for timing (the cost of a convolution does not depend on its values), so
these stand in for real deepfake detectors of the same shape:

  convnet-224      a small 4-layer conv net at 224 px (NCHW, RGB, ImageNet mean/std, 1 logit)
  convframe-224    the same shape with other weights, fed the whole frame letterboxed
                   (crop = "frame", NHWC, BGR, 2-wide probability output)
  effnet-b0-224    EfficientNet-B0's layout (MBConv blocks, depthwise 3x3/5x5, squeeze-excite,
                   swish; batch norm folded into conv biases as at inference) at 224 px,
                   2-wide logits
  xception-299     Xception's layout (entry, 8 middle blocks, exit; separable convolutions) at
                   299 px, 1 logit, the usual DFDC/FaceForensics++ baseline shape

Each model's final layer is calibrated on four natural images so its logits spread around 0
(std 1.5) instead of saturating: scores then differ per frame, which makes the Python-vs-Rust
score comparison meaningful. Everything is seeded; a rerun writes identical files.

Needs numpy, onnx, onnxruntime, scikit-image. Usage: build_bench_models.py OUT_DIR [NAME...]
Writes OUT_DIR/NAME.onnx and OUT_DIR/NAME.toml (the manifest); existing files are kept.
"""

import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
import skimage.data
import skimage.transform
from onnx import TensorProto, helper, numpy_helper

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])


class Graph:
    """A tiny ONNX graph builder: every op returns its output name."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def op(self, op_type: str, inputs, prefix: str = "t", out: str = "", **attrs) -> str:
        out = out or self.name(prefix)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, groups=1, gain=1.0):
        fan_in = cin // groups * k * k
        w = self.rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), size=(cout, cin // groups, k, k))
        b = self.rng.normal(0.0, 0.01, size=(cout,))
        p = k // 2
        return self.op(
            "Conv", [x, self.const(w), self.const(b, "b")],
            kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p], group=groups,
        )

    def relu(self, x):
        return self.op("Relu", [x])

    def swish(self, x):
        return self.op("Mul", [x, self.op("Sigmoid", [x])])

    def gap(self, x):
        return self.op("GlobalAveragePool", [x])

    def maxpool(self, x):
        return self.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])

    def flatten(self, x):
        return self.op("Flatten", [x], axis=1)


# --- architectures (each returns the pooled feature [N, C] and its width) ---------------------


def convnet(g: Graph, x: str):
    for cin, cout in [(3, 16), (16, 32), (32, 64), (64, 128)]:
        x = g.relu(g.conv(x, cin, cout, 3, stride=2))
    return g.flatten(g.gap(x)), 128


EFFNET_B0 = [  # expand ratio, channels, repeats, stride, kernel
    (1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3),
]


def mbconv(g: Graph, x, cin, cout, expand, stride, k):
    mid = cin * expand
    h = g.swish(g.conv(x, cin, mid, 1)) if expand != 1 else x
    h = g.swish(g.conv(h, mid, mid, k, stride=stride, groups=mid))
    squeeze = max(1, cin // 4)
    s = g.swish(g.conv(g.gap(h), mid, squeeze, 1))
    s = g.op("Sigmoid", [g.conv(s, squeeze, mid, 1)])
    h = g.op("Mul", [h, s])
    residual = stride == 1 and cin == cout
    h = g.conv(h, mid, cout, 1, gain=0.5 if residual else 1.0)
    return g.op("Add", [x, h]) if residual else h


def effnet_b0(g: Graph, x: str):
    x = g.swish(g.conv(x, 3, 32, 3, stride=2))
    cin = 32
    for expand, cout, repeats, stride, k in EFFNET_B0:
        for r in range(repeats):
            x = mbconv(g, x, cin, cout, expand, stride if r == 0 else 1, k)
            cin = cout
    x = g.swish(g.conv(x, cin, 1280, 1))
    return g.flatten(g.gap(x)), 1280


def sepconv(g: Graph, x, cin, cout, gain=1.0):
    return g.conv(g.conv(x, cin, cin, 3, groups=cin), cin, cout, 1, gain=gain)


def xception(g: Graph, x: str):
    x = g.relu(g.conv(x, 3, 32, 3, stride=2))
    x = g.relu(g.conv(x, 32, 64, 3))
    cin = 64
    for i, cout in enumerate([128, 256, 728]):
        shortcut = g.conv(x, cin, cout, 1, stride=2, gain=0.5)
        h = x if i == 0 else g.relu(x)
        h = g.relu(sepconv(g, h, cin, cout))
        h = g.maxpool(sepconv(g, h, cout, cout, gain=0.5))
        x = g.op("Add", [shortcut, h])
        cin = cout
    for _ in range(8):
        h = x
        for j in range(3):
            h = sepconv(g, g.relu(h), 728, 728, gain=0.5 if j == 2 else 1.0)
        x = g.op("Add", [x, h])
    shortcut = g.conv(x, 728, 1024, 1, stride=2, gain=0.5)
    h = g.relu(sepconv(g, g.relu(x), 728, 728))
    h = g.maxpool(sepconv(g, h, 728, 1024, gain=0.5))
    x = g.op("Add", [shortcut, h])
    x = g.relu(sepconv(g, x, 1024, 1536))
    x = g.relu(sepconv(g, x, 1536, 2048))
    return g.flatten(g.gap(x)), 2048


# --- the models and their manifests -----------------------------------------------------------

MODELS = {
    # name: (architecture, seed, side, layout, color, (mean, std), crop, outputs, frames, batch, agg)
    "convnet-224": (convnet, 11, 224, "nchw", "rgb", IMAGENET, "face", "logit1", 32, 8, "mean"),
    "convframe-224": (convnet, 12, 224, "nhwc", "bgr", HALF, "frame", "prob2", 32, 8, "median"),
    "effnet-b0-224": (effnet_b0, 13, 224, "nchw", "rgb", IMAGENET, "face", "logit2", 32, 8, "mean"),
    "xception-299": (xception, 14, 299, "nchw", "rgb", HALF, "face", "logit1", 8, 4, "confident"),
}


def calibration_images(side: int) -> list:
    """Four natural images at side x side, uint8 RGB: the astronaut's face, a cup, a cat, a man."""
    astro = skimage.data.astronaut()[15:195, 135:315]
    camera = np.repeat(skimage.data.camera()[:, :, None], 3, axis=2)
    out = []
    for img in [astro, skimage.data.coffee(), skimage.data.chelsea(), camera]:
        r = skimage.transform.resize(img[:, :, :3], (side, side), order=1, anti_aliasing=True)
        out.append(np.clip(np.round(r * 255.0), 0, 255).astype(np.uint8))
    return out


def model_input(images, layout, color, norm):
    mean, std = (np.array(v, dtype=np.float32) for v in norm)
    x = np.stack(images).astype(np.float32) / 255.0
    if color == "bgr":
        x = x[..., ::-1]
    x = (x - mean) / std
    return np.ascontiguousarray(x if layout == "nhwc" else x.transpose(0, 3, 1, 2))


def build(name: str, out_dir: pathlib.Path) -> None:
    arch, seed, side, layout, color, norm, crop, outputs, frames, batch, agg = MODELS[name]
    g = Graph(seed)
    shape = ["batch", 3, side, side] if layout == "nchw" else ["batch", side, side, 3]
    x = "input"
    if layout == "nhwc":
        x = g.op("Transpose", [x], perm=[0, 3, 1, 2])
    feature, width = arch(g, x)
    graph_in = [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)]

    def model(nodes, inits, outs):
        m = helper.make_model(
            helper.make_graph(nodes, name, graph_in, outs, inits),
            opset_imports=[helper.make_opsetid("", 13)],
            producer_name="arena-bench-models",
        )
        m.ir_version = 8
        return m

    # Calibrate the head: features of four natural images -> logits with mean 0, std 1.5.
    probe = model(g.nodes, g.inits, [helper.make_tensor_value_info(feature, TensorProto.FLOAT, None)])
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feats = sess.run(None, {"input": model_input(calibration_images(side), layout, color, norm)})[0]
    w = g.rng.normal(0.0, 1.0, size=(width,))
    z = feats.astype(np.float64) @ w
    scale = 1.5 / max(float(np.std(z)), 1e-6)
    w, b = w * scale, -float(np.mean(z)) * scale
    if outputs == "logit1":
        head = g.op("Add", [g.op("MatMul", [feature, g.const(w[:, None])]), g.const([b], "b")], out="logits")
        out_shape, kind, fake = ["batch", 1], "logit", None
    else:
        # Two columns whose difference is the calibrated logit (softmax -> sigmoid(l1 - l0)).
        w2 = np.stack([-w / 2, w / 2], axis=1)
        prob = outputs == "prob2"
        logits = g.op(
            "Add", [g.op("MatMul", [feature, g.const(w2)]), g.const([-b / 2, b / 2], "b")],
            out="" if prob else "logits",
        )
        head = g.op("Softmax", [logits], out="prob", axis=1) if prob else logits
        out_shape, kind, fake = ["batch", 2], ("probability" if outputs == "prob2" else "logit"), 1
    final = model(g.nodes, g.inits, [helper.make_tensor_value_info(head, TensorProto.FLOAT, out_shape)])
    onnx.checker.check_model(final)
    onnx.save(final, out_dir / f"{name}.onnx")
    mean, std = norm
    lines = [
        f'name = "{name}"', 'input = "input"', f'output = "{head}"', f"size = [{side}, {side}]",
        f'layout = "{layout}"', f'color = "{color}"', f"mean = {mean}", f"std = {std}",
        f'crop = "{crop}"', f'output_kind = "{kind}"',
    ]
    if fake is not None:
        lines.append(f"fake_index = {fake}")
    lines += [f"frames = {frames}", f'aggregate = "{agg}"', f"batch = {batch}"]
    (out_dir / f"{name}.toml").write_text("\n".join(lines) + "\n")
    params = sum(int(np.prod(t.dims)) for t in final.graph.initializer)
    print(f"wrote {out_dir / name}.onnx ({params / 1e6:.1f} M parameters)")


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_dir = pathlib.Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or list(MODELS):
        if (out_dir / f"{name}.onnx").exists() and (out_dir / f"{name}.toml").exists():
            continue
        build(name, out_dir)


if __name__ == "__main__":
    main()
