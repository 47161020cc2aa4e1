#!/usr/bin/env python3
"""A straightforward Python version of the worker pipeline, the baseline of docs/BENCHMARKS.md (b).

Per video, the same steps and rules as the Rust worker (worker/src/pipeline.rs and what it calls):
  decode   PyAV (FFmpeg), every frame in order; the K frames at round(linspace(0, n-1, K)) are
           converted to RGB24 twice by swscale (bilinear): at the decode cap (faces are cut from
           it) and at the cache cap (the face model and `crop = "frame"` detectors read it), with
           the sample aspect ratio applied (square pixels). The display matrix's rotation is not
           applied here (PyAV 12 does not expose it): the benchmark videos carry none.
  faces    BlazeFace 128x128 through onnxruntime-python: letterbox, anchors, sigmoid, weighted
           NMS (worker/src/faces.rs); one subject per video, small faces by tiles and a region
           around the tracked face, read from the small frame when they span >= 128 px of it,
           tiles only where the worker runs them (worker/src/face_search.rs)
  crops    the cache's contexts (worker/src/face_crop.rs): the square of 2.5x the face box's
           longer side, clamped to the frame, fallbacks to the previous/next box or the centre,
           shrunk to the cache cap, with the box and BlazeFace's eye keypoints; each detector's
           crop is cut from them per its manifest: `margin` (default 1.3) x the box's longer
           side, clamped to the frame, mapped into the context; with `align`, turned about its
           centre so the eyes are level (bilinear, black outside)
  detect   per detector: `frames` contexts evenly picked and cut, bilinear resize to the model input,
           (x/255 - mean)/std in the manifest's colour order and layout, batched
           onnxruntime-python runs, sigmoid/softmax, the manifest's aggregate

Resizes: by default (--resize exact) numpy ports of the worker's own arithmetic, operation for
operation in float32: its antialiased triangle filter (worker/src/media/resize.rs) for the two
shrinks (frame -> 128 px face-model input, crop -> cache cap) and its half-pixel bilinear for the
detector input; the crops then match the worker's bit for bit. --resize libs uses what a Python
author would reach for instead: Pillow's BILINEAR for the shrinks (the same filter, but Pillow
rounds to 8 bits between its two passes, so a pixel may differ by one grey level, which moves a
face box by a fraction of a pixel and sometimes its crop by one) and cv2.resize(INTER_LINEAR) on
float32 pixels for the detector input.

Decoding must use the worker's swscale: PyAV 12.0.0 (wheels built on FFmpeg 6.1, legacy
sws_scale) converts bit for bit like the worker's FFmpeg 5.1; PyAV >= 13 wheels go through newer
FFmpeg (PyAV 18: FFmpeg 8's sws_scale_frame), whose bilinear scaler differs by up to 16 grey
levels. scripts/bench/run.sh installs PyAV 12.0.0 in .cache/bench/venv.

Usage: python_pipeline.py --models DIR --names a,b [--frames 32] [--max-side 512]
       [--decode-max-side 1920] [--threads 0] [--resize exact|libs] [--face-model PATH]
       VIDEO... > report.json
Prints one JSON object: per-video scores per detector and per-stage wall times in ms.
"""

import argparse
import json
import math
import pathlib
import sys
import time
import tomllib

import av
import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

F32 = np.float32
SIDE = 128
SCORE_THRESHOLD = F32(0.5)
NMS_IOU = F32(0.3)
CROP_MARGIN = F32(1.3)  # a manifest's default `margin`
CONTEXT_MARGIN = F32(2.5)  # the largest `margin`: what the cache keeps
# The face search (worker/src/face_search.rs).
TRUST_INPUT_PX = F32(20.0)
MIN_TILE = 160
FINE_TILE = 270
ROI_FACTOR = F32(6.0)
TRACK_IOU = F32(0.1)
TRACK_REACH = F32(3.0)
REACQUIRE_AFTER = 2
CONFIDENT_SCORE = F32(0.75)
SMALL_SOURCE_PX = 128
SEARCH_EVERY = 8
MAX_SEARCH_GAP = 32


def search_gap(fruitless: int) -> int:
    """Frames between searches after `fruitless` searches found no sure face (face_search.rs)."""
    return min(SEARCH_EVERY << min(max(fruitless - 1, 0), 8), MAX_SEARCH_GAP)
EDGE_SLACK = F32(0.02)


def round_half_away(x: float) -> int:
    """Rust's f64::round for x >= 0."""
    return int(math.floor(x + 0.5))


def linspace_indices(n: int, k: int) -> list:
    if k == 0 or n == 0:
        return []
    if n <= k:
        return list(range(n))
    if k == 1:
        return [0]
    step = (n - 1) / (k - 1)
    return [round_half_away(i * step) for i in range(k)]


