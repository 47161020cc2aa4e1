#!/usr/bin/env python3
"""Builds the benchmark videos: a real human face moving over a textured, panning background.

The face is the public-domain NASA portrait scikit-image ships (`skimage/data/astronaut.png`), the
same head region datasets/fixtures/make_face_clip.py uses; the background is scikit-image's
`coffee.png` scaled up and panning slowly, with a little deterministic noise so the encoder has
real detail to code (a plain background would make decoding unrealistically cheap). H.264 yuv420p
in MP4, 25 fps, with B-frames, encoded by the ffmpeg CLI with bit-exact flags and a single-threaded
x264, so a rerun gives files that decode identically.

Usage: make_videos.py OUT_DIR [--count N] [--seconds S] [--size WxH]
Writes bench_NN_WxH.mp4 for NN in 0..N, alternating 640x480 and 1280x720 (each video a different
path and speed), or all at --size. Existing files are kept.
"""

import argparse
import pathlib
import subprocess
import sys

import numpy as np
import skimage.data
import skimage.transform

FPS = 25
SIZES = [(640, 480), (1280, 720)]
# Head region of astronaut.png (x0, y0, side), as in make_face_clip.py.
HEAD = (135, 15, 180)


def resize_u8(img: np.ndarray, h: int, w: int) -> np.ndarray:
    out = skimage.transform.resize(img, (h, w), order=1, anti_aliasing=True)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def frames(index: int, width: int, height: int, count: int):
    """Yields the video's RGB frames."""
    rng = np.random.default_rng(1000 + index)
    patch_side = height * 2 // 5  # 192 px at 480p, 288 px at 720p
    x0, y0, side = HEAD
    head = skimage.data.astronaut()[y0 : y0 + side, x0 : x0 + side, :3]
    patch = resize_u8(head, patch_side, patch_side)
    # Background 25 % larger than the frame, so it can pan.
    bw, bh = width * 5 // 4, height * 5 // 4
    background = resize_u8(skimage.data.coffee()[:, :, :3], bh, bw)
    noise = rng.integers(-6, 7, size=(8, height, width, 3), dtype=np.int16)
    # Each video takes its own path: start/end corners and a vertical wobble.
    phase = index * 0.7
    for i in range(count):
        t = i / max(count - 1, 1)
        bx = int(round((bw - width) * t))
        by = int(round((bh - height) * (0.5 + 0.5 * np.sin(2 * np.pi * t + phase)) * 0.5))
        frame = background[by : by + height, bx : bx + width].astype(np.int16)
        frame = frame + noise[i % len(noise)]
        left = 0.05 + 0.1 * (index % 3)
        px = int(round((left + (0.85 - left - patch_side / width) * t) * width))
        py = int(round((height - patch_side) * (0.5 + 0.3 * np.sin(2 * np.pi * t * 1.5 + phase))))
        px = min(max(px, 0), width - patch_side)
        py = min(max(py, 0), height - patch_side)
        frame[py : py + patch_side, px : px + patch_side] = patch
        yield np.clip(frame, 0, 255).astype(np.uint8)


def encode(out: pathlib.Path, index: int, width: int, height: int, count: int) -> None:
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS), "-i", "-",
        "-frames:v", str(count), "-an", "-map_metadata", "-1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-c:v", "libx264", "-preset", "fast", "-crf", "23", "-g", "50", "-bf", "2",
        "-pix_fmt", "yuv420p", "-x264-params", "threads=1:sliced-threads=0",
        str(out) + ".part.mp4",
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for frame in frames(index, width, height, count):
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"ffmpeg failed on {out}")
    pathlib.Path(str(out) + ".part.mp4").rename(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir", type=pathlib.Path)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--only", type=int, help="build only video number ONLY")
    ap.add_argument("--size", help="WxH of every video (default: alternate 640x480 and 1280x720)")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in args.size.split("x"))] if args.size else SIZES
    args.out_dir.mkdir(parents=True, exist_ok=True)
    n_frames = int(round(args.seconds * FPS))
    for index in range(args.count):
        if args.only is not None and index != args.only:
            continue
        width, height = sizes[index % len(sizes)]
        out = args.out_dir / f"bench_{index:02d}_{width}x{height}.mp4"
        if out.exists():
            continue
        encode(out, index, width, height, n_frames)
        print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
