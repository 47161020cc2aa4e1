#!/usr/bin/env python3
"""Builds the face benchmark's clips (docs/BENCHMARKS.md (d)): real faces at known places.

The face is the public-domain NASA portrait scikit-image ships (`skimage/data/astronaut.png`, the
head square make_face_clip.py uses), pasted at a known square ("patch") over scikit-image's
`coffee.png` panning behind it with a little deterministic noise. Per clip: a resolution from 480p
to 1080p, a patch size (the face is about 0.53 of the patch: a 76-px patch holds a ~40-px face),
a path; `two` adds a second person (the portrait mirrored and tinted) that starts smaller and ends
larger than the subject; `away` replaces the subject's face by the back of a head (the patch
blurred to a blob) for a few frames, as when someone turns away; `none` has no face at all. H.264 yuv420p in MP4, 25 fps,
48 frames (or --frames N), single-threaded x264 with bit-exact flags.

Writes OUT_DIR/<clip>.mp4, OUT_DIR/truth.json ({clip: {"width", "height", "frames": [per frame:
{"subject": [x, y, side] or null, "other": [x, y, side] or null}]}}; squares in display pixels)
and OUT_DIR/head.rgb (the 180x180 head square, raw RGB24: the bench finds where in it the face
model puts its box, to turn the patch squares into face boxes). Existing clips are kept.

Usage: make_face_videos.py OUT_DIR [--frames N]   (N frames per clip, default 48)
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import skimage.data
import skimage.filters
import skimage.transform

FPS = 25
# Frames per clip: 48 (2 s) by default; `--frames N` makes longer clips of the same paths (the
# same motion between the K sampled frames, N / 48 times the decoding).
FRAMES = int(sys.argv[sys.argv.index("--frames") + 1]) if "--frames" in sys.argv else 48
HEAD = (135, 15, 180)
# name, width, height, subject patch side, flags
CLIPS = [
    ("p480_face40", 854, 480, 76, ""),
    ("p480_face80", 854, 480, 150, ""),
    ("p720_face40", 1280, 720, 76, ""),
    ("p720_face90", 1280, 720, 170, ""),
    ("p720_away", 1280, 720, 120, "away"),
    ("p1080_face40", 1920, 1080, 76, ""),
    ("p1080_face60", 1920, 1080, 113, ""),
    ("p1080_face150", 1920, 1080, 283, ""),
    ("p1080_two", 1920, 1080, 113, "two"),
    # No face at all: what the search costs on a faceless video.
    ("p480_none", 854, 480, 76, "none"),
    ("p1080_none", 1920, 1080, 113, "none"),
]
AWAY = range(18 * FRAMES // 48, 27 * FRAMES // 48)


def resize_u8(img: np.ndarray, h: int, w: int) -> np.ndarray:
    out = skimage.transform.resize(img, (h, w), order=1, anti_aliasing=True)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def head() -> np.ndarray:
    x0, y0, side = HEAD
    return skimage.data.astronaut()[y0 : y0 + side, x0 : x0 + side, :3].copy()


def clip(index: int, width: int, height: int, side: int, flags: str):
    """Yields (frame, subject square, other square) per frame."""
    rng = np.random.default_rng(2000 + index)
    h = head()
    patch = resize_u8(h, side, side)
    blob = resize_u8(skimage.filters.gaussian(h, sigma=25, channel_axis=2), side, side)
    bw, bh = width * 5 // 4, height * 5 // 4
    background = resize_u8(skimage.data.coffee()[:, :, :3], bh, bw)
    noise = rng.integers(-6, 7, size=(8, height, width, 3), dtype=np.int16)
    phase = index * 0.9
    for i in range(FRAMES):
        t = i / (FRAMES - 1)
        bx = int(round((bw - width) * t))
        by = int(round((bh - height) * 0.25 * (1 + np.sin(2 * np.pi * t + phase))))
        frame = background[by : by + height, bx : bx + width].astype(np.int16) + noise[i % 8]
        # The subject crosses a third of the frame, at a height that wobbles.
        # With a second person on the right, the subject stays left of them (never occluded).
        left = 0.05 if "two" in flags else 0.08 + 0.2 * (index % 3)
        px = int(round((left + 0.33 * t) * width))
        py = int(round((height - side) * (0.35 + 0.25 * np.sin(2 * np.pi * t * 1.3 + phase))))
        px, py = min(max(px, 0), width - side), min(max(py, 0), height - side)
        away = "away" in flags and i in AWAY
        if "none" in flags:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
            yield frame, None, None
            continue
        frame[py : py + side, px : px + side] = blob if away else patch
        other = None
        if "two" in flags:
            oside = int(round(side * (0.65 + 1.3 * t)))
            other_patch = resize_u8(h, oside, oside)[:, ::-1].astype(np.int16) + np.array([18, 0, -18])
            ox = int(round(width * (0.8 - 0.15 * t))) - oside // 2
            oy = min(max(int(round(height * 0.45)) - oside // 2, 0), height - oside)
            frame[oy : oy + oside, ox : ox + oside] = other_patch
            other = [ox, oy, oside]
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        yield frame, (None if away else [px, py, side]), other


def encode(path: pathlib.Path, width: int, height: int, frames) -> list:
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS), "-i", "-",
        "-an", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", "50", "-bf", "2",
        "-pix_fmt", "yuv420p", "-x264-params", "threads=1:sliced-threads=0", str(path),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    truth = []
    for frame, subject, other in frames:
        proc.stdin.write(frame.tobytes())
        truth.append({"subject": subject, "other": other})
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"ffmpeg failed on {path}")
    return truth


def main() -> None:
    out = pathlib.Path(sys.argv[1])  # OUT_DIR [--frames N]
    out.mkdir(parents=True, exist_ok=True)
    (out / "head.rgb").write_bytes(head().tobytes())
    truth_path = out / "truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    for index, (name, width, height, side, flags) in enumerate(CLIPS):
        path = out / f"{name}.mp4"
        if path.exists() and name in truth:
            continue
        frames = encode(path, width, height, clip(index, width, height, side, flags))
        truth[name] = {"width": width, "height": height, "frames": frames}
        truth_path.write_text(json.dumps(truth))
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