def capped_size(w: int, h: int, max_side: int):
    side = max(w, h)
    if max_side == 0 or side <= max_side:
        return w, h
    s = max_side / side
    return (min(max(round_half_away(w * s), 1), max_side), min(max(round_half_away(h * s), 1), max_side))


# --- decode ------------------------------------------------------------------------------------


def stream_frames(stream) -> int:
    if stream.frames > 0:
        return stream.frames
    fps = float(stream.average_rate or stream.base_rate or 0)
    duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
    return max(0, round_half_away(duration * fps))


def unrotated_size(w: int, h: int, sar: float):
    """Square pixels: the stored size stretched along one axis (worker/src/media/display.rs)."""
    if abs(sar - 1.0) < 1e-9:
        return w, h
    if sar > 1.0:
        return max(round_half_away(w * sar), 1), h
    return w, max(round_half_away(h * (1.0 / sar)), 1)


def decode(path: str, k: int, sizes: list):
    """The kept frames' indices and, per size cap, their RGB24 arrays."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "FRAME"
        stream.thread_count = 2
        n = stream_frames(stream) or k
        ratio = stream.codec_context.sample_aspect_ratio
        sar = float(ratio) if ratio and ratio.numerator > 0 and ratio.denominator > 0 else 1.0
        wanted = linspace_indices(n, k)
        kept, out = [], [[] for _ in sizes]
        for i, frame in enumerate(container.decode(stream)):
            if len(kept) == len(wanted):
                break
            if i != wanted[len(kept)]:
                continue
            kept.append(i)
            for lst, cap in zip(out, sizes):
                w, h = capped_size(*unrotated_size(frame.width, frame.height, sar), cap)
                lst.append(frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="BILINEAR"))
    return kept, out


# --- the worker's antialiased resize (worker/src/media/resize.rs) -------------------------------


def triangle_taps(src: int, dst: int):
    """Per output sample: the first source index and the weights (f32, padded with zeros)."""
    scale = src / dst
    support = max(scale, 1.0)
    starts, weights = [], []
    for d in range(dst):
        centre = (d + 0.5) * scale
        lo = int(max(math.floor(centre - support), 0.0))
        hi = min(int(math.ceil(centre + support)), src)
        w = np.array([max(1.0 - abs((i + 0.5 - centre) / support), 0.0) for i in range(lo, hi)], dtype=F32)
        total = F32(0)
        for v in w:  # sequential f32 sum, like Rust's Iterator::sum
            total = F32(total + v)
        weights.append(w / total)
        starts.append(lo)
    width = max(len(w) for w in weights)
    table = np.zeros((dst, width), dtype=F32)
    for d, w in enumerate(weights):
        table[d, : len(w)] = w  # zero weights past the end add exactly nothing
    return np.array(starts), table


_TAPS: dict = {}


def taps_cached(src: int, dst: int):
    key = (src, dst)
    if key not in _TAPS:
        _TAPS[key] = triangle_taps(src, dst)
    return _TAPS[key]


EXACT = True  # --resize exact (the default); False: --resize libs


def resize_triangle(img: np.ndarray, width: int, height: int) -> np.ndarray:
    sh, sw = img.shape[:2]
    if (sw, sh) == (width, height):
        return img
    if not EXACT:
        return np.asarray(Image.fromarray(img).resize((width, height), Image.BILINEAR))
    xs, xw = taps_cached(sw, width)
    ys, yw = taps_cached(sh, height)
    # Columns first: gather rows of the transposed image (contiguous), one tap at a time so each
    # sum runs in the worker's order.
    src = np.ascontiguousarray(img.transpose(1, 0, 2)).astype(F32)
    mid = np.zeros((width, sh, 3), dtype=F32)
    for k in range(xw.shape[1]):
        mid += src[np.minimum(xs + k, sw - 1)] * xw[:, k][:, None, None]
    mid = np.ascontiguousarray(mid.transpose(1, 0, 2))
    acc = np.zeros((height, width, 3), dtype=F32)
    for k in range(yw.shape[1]):
        acc += mid[np.minimum(ys + k, sh - 1)] * yw[:, k][:, None, None]
    # f32::round is half away from zero; in f64 floor(x + 0.5) is exact for these values.
    return np.clip(np.floor(acc.astype(np.float64) + 0.5), 0, 255).astype(np.uint8)


def downscale_to(img: np.ndarray, max_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    nw, nh = capped_size(w, h, max_side)
    return resize_triangle(img, nw, nh)


# --- faces (worker/src/faces.rs) -----------------------------------------------------------------


def anchors() -> np.ndarray:
    out = []
    for grid, per_cell in [(16, 2), (8, 6)]:
        for y in range(grid):
            for x in range(grid):
                c = [F32((x + 0.5) / grid), F32((y + 0.5) / grid)]
                out.extend([c] * per_cell)
    return np.array(out, dtype=F32)


def anchors_for(width: int, height: int) -> np.ndarray:
    """Anchors of a width x height input as fractions of each side (face_box::anchors_for)."""
    out = []
    for stride, per_cell in [(8, 2), (16, 6)]:
        gw, gh = width // stride, height // stride
        for y in range(gh):
            for x in range(gw):
                out.extend([[F32((x + 0.5) / gw), F32((y + 0.5) / gh)]] * per_cell)
    return np.array(out, dtype=F32)


ANCHORS = anchors()


def padded(width: int, height: int):
    return (max(width, 1) + 15) // 16 * 16, (max(height, 1) + 15) // 16 * 16


def any_size(path: str) -> bytes:
    """The face model with its input size free (worker/src/face_model.rs, the same rewrite with
    the onnx package): Concat(x, ConstantOfShape) -> Pad(x), the output Reshapes' anchor count
    -> -1, the input's height and width symbolic. The same numbers at 128 px."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    zeros = {n.output[0]: n.input[0] for n in g.node if n.op_type == "ConstantOfShape"}
    nodes, pads = [], []
    for n in g.node:
        if n.op_type == "ConstantOfShape":
            continue
        if n.op_type == "Concat" and len(n.input) == 2 and n.input[1] in zeros:
            channels = int(numpy_helper.to_array(inits[zeros[n.input[1]]])[1])
            name = n.output[0] + "__any_size_pads"
            pads.append(numpy_helper.from_array(np.array([0, 0, 0, 0, 0, channels, 0, 0], dtype=np.int64), name))
            nodes.append(helper.make_node("Pad", [n.input[0], name], [n.output[0]]))
            continue
        if n.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            shape[1] = -1
            inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), n.input[1]))
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    kept = [i for i in g.initializer if i.name in used] + pads
    del g.initializer[:]
    g.initializer.extend(kept)
    del g.value_info[:]
    dims = g.input[0].type.tensor_type.shape.dim
    dims[1].dim_param, dims[2].dim_param = "height", "width"
    for o in g.output:
        o.type.tensor_type.ClearField("shape")
    return m.SerializeToString()


