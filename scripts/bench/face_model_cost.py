#!/usr/bin/env python3
"""What one BlazeFace run costs on this machine, and what would make it cheaper (docs/BENCHMARKS.md
(d), "Where the time goes"). onnxruntime, one intra-op thread (as the worker), median of many runs,
configurations interleaved so a change of machine load hits them alike:

1. the bootstrap's model vs the size-free rewrite the worker runs (python_pipeline.any_size, the
   same rewrite as worker/src/face_model.rs), at 128 px;
2. session options: graph optimisation levels, no spinning, no memory pattern;
3. batching: the rewrite with a free batch too, 1 / 4 / 8 / 16 inputs per run (per input);
4. a whole frame at a tile scale in one run, per 128x128 of input.

Usage: face_model_cost.py [MODEL]   (default .cache/models/blazeface-128.onnx)
"""

import pathlib
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import python_pipeline as pp  # noqa: E402


def session(model: bytes, level=None, spin=None, mem=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = 1, 1, 3
    if level is not None:
        so.graph_optimization_level = level
    so.enable_mem_pattern = mem
    if spin is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def batched(model: bytes) -> bytes:
    """The size-free model with a free batch too (the Reshapes copy dim 0)."""
    m = onnx.ModelProto.FromString(model)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    for n in g.node:
        if n.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            shape[0] = 0
            inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), n.input[1]))
    g.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return m.SerializeToString()


def interleaved(cases: dict, rounds: int) -> dict:
    """Median ms per run of each (session, input) case, run in turn."""
    times = {k: [] for k in cases}
    for s, x in cases.values():
        s.run(None, {"input:0": x})
    for _ in range(rounds):
        for k, (s, x) in cases.items():
            t = time.perf_counter()
            s.run(None, {"input:0": x})
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) * 1000 for k, v in times.items()}


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else ".cache/models/blazeface-128.onnx"
    rng = np.random.default_rng(0)
    x = lambda *shape: rng.uniform(-1, 1, shape).astype(np.float32)  # noqa: E731
    original = pathlib.Path(path).read_bytes()
    free = pp.any_size(path)
    one = x(1, 128, 128, 3)
    L = ort.GraphOptimizationLevel
    print("## one 128-px run (median ms)")
    cases = {
        "bootstrap model": (session(original), one),
        "size-free rewrite": (session(free), one),
        "rewrite, optimisation extended": (session(free, L.ORT_ENABLE_EXTENDED), one),
        "rewrite, optimisation basic": (session(free, L.ORT_ENABLE_BASIC), one),
        "rewrite, no optimisation": (session(free, L.ORT_DISABLE_ALL), one),
        "rewrite, no spinning": (session(free, spin="0"), one),
        "rewrite, no memory pattern": (session(free, mem=False), one),
    }
    base = interleaved(cases, 200)
    for k, v in base.items():
        print(f"{k:34s} {v:6.3f}")
    print("\n## batching (median ms per input)")
    b = session(batched(free))
    batch = interleaved({n: (b, x(n, 128, 128, 3)) for n in (1, 4, 8, 16)}, 30)
    for n, v in batch.items():
        print(f"batch {n:2d}  {v / n:6.3f}")
    print("\n## one run over a resized frame (median ms; per 128x128 of input)")
    s = session(free)
    sizes = {(h, w): (s, x(1, h, w, 3)) for h, w in [(128, 128), (128, 240), (240, 416), (256, 464), (352, 608), (512, 912)]}
    for (h, w), v in interleaved(sizes, 20).items():
        print(f"{w:4d}x{h:<4d} {v:7.2f}  {v / (h * w / 16384):6.3f}")


if __name__ == "__main__":
    main()
