#!/usr/bin/env python3
"""Builds the arena's baseline detectors, reproducibly, from synthetic data made by `arena`.

  edges       trained: fixed gradient filters -> |.| -> column/row edge profiles, plus colour
              contrasts across the face-box border -> one logistic layer fitted with
              scikit-learn. Crude swaps paste the donor face hard-edged with the donor's
              colours into the face box, so a sharp edge at the box border and a colour jump
              across it are what it learns.
  edges-weak  the same graph, handicapped: only the crop's mean colour reaches the logistic
              layer (the edge profiles and contrasts get weight 0), fitted on the same data.
              Identities differ by hue, so it learns little that carries to new identities.
  constant    the committed fixture datasets/fixtures/models/constant.onnx (every score 0.5).

Steps (all under --work, default .cache/baselines, git-ignored):
  1. `arena dataset synth` (seed TRAIN_SEED) + `arena dataset swap --strength crude`: training
     reals and crude fakes.
  2. `arena dataset inputs`: the exact float32 tensors the worker feeds a detector with this
     manifest (its sampler, BlazeFace crops, the detector's own resize and normalisation).
  3. numpy features (the same arithmetic as the ONNX graph), scikit-learn logistic regression,
     standardisation folded into the final Gemm; models + manifests written to --out.
  4. Checks: `arena eval` on training videos must give the per-frame scores numpy predicts
     (to 1e-4), then a held-out synthetic set (seed HELDOUT_SEED: other identities) is swapped
     crude and careful and scored with `arena eval`; video-level AUCs (scikit-learn) go to
     results.json beside the models.

Deterministic: same `arena` build, same seeds -> same videos, same models, same numbers.
Needs: python3 with numpy, onnx, scikit-learn (scripts/bootstrap installs them) and an `arena`
binary (--arena, $ARENA_BIN, else target/release or target/debug; built when missing).
Usage: datasets/baselines/train.py [--arena BIN] [--work DIR] [--out DIR]
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent

TRAIN_SEED, TRAIN_IDS, TRAIN_CLIPS = 11, 8, 3
HELDOUT_SEED, HELDOUT_IDS, HELDOUT_CLIPS = 2027, 6, 2
SIZE = 64  # model input side
GRID = 16  # colour grid cells per side (4 px each)
C = 0.1  # inverse L2 strength of the logistic layer

MANIFEST = """name = "{name}"
input = "input"
output = "logit"
size = [{size}, {size}]
layout = "nchw"
color = "rgb"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
crop = "face"
output_kind = "logit"
frames = 32
aggregate = "mean"
batch = 8
"""


def log(msg):
    print(f"train.py: {msg}", file=sys.stderr, flush=True)


def run(cmd):
    shown = [str(c) for c in cmd]
    videos = [c for c in shown if c.endswith(".mp4")]
    if len(videos) > 2:
        shown = [c for c in shown if not c.endswith(".mp4")] + [f"<{len(videos)} videos>"]
    log(" ".join(shown))
    subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.DEVNULL)


def arena_binary(given):
    if given:
        return pathlib.Path(given)
    if os.environ.get("ARENA_BIN"):
        return pathlib.Path(os.environ["ARENA_BIN"])
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "arena"
        if p.is_file():
            return p
    run(["cargo", "build", "--manifest-path", ROOT / "Cargo.toml", "--bin", "arena"])
    return ROOT / "target" / "debug" / "arena"


# --- the feature graph: numpy and ONNX must compute the same thing -------------------------------

def contrast_matrix():
    """[3*GRID*GRID, 15]: per channel, inner-minus-outer cell means across each side of the face
    box (left, right, top, bottom) and of the whole box; the box border sits near 0.115 and
    0.885 of a 1.3x crop, i.e. between cells 1 and 2, and 13 and 14."""
    cols = []
    mid = range(3, 13)
    sides = [
        ([(r, c) for r in mid for c in (2, 3)], [(r, c) for r in mid for c in (0, 1)]),
        ([(r, c) for r in mid for c in (12, 13)], [(r, c) for r in mid for c in (14, 15)]),
        ([(r, c) for r in (2, 3) for c in mid], [(r, c) for r in (0, 1) for c in mid]),
        ([(r, c) for r in (12, 13) for c in mid], [(r, c) for r in (14, 15) for c in mid]),
        ([(r, c) for r in mid for c in mid],
         [(r, c) for r in range(GRID) for c in range(GRID)
          if min(r, c) < 2 or max(r, c) > 13]),
    ]
    for ch in range(3):
        for inner, outer in sides:
            v = np.zeros((3, GRID, GRID))
            for r, c in inner:
                v[ch, r, c] += 1.0 / len(inner)
            for r, c in outer:
                v[ch, r, c] -= 1.0 / len(outer)
            cols.append(v.reshape(-1))
    return np.stack(cols, 1).astype(np.float32)


def mean_matrix():
    """[3*GRID*GRID, 3]: the crop's mean colour per channel."""
    m = np.zeros((3, GRID, GRID, 3), dtype=np.float32)
    for ch in range(3):
        m[ch, :, :, ch] = 1.0 / (GRID * GRID)
    return m.reshape(-1, 3)