def iou(a, b) -> F32:
    w = max(min(a[2], b[2]) - max(a[0], b[0]), F32(0))
    h = max(min(a[3], b[3]) - max(a[1], b[1]), F32(0))
    inter = w * h
    area = lambda r: max(r[2] - r[0], F32(0)) * max(r[3] - r[1], F32(0))  # noqa: E731
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else F32(0)


def weighted_nms(boxes: list) -> list:
    """boxes: [x0, y0, x1, y1, score, eyes] as f32 (eyes: [rx, ry, lx, ly] or None); MediaPipe's
    WEIGHTED suppression (eyes averaged over the boxes that have them)."""
    boxes = sorted(boxes, key=lambda b: -b[4])  # stable, like Rust's sort_by
    out = []
    while boxes:
        top = boxes[0]
        cluster = [b for b in boxes if iou(top, b) > NMS_IOU or b == top]
        boxes = [b for b in boxes if not (iou(top, b) > NMS_IOU or b == top)]
        total = F32(0)
        for b in cluster:
            total = total + b[4]
        merged = []
        for i in range(4):
            s = F32(0)
            for b in cluster:
                s = s + b[i] * b[4]
            merged.append(s / total)
        with_eyes = [b for b in cluster if b[5] is not None]
        eyes = None
        if with_eyes:
            eye_total = F32(0)
            for b in with_eyes:
                eye_total = eye_total + b[4]
            eyes = []
            for i in range(4):
                e = F32(0)
                for b in with_eyes:
                    e = e + b[5][i] * b[4]
                eyes.append(e / eye_total)
        out.append(merged + [top[4], eyes])
    return out


