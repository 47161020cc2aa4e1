#!/usr/bin/env python3
"""Where do the Rust and Python pipelines differ? Compares, stage by stage, one video's images:
the worker's (`arena-bench dump --video V --out DIR` writes them in the crop cache format) against
scripts/bench/python_pipeline.py's decode, faces and crops of the same video.

Usage: compare_crops.py DIR VIDEO [--frames 32] [--resize exact|libs]
Prints, per stage, how many images match exactly and the largest per-pixel difference.
"""

import argparse
import pathlib
import struct
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import python_pipeline as pp  # noqa: E402


def read_crops(path: pathlib.Path):
    """The crop cache format of worker/src/crops.rs (ARC3; ARC2 has no contexts): per image
    (index, detected, image, context) with context = (frame w, frame h, (x, y, side), face box
    [x0, y0, x1, y1, score, eyes]) or None."""
    b = path.read_bytes()
    assert b[:4] in (b"ARC2", b"ARC3"), b[:4]
    v3 = b[:4] == b"ARC3"
    (n,) = struct.unpack_from("<I", b, 4)
    pos, out = 8, []
    for _ in range(n):
        index, flags = struct.unpack_from("<QB", b, pos)
        pos += 9
        context = None
        if v3 and flags & 2:
            fw, fh, x, y, side = struct.unpack_from("<5I", b, pos)
            f = [np.float32(v) for v in struct.unpack_from("<9f", b, pos + 20)]
            pos += 56
            eyes = f[5:] if all(np.isfinite(f[5:])) else None
            context = (fw, fh, (x, y, side), f[:5] + [eyes])
        w, h = struct.unpack_from("<II", b, pos)
        pos += 8
        img = np.frombuffer(b, dtype=np.uint8, count=w * h * 3, offset=pos).reshape(h, w, 3)
        pos += w * h * 3
        out.append((index, bool(flags & 1), img, context))
    return out


def diff(name: str, rust: list, py: list) -> None:
    same, worst, shapes = 0, 0, 0
    for a, b in zip(rust, py):
        if a.shape != b.shape:
            shapes += 1
            continue
        d = int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
        same += d == 0
        worst = max(worst, d)
    print(f"{name}: {same}/{len(rust)} identical, max |diff| {worst}, {shapes} with other sizes")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--face-model", default=".cache/models/blazeface-128.onnx")
    ap.add_argument("--resize", choices=["exact", "libs"], default="exact")
    args = ap.parse_args()
    pp.EXACT = args.resize == "exact"
    faces_r = read_crops(args.dir / "faces.bin")
    frames_r = read_crops(args.dir / "frames.bin")
    indices, (large, small) = pp.decode(args.video, args.frames, [1920, args.max_side])
    print(f"frame indices equal: {indices == [i for i, _, _, _ in frames_r]}")
    diff("whole frames (decode + swscale to the cache cap)", [f for _, _, f, _ in frames_r], small)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    faces = pp.Faces(args.face_model, opts)
    finder = pp.FaceFinder()
    found = [finder.find(faces, s, g) for s, g in zip(small, large)]
    images, contexts, detected = pp.cut_contexts(large, found, args.max_side)
    print(f"detections equal: {detected == [d for _, d, _, _ in faces_r]}")
    diff("face contexts (the cache)", [c for _, _, c, _ in faces_r], images)
    for margin, align in [(1.3, False), (1.3, True), (2.0, False)]:
        m = np.float32(margin)
        diff(
            f"crops at margin {margin}{' aligned' if align else ''} (each cut from its own side's contexts)",
            [pp.cut(c, ctx, m, align) for _, _, c, ctx in faces_r],
            [pp.cut(c, ctx, m, align) for c, ctx in zip(images, contexts)],
        )
    # Faces again, from the worker's own small frames: isolates the decode from the face stage.
    finder = pp.FaceFinder()
    found_r = [finder.find(faces, np.ascontiguousarray(f), g) for (_, _, f, _), g in zip(frames_r, large)]
    same_boxes = sum(
        (a is None and b is None) or (a is not None and b is not None and np.allclose(a[:4], b[:4], atol=1e-6))
        for a, b in zip(found, found_r)
    )
    print(f"face boxes from PyAV frames vs from the worker's frames: {same_boxes}/{len(found)} equal")


if __name__ == "__main__":
    main()
