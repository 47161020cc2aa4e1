#!/usr/bin/env python3
"""Could the face stage skip the detector on some sampled frames and carry the box? From the face
benchmark's truth (make_face_videos.py), per clip: the IoU between the subject's true box in one
sampled frame (K = 32) and (a) the previous sampled frame's box (a stale box), (b) the box
extrapolated at constant velocity from the two previous sampled frames; median, and how many
frames fall under the 0.6 target (docs/BENCHMARKS.md (d)).

Usage: face_motion.py DIR   (DIR holds truth.json)
"""

import json
import math
import pathlib
import sys

K = 32


def iou(a, b) -> float:
    (ax, ay, s), (bx, by, u) = a, b
    w = max(min(ax + s, bx + u) - max(ax, bx), 0)
    h = max(min(ay + s, by + u) - max(ay, by), 0)
    inter = w * h
    return inter / (s * s + u * u - inter)


def main() -> None:
    truth = json.loads((pathlib.Path(sys.argv[1]) / "truth.json").read_text())
    for clip, v in truth.items():
        frames = v["frames"]
        n = len(frames)
        kept = [int(math.floor(i * (n - 1) / (K - 1) + 0.5)) for i in range(K)]
        squares = [frames[i]["subject"] for i in kept]
        stale, moving = [], []
        for a, b, c in zip(squares, squares[1:], squares[2:]):
            if None in (a, b, c):
                continue
            stale.append(iou(b, c))
            moving.append(iou([2 * b[0] - a[0], 2 * b[1] - a[1], b[2]], c))
        if not stale:
            continue
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        low = lambda xs: sum(x < 0.6 for x in xs)  # noqa: E731
        print(f"{clip:14s} stale box: median IoU {med(stale):.2f}, < 0.6 in {low(stale):2d}/{len(stale)}"
              f" | constant velocity: median {med(moving):.2f}, < 0.6 in {low(moving):2d}/{len(moving)}")


if __name__ == "__main__":
    main()