class Faces:
    def __init__(self, model: str, opts):
        # The 128-px runs on the model as it is, the runs at tile scales on its size-free
        # rewrite (FaceDetector's two sessions).
        self.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self.any_size = ort.InferenceSession(any_size(model), opts, providers=["CPUExecutionProvider"])
        self.runs = 0

    def run_model(self, x: np.ndarray, resized: bool = False) -> list:
        """Merged boxes in input pixels, best first: [x0, y0, x1, y1, score, eyes] as f32; x is
        1 x H x W x 3 (H, W multiples of 16; `resized`: a run of detect_resized, on the
        size-free model)."""
        self.runs += 1
        hh, ww = x.shape[1:3]
        anchor_xy = ANCHORS if (ww, hh) == (SIDE, SIDE) else anchors_for(ww, hh)
        session = self.any_size if resized else self.session
        s8, s16, b8, b16 = session.run(["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"], {"input:0": x})
        scores = np.concatenate([s8.reshape(-1), s16.reshape(-1)]).astype(F32)
        boxes = np.concatenate([b8.reshape(-1, 16), b16.reshape(-1, 16)]).astype(F32)
        with np.errstate(over="ignore"):  # exp(100) is inf in f32, as in Rust: the score is 0
            probs = F32(1) / (F32(1) + np.exp(-np.clip(scores, F32(-100), F32(100))))
        found = []
        sx, sy = F32(ww), F32(hh)
        for i in np.nonzero(probs >= SCORE_THRESHOLD)[0]:
            b, (ax, ay) = boxes[i], anchor_xy[i]
            cx, cy = b[0] / sx + ax, b[1] / sy + ay
            w, h = b[2] / sx, b[3] / sy
            if not all(np.isfinite([cx, cy, w, h])) or w <= 0 or h <= 0:
                continue
            half_w, half_h = w / F32(2), h / F32(2)
            # Keypoints 0 and 1 (right eye, left eye), offsets from the anchor centre too.
            eyes = [(b[4] / sx + ax) * sx, (b[5] / sy + ay) * sy,
                    (b[6] / sx + ax) * sx, (b[7] / sy + ay) * sy]
            eyes = eyes if all(np.isfinite(eyes)) else None
            found.append([(cx - half_w) * sx, (cy - half_h) * sy, (cx + half_w) * sx, (cy + half_h) * sy,
                          probs[i], eyes])
        return weighted_nms(found)

    def letterboxed(self, frame: np.ndarray) -> list:
        """Every face in the letterboxed frame, in its pixels (FaceDetector::detect)."""
        fh, fw = frame.shape[:2]
        s = SIDE / max(fw, fh)
        lw = min(max(round_half_away(fw * s), 1), SIDE)
        lh = min(max(round_half_away(fh * s), 1), SIDE)
        ox, oy = (SIDE - lw) // 2, (SIDE - lh) // 2
        sx, sy = F32(lw) / F32(fw), F32(lh) / F32(fh)
        x = np.full((1, SIDE, SIDE, 3), -1.0, dtype=F32)
        small = resize_triangle(frame, lw, lh)
        x[0, oy : oy + lh, ox : ox + lw] = small.astype(F32) / F32(127.5) - F32(1.0)
        return [mapped(b, lambda v: (v - F32(ox)) / sx, lambda v: (v - F32(oy)) / sy) for b in self.run_model(x)]

    def resized(self, frame: np.ndarray, width: int, height: int) -> list:
        """Every face in the frame resized to width x height and run at that size, padded right
        and below to multiples of 16 with black; in the frame's pixels (detect_resized)."""
        fh, fw = frame.shape[:2]
        cw, ch = padded(width, height)
        x = np.full((1, ch, cw, 3), -1.0, dtype=F32)
        x[0, :height, :width] = resize_triangle(frame, width, height).astype(F32) / F32(127.5) - F32(1.0)
        sx, sy = F32(width) / F32(max(fw, 1)), F32(height) / F32(max(fh, 1))
        return [scaled(b, F32(1) / sx, F32(1) / sy) for b in self.run_model(x, resized=True)]

    def region(self, frame: np.ndarray, rect) -> list:
        """Faces in the square region (x, y, side), frame pixels, cut ones dropped (detect_region)."""
        rx, ry, side = rect
        fh, fw = frame.shape[:2]
        tile = np.ascontiguousarray(frame[ry : ry + side, rx : rx + side])
        found = []
        x0, y0 = F32(rx), F32(ry)
        x1, y1 = x0 + F32(side), y0 + F32(side)
        slack = F32(side) * EDGE_SLACK
        for b in self.letterboxed(tile):
            t = mapped(b, lambda v: v + x0, lambda v: v + y0)
            cut = ((t[0] < x0 + slack and rx > 0) or (t[1] < y0 + slack and ry > 0)
                   or (t[2] > x1 - slack and rx + side < fw) or (t[3] > y1 - slack and ry + side < fh))
            if not cut:
                found.append(t)
        return found

    def largest_face(self, frame: np.ndarray):
        """The largest face as fractions of the frame: [x0, y0, x1, y1, score, eyes], or None."""
        fh, fw = frame.shape[:2]
        best = largest(self.letterboxed(frame))
        if best is None:
            return None
        rx, ry = F32(1) / F32(fw), F32(1) / F32(fh)
        return scaled(best, rx, ry)


def mapped(b, fx, fy):
    """The box and its eyes with fx applied to every x and fy to every y (FaceBox::mapped)."""
    eyes = None if b[5] is None else [fx(b[5][0]), fy(b[5][1]), fx(b[5][2]), fy(b[5][3])]
    return [fx(b[0]), fy(b[1]), fx(b[2]), fy(b[3]), b[4], eyes]