def features(x):
    """x: [N, 3, SIZE, SIZE] float32 in [0, 1] -> [N, F] float32 (the ONNX graph's features)."""
    n = x.shape[0]
    dx = np.abs(x[:, :, :, 1:] - x[:, :, :, :-1])
    dy = np.abs(x[:, :, 1:, :] - x[:, :, :-1, :])
    col = dx.mean(axis=2).reshape(n, -1)
    row = dy.mean(axis=3).reshape(n, -1)
    cell = SIZE // GRID
    pooled = x.reshape(n, 3, GRID, cell, GRID, cell).mean(axis=(3, 5)).reshape(n, -1)
    contrast = np.abs(pooled @ contrast_matrix())
    means = pooled @ mean_matrix()
    return np.concatenate([col, row, contrast, means], 1).astype(np.float32)


def feature_names():
    e = SIZE - 1
    return (["col"] * 3 * e) + (["row"] * 3 * e) + (["contrast"] * 15) + (["mean"] * 3)


def onnx_model(weights, bias, name):
    """The feature graph above, then Gemm(weights, bias) -> logit [N, 1]."""
    def init(n, a):
        return numpy_helper.from_array(np.asarray(a, dtype=np.float32), n)

    wdx = np.zeros((3, 1, 1, 2), np.float32)
    wdx[:, 0, 0] = [-1.0, 1.0]
    wdy = np.zeros((3, 1, 2, 1), np.float32)
    wdy[:, 0, :, 0] = [-1.0, 1.0]
    cell = SIZE // GRID
    nodes = [
        helper.make_node("Conv", ["input", "wdx"], ["dx"], group=3, kernel_shape=[1, 2]),
        helper.make_node("Abs", ["dx"], ["adx"]),
        helper.make_node("ReduceMean", ["adx"], ["colp"], axes=[2], keepdims=0),
        helper.make_node("Flatten", ["colp"], ["col"], axis=1),
        helper.make_node("Conv", ["input", "wdy"], ["dy"], group=3, kernel_shape=[2, 1]),
        helper.make_node("Abs", ["dy"], ["ady"]),
        helper.make_node("ReduceMean", ["ady"], ["rowp"], axes=[3], keepdims=0),
        helper.make_node("Flatten", ["rowp"], ["row"], axis=1),
        helper.make_node("AveragePool", ["input"], ["cells"], kernel_shape=[cell, cell],
                         strides=[cell, cell]),
        helper.make_node("Flatten", ["cells"], ["pooled"], axis=1),
        helper.make_node("MatMul", ["pooled", "contrasts"], ["signed"]),
        helper.make_node("Abs", ["signed"], ["contrast"]),
        helper.make_node("MatMul", ["pooled", "means"], ["mean"]),
        helper.make_node("Concat", ["col", "row", "contrast", "mean"], ["features"], axis=1),
        helper.make_node("Gemm", ["features", "w", "b"], ["logit"]),
    ]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch", 1])],
        [init("wdx", wdx), init("wdy", wdy), init("contrasts", contrast_matrix()),
         init("means", mean_matrix()), init("w", weights.reshape(-1, 1)),
         init("b", [bias])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="arena-baselines")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# --- data ------------------------------------------------------------------------------------------

