#!/usr/bin/env bash
# Web load benchmark: `arena up --demo` (release build) on a fresh data dir, then wrk against the
# cached leaderboard JSON and the board page, and SSE fan-out to N open clients (sse_fanout.py).
# Everything runs on this machine (server, load generator and clients share its cores).
# Usage: web/bench/web_load.sh [clients=1000] [duration=15s]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
clients=${1:-1000}
duration=${2:-15s}
bin="$root/target/release/arena"
[ -x "$bin" ] || (cd "$root" && cargo build --release -p arena-web --bin arena)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
ulimit -n 8192
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
RUST_LOG=warn "$bin" --data "$data" --bind "127.0.0.1:$port" up --demo --workers 1 >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.2; done
# Wait until the demo's pairs are scored (every detection row has its score).
for _ in $(seq 1 300); do
  pending=$(curl -sf "$url/api/v1/competitions/demo/leaderboard" | python3 -c \
    'import json,sys; b=json.load(sys.stdin); print(sum(r["score"] is None for r in b["detection"]) + (len(b["detection"]) < 3))')
  [ "$pending" = "0" ] && break
  sleep 0.5
done
echo "## server: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB; $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
for path in /api/v1/competitions/demo/leaderboard /c/demo; do
  echo "### wrk -t2 -c64 -d$duration --latency $path"
  wrk -t2 -c64 -d"$duration" --latency "$url$path" | sed -n '/Thread Stats/,$p'
done
echo "### SSE fan-out: $clients clients"
rss_before=$(ps -o rss= -p $server)
python3 "$root/web/bench/sse_fanout.py" --url "$url" --slug demo --db "$data/arena.db" --clients "$clients"
echo "server RSS: before SSE ${rss_before} KiB; after $(ps -o rss= -p $server) KiB"