def scaled(b, sx, sy):
    return mapped(b, lambda v: v * sx, lambda v: v * sy)


def largest(boxes: list):
    best = None
    for b in boxes:
        area = max(b[2] - b[0], F32(0)) * max(b[3] - b[1], F32(0))
        if best is None or area >= best[0]:  # max_by keeps the last of equals
            best = (area, b)
    return None if best is None else best[1]


def tile_sides(w: int, h: int) -> list:
    side, out = min(w, h), []
    while side >= MIN_TILE:
        out.append(side)
        if side <= FINE_TILE:
            break
        side = max(side // 2, FINE_TILE)
    return out


def search_size(w: int, h: int, side: int):
    """The frame's size at the scale of a side-px tile (face_search::search_size)."""
    f = SIDE / max(side, 1)
    return max(round_half_away(w * f), 1), max(round_half_away(h * f), 1)


def detect_at_scale(faces, small, large, side: int) -> list:
    """Faces at a tile side's scale, large-frame pixels, read from the small frame when it is
    at least that large (face_search::detect_at_scale)."""
    (lh, lw), (sh, sw) = large.shape[:2], small.shape[:2]
    w, h = search_size(lw, lh, side)
    if sw >= w and sh >= h and sw < lw:
        sx, sy = F32(lw) / F32(sw), F32(lh) / F32(sh)
        return [scaled(b, sx, sy) for b in faces.resized(small, w, h)]
    return faces.resized(large, w, h)


def small_region(rect, large_wh, small_wh):
    """The large frame's square (x, y, side) in the small frame, or None (face_search::small_region)."""
    (rx, ry, side), (lw, lh), (sw, sh) = rect, large_wh, small_wh
    if sw >= lw or sh >= lh or lw == 0 or lh == 0:
        return None
    fx, fy = sw / lw, sh / lh
    s = min(round_half_away(side * fx), sw, sh)
    if s < SMALL_SOURCE_PX:
        return None

    def place(start, extent, f, small_extent):
        top = small_extent - s
        return top if start + side >= extent else min(round_half_away(start * f), top)

    return (place(rx, lw, fx, sw), place(ry, lh, fy, sh), s)


def detect_square(faces, small, large, rect) -> list:
    """Faces in the large frame's square, read from the small frame where it spans enough."""
    (lh, lw), (sh, sw) = large.shape[:2], small.shape[:2]
    in_small = small_region(rect, (lw, lh), (sw, sh))
    if in_small is None:
        return faces.region(large, rect)
    sx, sy = F32(lw) / F32(sw), F32(lh) / F32(sh)
    return [scaled(b, sx, sy) for b in faces.region(small, in_small)]


def box_size(b):
    return max(max(b[2] - b[0], F32(0)), max(b[3] - b[1], F32(0)))


def centre_dist2(a, b):
    ax, ay = (a[0] + a[2]) / F32(2), (a[1] + a[3]) / F32(2)
    bx, by = (b[0] + b[2]) / F32(2), (b[1] + b[3]) / F32(2)
    return (ax - bx) ** 2 + (ay - by) ** 2


def continues(track, c) -> bool:
    if iou(track, c) >= TRACK_IOU:
        return True
    ratio = box_size(c) / max(box_size(track), F32(np.finfo(F32).eps))
    return F32(0.5) <= ratio <= F32(2.0) and np.sqrt(centre_dist2(track, c)) <= TRACK_REACH * box_size(track)


def best_match(track, candidates: list):
    """Confident candidates first (worker/src/face_search.rs best_match)."""
    sure = [c for c in candidates if c[4] >= CONFIDENT_SCORE]
    found = best_continuing(track, sure)
    return found if found is not None else best_continuing(track, candidates)


def best_continuing(track, candidates: list):
    best = None
    for c in candidates:
        if not continues(track, c):
            continue
        key = (iou(track, c), -centre_dist2(track, c))
        if best is None or key >= best[0]:
            best = (key, c)
    return None if best is None else best[1]


class FaceFinder:
    """One subject per video, small faces included (worker/src/face_search.rs)."""

    def __init__(self):
        self.track, self.misses = None, 0
        self.sure = False  # the subject was seen at least once scoring CONFIDENT_SCORE
        self.fruitless = 0  # searches in a row that found no sure face
        self.since_tiles = None  # sampled frames since the tiles last ran

    def trusted(self, b, large) -> bool:
        h, w = large.shape[:2]
        return box_size(b) * F32(128.0) / F32(max(w, h, 1)) >= TRUST_INPUT_PX

    def follow(self, b):
        self.track, self.misses = b, 0
        if b[4] >= CONFIDENT_SCORE:
            self.sure, self.fruitless = True, 0
        return b

    def start(self, b):
        self.sure = False
        return self.follow(b)

    def search(self, faces: Faces, small, large, use_tiles: bool) -> list:
        (lh, lw), (sh, sw) = large.shape[:2], small.shape[:2]
        sx, sy = F32(lw) / F32(max(sw, 1)), F32(lh) / F32(max(sh, 1))
        whole = [scaled(b, sx, sy) for b in faces.letterboxed(small)]
        if any(self.trusted(b, large) and b[4] >= CONFIDENT_SCORE for b in whole) or not use_tiles:
            return whole
        self.since_tiles = 0
        found = []
        for side in tile_sides(lw, lh):
            found += detect_at_scale(faces, small, large, side)
            if any(b[4] >= CONFIDENT_SCORE for b in found):
                break
        if not any(b[4] >= CONFIDENT_SCORE for b in found):
            self.fruitless += 1
        if not found:
            return whole
        merged = weighted_nms(found)
        confident = [b for b in merged if b[4] >= CONFIDENT_SCORE]
        return confident if confident else merged

    def find(self, faces: Faces, small, large):
        lh, lw = large.shape[:2]
        w, h = F32(max(lw, 1)), F32(max(lh, 1))
        to_frac = lambda b: scaled(b, F32(1) / w, F32(1) / h)  # noqa: E731
        if self.since_tiles is not None:
            self.since_tiles += 1
        track = None if self.track is None else scaled(self.track, w, h)
        if track is not None and not self.trusted(track, large):
            near = detect_square(faces, small, large, square_crop(track, lw, lh, ROI_FACTOR))
            m = best_match(track, near)
            if m is not None:
                return self.follow(to_frac(m))
        # Tiles at once when the sure subject followed until the last frame is lost, else when
        # search_gap frames have passed since the last search.
        just_lost = self.track is not None and self.misses == 0 and self.sure
        use_tiles = just_lost or self.since_tiles is None or self.since_tiles >= search_gap(self.fruitless)
        candidates = [to_frac(b) for b in self.search(faces, small, large, use_tiles)]
        if self.track is None:
            b = largest(candidates)
            return None if b is None else self.start(b)
        m = best_match(scaled(self.track, w, h), [scaled(c, w, h) for c in candidates])
        if m is not None:
            return self.follow(to_frac(m))
        self.misses += 1
        if self.misses > REACQUIRE_AFTER:
            b = largest(candidates)
            return None if b is None else self.start(b)
        return None


def square_crop(face, w: int, h: int, margin=CROP_MARGIN):
    """(x, y, side) of the margin x square around a face given in frame pixels."""
    limit = max(min(w, h), 1)
    fw, fh = max(face[2] - face[0], F32(0)), max(face[3] - face[1], F32(0))
    wanted = max(fw, fh) * margin
    wanted = F32(math.floor(float(wanted) + 0.5)) if np.isfinite(wanted) else wanted
    side = min(int(max(wanted, F32(1))), limit) if np.isfinite(wanted) else limit
    cx, cy = (face[0] + face[2]) / F32(2), (face[1] + face[3]) / F32(2)

    def place(centre, extent):
        hi = float(max(extent - side, 0))
        start = math.floor(float(centre) - side / 2.0 + 0.5)
        return int(min(max(start, 0.0), hi))

    return place(cx, w), place(cy, h), side


def centre_crop(w: int, h: int):
    side = max(min(w, h), 1)
    return max(w - side, 0) // 2, max(h - side, 0) // 2, side


def cut_contexts(large: list, faces: list, max_side: int):
    """The FaceCropper rule: previous box, else the next detected one, else the centre. Per frame
    the cached image (the face's CONTEXT_MARGIN square, or the centre square) and its context:
    (frame w, frame h, (x, y, side) of the context, the face box in frame pixels) or None."""
    images, contexts, detected = [None] * len(large), [None] * len(large), [False] * len(large)
    last = None
    first = next((f for f in faces if f is not None), None)
    for i, (frame, face) in enumerate(zip(large, faces)):
        if face is not None:
            last = face
        box = last if last is not None else first
        h, w = frame.shape[:2]
        if box is None:
            x, y, side = centre_crop(w, h)
        else:
            px = scaled(box, F32(w), F32(h))
            x, y, side = square_crop(px, w, h, CONTEXT_MARGIN)
            contexts[i] = (w, h, (x, y, side), px)
        images[i] = downscale_to(np.ascontiguousarray(frame[y : y + side, x : x + side]), max_side)
        detected[i] = face is not None
    return images, contexts, detected


def eye_angle(face):
    """Radians from the right eye to the left one, clockwise (image y down); None without eyes."""
    if face[5] is None:
        return None
    rx, ry, lx, ly = face[5]
    dx, dy = lx - rx, ly - ry
    angle = float(F32(math.atan2(float(dy), float(dx))))  # f32, like the worker's
    return angle if math.isfinite(angle) and math.hypot(float(dx), float(dy)) > 0 else None


def cut(image: np.ndarray, context, margin, align: bool) -> np.ndarray:
    """A detector's crop from a cached image (worker/src/face_crop.rs cut_for + cut)."""
    if context is None:
        return image
    fw, fh, (cx0, cy0, cside), face = context
    ih, iw = image.shape[:2]
    rx, ry, rside = square_crop(face, fw, fh, margin)
    scale = iw / cside
    x, y, side = (rx - cx0) * scale, (ry - cy0) * scale, rside * scale
    theta = eye_angle(face) if align else None
    if theta is None:
        n = min(max(round_half_away(side), 1), iw, ih)
        px = int(min(max(round_half_away(x), 0), iw - n))
        py = int(min(max(round_half_away(y), 0), ih - n))
        return np.ascontiguousarray(image[py : py + n, px : px + n])
    n = int(min(max(round_half_away(side), 1), max(iw, ih)))
    sin, cos = math.sin(theta), math.cos(theta)
    step, half = side / n, side / 2.0
    centre = (x + half, y + half)
    d = (np.arange(n, dtype=np.float64) + 0.5) * step - half
    dx, dy = d[None, :], d[:, None]
    sx = centre[0] + cos * dx - sin * dy - 0.5
    sy = centre[1] + sin * dx + cos * dy - 0.5
    fx, fy = np.floor(sx), np.floor(sy)
    ax, ay = (sx - fx)[..., None], (sy - fy)[..., None]
    x0, y0 = fx.astype(np.int64), fy.astype(np.int64)
    src = image.astype(np.float64)

    def pixel(px, py):
        inside = (px >= 0) & (py >= 0) & (px < iw) & (py < ih)
        out = src[np.clip(py, 0, ih - 1), np.clip(px, 0, iw - 1)]
        return np.where(inside[..., None], out, 0.0)

    top = pixel(x0, y0) * (1.0 - ax) + pixel(x0 + 1, y0) * ax
    bottom = pixel(x0, y0 + 1) * (1.0 - ax) + pixel(x0 + 1, y0 + 1) * ax
    value = top * (1.0 - ay) + bottom * ay
    # Rust's f64::round: half away from zero (values are >= 0 here).
    return np.clip(np.floor(value + 0.5), 0, 255).astype(np.uint8)


# --- detectors (worker/src/detector.rs) --------------------------------------------------------


def pick_positions(n: int, k: int) -> list:
    if k == 0 or n == 0:
        return []
    if n <= k:
        return list(range(n))
    return [min(round_half_away(i * (n - 1) / max(k - 1, 1)), n - 1) for i in range(k)]


def pick(images: list, k: int) -> list:
    return [images[i] for i in pick_positions(len(images), k)]


def bilinear_taps(src: int, dst: int):
    scale = src / dst
    pos = np.clip((np.arange(dst) + 0.5) * scale - 0.5, 0.0, src - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, (pos - i0).astype(F32)


def resize_exact(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """The worker's bilinear arithmetic, operation for operation, in f32."""
    x0, x1, wx = bilinear_taps(img.shape[1], w)
    y0, y1, wy = bilinear_taps(img.shape[0], h)
    rows0, rows1 = img[y0], img[y1]
    a, b = rows0[:, x0].astype(F32), rows0[:, x1].astype(F32)
    c, d = rows1[:, x0].astype(F32), rows1[:, x1].astype(F32)
    wx = wx[None, :, None]
    top = a + (b - a) * wx
    bottom = c + (d - c) * wx
    return top + (bottom - top) * wy[:, None, None]


class Detector:
    def __init__(self, model: pathlib.Path, manifest: pathlib.Path, opts, exact: bool):
        self.m = tomllib.loads(manifest.read_text())
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.batch = int(self.m.get("batch", 8)) if not isinstance(shape[0], int) else 1
        self.exact = exact
        std = np.array(self.m["std"], dtype=F32)
        self.scale = F32(1) / (F32(255) * std)
        self.offset = -np.array(self.m["mean"], dtype=F32) / std

    def preprocess(self, images: list) -> np.ndarray:
        m = self.m
        dh, dw = m["size"]
        out = np.empty((len(images), dh, dw, 3), dtype=F32)
        out[:] = self.offset  # black padding, normalized
        for i, img in enumerate(images):
            sh, sw = img.shape[:2]
            if m.get("crop", "face") == "frame":
                s = min(dw / sw, dh / sh)
                w = min(max(round_half_away(sw * s), 1), dw)
                h = min(max(round_half_away(sh * s), 1), dh)
            else:
                w, h = dw, dh
            x, y = (dw - w) // 2, (dh - h) // 2
            if self.exact:
                r = resize_exact(img, w, h)
            else:
                r = cv2.resize(img.astype(F32), (w, h), interpolation=cv2.INTER_LINEAR)
            if m["color"] == "bgr":
                r = r[..., ::-1]
            out[i, y : y + h, x : x + w] = r * self.scale + self.offset
        return out if m["layout"] == "nhwc" else np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def scores(self, raw: np.ndarray) -> list:
        raw = raw.reshape(raw.shape[0], -1).astype(np.float64)
        fake = int(self.m.get("fake_index", 1))
        sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
        out = []
        for row in raw:
            if row.shape[0] == 1:
                p = sig(row[0]) if self.m["output_kind"] == "logit" else row[0]
            elif self.m["output_kind"] == "logit":
                p = sig(row[fake] - row[1 - fake])
            else:
                p = row[fake]
            out.append(float(F32(min(max(p, 0.0), 1.0))))
        return out

    def aggregate(self, p: list) -> float:
        if not p:
            return 0.5
        kind = self.m.get("aggregate", "mean")
        mean = lambda v: float(F32(sum(v) / len(v)))  # noqa: E731
        if kind == "max":
            return max(p)
        if kind == "median":
            v = sorted(p)
            n = len(v)
            return v[n // 2] if n % 2 else float((F32(v[n // 2 - 1]) + F32(v[n // 2])) / F32(2))
        if kind == "confident":
            high = [x for x in p if x > 0.8]
            low = [x for x in p if x < 0.2]
            if len(high) > len(p) / 2.5:
                return mean(high)
            if len(low) > 0.9 * len(p):
                return mean(low)
        return mean(p)


def run(args) -> dict:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if args.threads > 0:
        opts.intra_op_num_threads = args.threads
    t0 = time.perf_counter()
    faces = Faces(args.face_model, opts)
    models = pathlib.Path(args.models)
    names = [n for n in args.names.split(",") if n]
    dets = [Detector(models / f"{n}.onnx", models / f"{n}.toml", opts, EXACT) for n in names]
    load_ms = (time.perf_counter() - t0) * 1000
    started = time.perf_counter()
    videos = []
    for path in args.videos:
        t = {}
        c = time.perf_counter()
        indices, (large, small) = decode(path, args.frames, [max(args.decode_max_side, args.max_side), args.max_side])
        t["decode_ms"] = (time.perf_counter() - c) * 1000
        c = time.perf_counter()
        finder = FaceFinder()
        found = [finder.find(faces, s, g) for s, g in zip(small, large)]
        t["faces_ms"] = (time.perf_counter() - c) * 1000
        c = time.perf_counter()
        contexts_images, contexts, detected = cut_contexts(large, found, args.max_side)
        t["crops_ms"] = (time.perf_counter() - c) * 1000
        t["preprocess_ms"], t["inference_ms"] = 0.0, 0.0
        scores = {}
        for d in dets:
            at = pick_positions(len(small), int(d.m.get("frames", 32)))
            if d.m.get("crop", "face") == "face":
                # Cutting is part of the score step, as in the worker (timed with preprocessing).
                c = time.perf_counter()
                margin, align = F32(d.m.get("margin", 1.3)), bool(d.m.get("align", False))
                images = [cut(contexts_images[i], contexts[i], margin, align) for i in at]
                t["preprocess_ms"] += (time.perf_counter() - c) * 1000
            else:
                images = [small[i] for i in at]
            per_frame = []
            for b in range(0, len(images), d.batch):
                c = time.perf_counter()
                x = d.preprocess(images[b : b + d.batch])
                c2 = time.perf_counter()
                raw = d.session.run([d.m["output"]], {d.m["input"]: x})[0]
                per_frame += d.scores(raw)
                t["preprocess_ms"] += (c2 - c) * 1000
                t["inference_ms"] += (time.perf_counter() - c2) * 1000
            scores[d.m["name"]] = {"score": d.aggregate(per_frame), "per_frame": per_frame}
        videos.append({
            "path": path, "frame_indices": indices, "face_frames": sum(detected),
            "timings": t, "scores": scores,
        })
    return {"videos": videos, "load_ms": load_ms, "wall_ms": (time.perf_counter() - started) * 1000,
            "threads": args.threads, "resize": args.resize, "av_version": av.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--models", required=True)
    ap.add_argument("--names", required=True, help="comma-separated detector names in --models")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--decode-max-side", type=int, default=1920)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    ap.add_argument("--face-model", default=".cache/models/blazeface-128.onnx")
    ap.add_argument("--resize", choices=["exact", "libs"], default="exact")
    args = ap.parse_args()
    global EXACT
    EXACT = args.resize == "exact"
    json.dump(run(args), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