def make_set(arena, work, seed, ids, clips, strengths):
    """Synthetic reals plus one folder of fakes per swap strength; cached by folder."""
    base = work / f"synth-{seed}-{ids}x{clips}"
    if not (base / "manifest.toml").is_file():
        run([arena, "dataset", "synth", "--out", base, "--identities", ids, "--clips", clips,
             "--seed", seed])
    reals = sorted((base / "real").glob("*.mp4"))
    fakes = {}
    for s in strengths:
        out = base / f"{s}"
        if not out.is_dir():
            z = base / f"{s}.zip"
            run([arena, "dataset", "swap", "--dataset", base / "manifest.toml", "--strength", s,
                 "--out", z])
            with zipfile.ZipFile(z) as archive:
                archive.extractall(out.with_suffix(".tmp"))
            out.with_suffix(".tmp").rename(out)
            z.unlink()
        fakes[s] = sorted(out.glob("*.mp4"))
    return reals, fakes


def model_inputs(arena, manifest, videos, out):
    """The detector's input tensors per video: ([rows, 3, S, S], [(start, rows)])."""
    if not out.is_file():
        run([arena, "dataset", "inputs", "--manifest", manifest, "--out", out, *videos])
    index = json.loads(out.with_suffix(".json").read_text())
    paths = [str(pathlib.Path(v["path"])) for v in index["videos"]]
    assert paths == [str(v) for v in videos], "the inputs index lists other videos"
    return np.load(out), [(v["start"], v["rows"]) for v in index["videos"]]


def eval_scores(arena, videos, detectors, out):
    """Video scores per detector name from `arena eval` (the worker pipeline, offline)."""
    args = [arena, "eval", *videos]
    for model, manifest in detectors:
        args += ["--detector", f"{model}:{manifest}"]
    run(args + ["--out", out])
    report = json.loads(out.read_text())
    scores = {}
    for v in report["videos"]:
        for s in v["scores"]:
            scores.setdefault(s["detector"], []).append((s["score"], s["per_frame"]))
    return scores


# --- training --------------------------------------------------------------------------------------

