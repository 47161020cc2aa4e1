#!/usr/bin/env bash
# The server's CPU per `GET /api/v1/submissions/{id}` (docs/BENCHMARKS.md, item 14): copies a
# finished platform-bench round's data dir (`platform-bench … --keep DIR`, then DIR/round0), starts
# `arena up` on the copy, asks for every submission's status ROUNDS times (one keep-alive curl) and
# prints the server's CPU time per request, from /proc/<pid>/stat (utime + stime, 10 ms ticks).
# Usage: status-requests.sh ARENA_BIN KEPT_ROUND_DIR [PORT] [ROUNDS]
# e.g.   status-requests.sh target/release/arena /tmp/keep/round0 41200 80
# Run two builds alternately (A B A B) to compare them; the server is otherwise idle.
set -euo pipefail
arena=$(realpath "$1"); src=$2; port=${3:-41200}; rounds=${4:-80}
dir=$(mktemp -d /tmp/status-requests.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cp -r "$src"/. "$dir"/
rm -f "$dir/server.log"
export ORT_DISABLE_TELEMETRY=1
token=$("$arena" --data "$dir" --bind "127.0.0.1:$port" team add status-bench --role both --admin 2>/dev/null | tail -n1)
RUST_LOG=warn "$arena" --data "$dir" --bind "127.0.0.1:$port" up >"$dir/up.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
ids=$(sqlite3 "$dir/arena.db" "SELECT id FROM submissions ORDER BY id")
auth="Authorization: Bearer $token"
# The token's argon2 check is paid once per process: not part of the measurement.
curl -sf -H "$auth" "http://127.0.0.1:$port/api/v1/submissions/$(echo "$ids" | head -n1)" >/dev/null
sleep 1
for _ in $(seq "$rounds"); do
  for id in $ids; do echo "url = \"http://127.0.0.1:$port/api/v1/submissions/$id\""; done
done >"$dir/urls"
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
curl -s -H "$auth" -K "$dir/urls" >/dev/null 2>&1
t1=$(ticks); s1=$(date +%s.%N)
n=$(wc -l <"$dir/urls")
printf '%s: %d requests, server CPU %.2f s, %.3f ms per request, wall %.2f s\n' \
  "$arena" "$n" "$(echo "($t1 - $t0) / 100" | bc -l)" "$(echo "($t1 - $t0) * 10 / $n" | bc -l)" \
  "$(echo "$s1 - $s0" | bc -l)"
kill "$pid"; wait "$pid" 2>/dev/null || true
