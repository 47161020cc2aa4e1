#!/usr/bin/env bash
# Builds everything the worker benchmarks need and runs them (docs/BENCHMARKS.md):
#   1. tools: the bootstrap's onnxruntime + BlazeFace, the ffmpeg CLI, and a venv in
#      .cache/bench/venv (over the system's site-packages) with av==12.0.0 (PyAV),
#      opencv-python-headless, onnxruntime==1.31.1, numpy, onnx, pillow, scikit-image (pip, when missing)
#   2. inputs under .cache/bench/ (git-ignored): 8 face videos (640x480 and 1280x720, 4 s, 25 fps)
#      and 4 random-weight detectors of realistic shapes (deterministic; kept between runs)
#   3. the release bench binary: cargo build --release -p arena-worker --bin arena-bench
#   4. arena-bench all: tables (a), (b), (c) to stdout and .cache/bench/results.md, raw numbers in
#      .cache/bench/results.json
# Extra arguments go to arena-bench (e.g. --rounds 2 --count 2). About 5 minutes of measuring on
# 2 cores, plus the first build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bench=.cache/bench
log() { printf 'bench: %s\n' "$*" >&2; }

# --- 1. tools -----------------------------------------------------------------------------------
if [ ! -s .cache/onnxruntime/libonnxruntime.so ] || [ ! -s .cache/models/blazeface-128.onnx ]; then
  ./scripts/bootstrap
fi
command -v ffmpeg >/dev/null || { log "the ffmpeg CLI is missing (scripts/bootstrap installs it)"; exit 1; }
# A venv over the system's packages, adding only what is missing. PyAV is pinned to 12.0.0: its
# wheels convert frames (legacy sws_scale, FFmpeg 6.1) bit for bit like the worker's FFmpeg 5.1;
# newer wheels (FFmpeg 7/8) scale differently, and the scores would no longer agree to 1e-4.
venv=$bench/venv
[ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"
py=$venv/bin/python
if ! "$py" - <<'PY' 2>/dev/null
import av, cv2, numpy, onnx, PIL, skimage, onnxruntime
assert av.__version__ == "12.0.0", av.__version__
assert onnxruntime.__version__ == "1.31.1", onnxruntime.__version__
PY
then
  log "installing python packages into $venv (av==12.0.0, opencv-python-headless, onnxruntime==1.31.1, numpy, onnx, pillow, scikit-image)"
  "$py" -m pip install --quiet --only-binary=:all: \
    av==12.0.0 opencv-python-headless onnxruntime==1.31.1 numpy onnx pillow scikit-image
fi

# --- 2. inputs ----------------------------------------------------------------------------------
mkdir -p "$bench/videos" "$bench/models"
log "videos -> $bench/videos"
# Two encoders at a time (each single-threaded, so the files are reproducible).
for i in 0 1 2 3 4 5 6 7; do echo "$i"; done |
  xargs -P 2 -I{} "$py" scripts/bench/make_videos.py "$bench/videos" --count 8 --only {}
log "models -> $bench/models"
"$py" datasets/models/build_bench_models.py "$bench/models"

# --- 3. build -----------------------------------------------------------------------------------
log "cargo build --release -p arena-worker --bin arena-bench"
cargo build --release --quiet -p arena-worker --bin arena-bench

# --- 4. measure ---------------------------------------------------------------------------------
log "measuring (arena-bench all $*)"
./target/release/arena-bench all --models "$bench/models" --videos "$bench/videos" \
  --python-bin "$py" --json "$bench/results.json" "$@" | tee "$bench/results.md"
log "tables in $bench/results.md, raw numbers in $bench/results.json"