def fit(x, y, mask, c):
    """Logistic regression on the masked features, standardised, folded back into raw weights."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    clf = LogisticRegression(C=c, max_iter=5000)
    clf.fit(z[:, mask], y)
    w = np.zeros(x.shape[1])
    w[mask] = clf.coef_[0] / sd[mask]
    b = float(clf.intercept_[0] - np.sum(clf.coef_[0] * mu[mask] / sd[mask]))
    return w.astype(np.float32), np.float32(b)


def video_auc(y, scores):
    return float(roc_auc_score(y, scores))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arena")
    ap.add_argument("--work", default=str(ROOT / ".cache" / "baselines"))
    ap.add_argument("--out", default=str(HERE / "models"))
    args = ap.parse_args()
    arena = arena_binary(args.arena)
    work, out = pathlib.Path(args.work), pathlib.Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    # 1-2. Training data: reals and crude fakes, as the worker feeds them to a detector.
    manifest = work / "inputs.toml"
    manifest.write_text(MANIFEST.format(name="inputs", size=SIZE))
    reals, fakes = make_set(arena, work, TRAIN_SEED, TRAIN_IDS, TRAIN_CLIPS, ["crude"])
    videos = reals + fakes["crude"]
    x, rows = model_inputs(arena, manifest, videos, work / f"train-{TRAIN_SEED}-{SIZE}.npy")
    y = np.zeros(len(x))
    vid = np.zeros(len(x), dtype=int)
    for i, (start, n) in enumerate(rows):
        y[start:start + n] = 1.0 if i >= len(reals) else 0.0
        vid[start:start + n] = i
    log(f"training: {len(reals)} reals, {len(fakes['crude'])} crude fakes, {len(x)} frames")

    # 3. Features and the logistic layers.
    f = features(x)
    names = np.array(feature_names())
    models = {
        "edges": fit(f, y, np.ones(f.shape[1], bool), C),
        "edges-weak": fit(f, y, names == "mean", C),
    }
    results = {"train": {}, "heldout": {}, "seeds": {}}
    for name, (w, b) in models.items():
        onnx.save(onnx_model(w, b, name), out / f"{name}.onnx")
        (out / f"{name}.toml").write_text(MANIFEST.format(name=name, size=SIZE))
        p = 1.0 / (1.0 + np.exp(-(f @ w + b)))
        per_video = np.array([p[vid == i].mean() for i in range(len(videos))])
        yv = np.array([0.0] * len(reals) + [1.0] * len(fakes["crude"]))
        results["train"][name] = {"frame_auc": video_auc(y, p),
                                  "video_auc": video_auc(yv, per_video)}
        log(f"{name}: train AUC frames {results['train'][name]['frame_auc']:.3f}, "
            f"videos {results['train'][name]['video_auc']:.3f}")
        models[name] = (w, b, p)

    # 4a. The real pipeline scores what numpy predicts.
    detectors = [(out / f"{n}.onnx", out / f"{n}.toml") for n in models]
    constant = ROOT / "datasets" / "fixtures" / "models"
    detectors.append((constant / "constant.onnx", constant / "constant.toml"))
    check = [videos[0], videos[-1]]
    got = eval_scores(arena, check, detectors, work / "check.json")
    for name in models:
        for (score, per_frame), i in zip(got[name], [0, len(videos) - 1]):
            want = models[name][2][vid == i]
            diff = np.max(np.abs(np.array(per_frame) - want))
            assert diff < 1e-4, f"{name}: arena eval differs from numpy by {diff}"
    log("arena eval agrees with the numpy features (< 1e-4 per frame)")

    # 4b. Held-out identities (another seed), crude and careful swaps, the real pipeline.
    reals_h, fakes_h = make_set(arena, work, HELDOUT_SEED, HELDOUT_IDS, HELDOUT_CLIPS,
                                ["crude", "careful"])
    for strength in ("crude", "careful"):
        vids = reals_h + fakes_h[strength]
        yv = [0] * len(reals_h) + [1] * len(fakes_h[strength])
        got = eval_scores(arena, vids, detectors, work / f"heldout-{strength}.json")
        for name, scores in got.items():
            auc = video_auc(yv, [s for s, _ in scores])
            results["heldout"].setdefault(name, {})[strength] = auc
            log(f"held-out {strength}: {name} AUC {auc:.3f}")
    results["seeds"] = {
        "train": {"seed": TRAIN_SEED, "identities": TRAIN_IDS, "clips": TRAIN_CLIPS,
                  "reals": len(reals), "fakes": len(fakes["crude"]), "frames": int(len(x))},
        "heldout": {"seed": HELDOUT_SEED, "identities": HELDOUT_IDS, "clips": HELDOUT_CLIPS,
                    "reals": len(reals_h), "fakes": len(fakes_h["crude"])},
    }
    results["settings"] = {"size": SIZE, "grid": GRID, "C": C, "sampler_frames": 32}
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    log(f"models and results.json written to {out}")


if __name__ == "__main__":
    main()
