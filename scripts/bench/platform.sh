#!/usr/bin/env bash
# The platform path against `arena eval` and the Python pipeline (docs/BENCHMARKS.md, "The
# platform path"): builds the inputs, the release binaries, then runs platform-bench on two
# workloads:
#   long   6 clips of 10 s at 640x480 (3 reals + 3 creations), effnet-b0-224 and convnet-224
#   short 24 clips of 2 s at 640x480 (12 reals + 12 creations), convnet-224 and convframe-224
# Inputs under .cache/bench/ (git-ignored). Extra arguments go to platform-bench (e.g. --rounds 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bench=.cache/bench
log() { printf 'bench: %s\n' "$*" >&2; }

# Tools and the Python venv: what run.sh installs (it exits before measuring with --only-inputs).
if [ ! -x "$bench/venv/bin/python" ] || [ ! -s .cache/onnxruntime/libonnxruntime.so ]; then
  log "tools: see scripts/bench/run.sh (it installs the venv and the bootstrap's libraries)"
  exit 1
fi
py=$bench/venv/bin/python
mkdir -p "$bench/platform/long" "$bench/platform/short" "$bench/models"
log "videos -> $bench/platform/{long,short}"
for i in 0 1 2 3 4 5; do echo "$i"; done |
  xargs -P 2 -I{} "$py" scripts/bench/make_videos.py "$bench/platform/long" --count 6 \
    --seconds 10 --size 640x480 --only {}
for i in $(seq 0 23); do echo "$i"; done |
  xargs -P 2 -I{} "$py" scripts/bench/make_videos.py "$bench/platform/short" --count 24 \
    --seconds 2 --size 640x480 --only {}
log "models -> $bench/models"
"$py" datasets/models/build_bench_models.py "$bench/models" effnet-b0-224 convnet-224 convframe-224

log "cargo build --release --bins (arena, arena-sandbox, platform-bench)"
cargo build --release --quiet -p arena-web --bin arena -p arena-worker --bin arena-sandbox \
  -p arena-tests --bin platform-bench

B=./target/release/platform-bench
$B --label long --videos "$bench/platform/long" --models "$bench/models" \
  --names effnet-b0-224,convnet-224 --python-bin "$py" --json "$bench/platform-long.json" \
  --in-process yes "$@" |
  tee "$bench/platform-long.md"
$B --label short --videos "$bench/platform/short" --models "$bench/models" \
  --names convnet-224,convframe-224 --python-bin "$py" --json "$bench/platform-short.json" \
  --in-process yes "$@" |
  tee "$bench/platform-short.md"
