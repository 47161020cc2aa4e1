#!/usr/bin/env python3
"""SSE fan-out benchmark: N clients hold /api/v1/competitions/SLUG/events open; events are
appended straight into the events table (as an out-of-process worker does), each stamped with
its wall-clock time; every client records when it got each one. Prints JSON: connect time,
delivery latency percentiles over all (client, event) pairs, and losses.

Usage: sse_fanout.py --url http://127.0.0.1:8080 --slug demo --db data/arena.db [--clients 1000]
"""
import argparse
import asyncio
import json
import sqlite3
import statistics
import time
from urllib.parse import urlparse


async def client(host, port, path, ready, received, stop):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"status {status!r}")
    ready.set_result(None) if not ready.done() else None
    try:
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                break
            # Chunked transfer framing lines and SSE fields arrive interleaved; data lines carry JSON.
            text = line.decode(errors="replace").strip()
            if text.startswith("data:"):
                now = time.time()
                data = json.loads(text[5:])
                sent = data.get("payload", {}).get("bench_t")
                if sent is not None:
                    received.append((data["id"], now - sent))
    finally:
        writer.close()


def append_event(db, competition_id, n):
    con = sqlite3.connect(db, timeout=30)
    with con:
        con.execute(
            "INSERT INTO events (competition_id, kind, payload, created_at_ms) VALUES (?, ?, ?, ?)",
            (competition_id, "bench", json.dumps({"bench_t": time.time(), "n": n}), int(time.time() * 1000)),
        )
    con.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--slug", default="demo")
    ap.add_argument("--db", required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.5)
    a = ap.parse_args()
    u = urlparse(a.url)
    con = sqlite3.connect(a.db)
    (comp_id,) = con.execute("SELECT id FROM competitions WHERE slug = ?", (a.slug,)).fetchone()
    con.close()
    path = f"/api/v1/competitions/{a.slug}/events"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    readies, inboxes, tasks = [], [], []
    t0 = time.time()
    for _ in range(a.clients):
        ready, inbox = loop.create_future(), []
        readies.append(ready)
        inboxes.append(inbox)
        tasks.append(asyncio.create_task(client(u.hostname, u.port, path, ready, inbox, stop)))
    await asyncio.wait_for(asyncio.gather(*readies), timeout=60)
    connect_s = time.time() - t0
    await asyncio.sleep(1.0)
    for n in range(a.events):
        await loop.run_in_executor(None, append_event, a.db, comp_id, n)
        await asyncio.sleep(a.interval)
    await asyncio.sleep(2.0)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = [d for inbox in inboxes for (_, d) in inbox]
    expected = a.clients * a.events
    print(json.dumps({
        "clients": a.clients,
        "events": a.events,
        "all_connected_s": round(connect_s, 3),
        "deliveries": len(lat),
        "expected": expected,
        "lost": expected - len(lat),
        "latency_ms": {
            "p50": round(1000 * pct(lat, 50), 1) if lat else None,
            "p90": round(1000 * pct(lat, 90), 1) if lat else None,
            "p99": round(1000 * pct(lat, 99), 1) if lat else None,
            "max": round(1000 * max(lat), 1) if lat else None,
            "mean": round(1000 * statistics.mean(lat), 1) if lat else None,
        },
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
