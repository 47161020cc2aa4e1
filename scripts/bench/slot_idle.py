#!/usr/bin/env python3
"""How the worker slots spent a platform-bench round (docs/BENCHMARKS.md, item 18).

Reads the `arena.db` of a round kept with `platform-bench --keep DIR` (DIR/round0/arena.db) and
prints, per database: when the last job was done, how far apart the slots' last jobs ended, and
the slots' idle time from their first claim to the end (ms, from the first submission). With
--jobs, each job too: slot, kind, enqueued, claimed, done (a batch's jobs share their claim).

    scripts/bench/slot_idle.py [--jobs] DIR/round0/arena.db [...]
"""

import collections
import json
import sqlite3
import sys


def claims(db):
    """job id -> (claim ms, worker) from the job log's first "claimed" line."""
    out = {}
    rows = db.execute("select job_id, worker, message, created_at_ms from job_logs order by id")
    for job_id, worker, message, at in rows:
        if " claimed " in message and job_id not in out:
            out[job_id] = (at, worker)
    return out


def main(argv):
    show_jobs = "--jobs" in argv
    for path in [a for a in argv if a != "--jobs"]:
        db = sqlite3.connect(path)
        claimed = claims(db)
        t0 = db.execute("select min(created_at_ms) from submissions").fetchone()[0]
        busy = collections.defaultdict(list)
        jobs = []
        for job_id, kind, payload, created, updated in db.execute(
            "select id, kind, payload, created_at_ms, updated_at_ms from jobs"
        ):
            if job_id not in claimed:
                continue
            at, worker = claimed[job_id]
            busy[worker].append((at - t0, updated - t0))
            jobs.append((at - t0, updated - t0, worker, kind, created - t0, json.loads(payload)))
        if not busy:
            print(f"{path}: no claimed job")
            continue
        last = {w: max(e for _, e in iv) for w, iv in busy.items()}
        end = max(last.values())
        idle = 0
        for intervals in busy.values():
            intervals.sort()
            covered, (start, stop) = 0, intervals[0]
            first = start
            for a, b in intervals[1:]:
                if a > stop:
                    covered += stop - start
                    start, stop = a, b
                else:
                    stop = max(stop, b)
            covered += stop - start
            idle += (end - first) - covered
        batches = db.execute(
            "select count(*) from job_logs where message like '%claimed score%' "
            "and message not like '%run with%'"
        ).fetchone()[0]
        print(
            f"{path}: last job done {end} ms, slots' last jobs {end - min(last.values())} ms "
            f"apart, slots idle {idle} ms in all, {batches} score batches"
        )
        if show_jobs:
            for at, done, worker, kind, created, payload in sorted(jobs, key=lambda j: j[:2]):
                what = {k: v for k, v in payload.items() if k != "kind"}
                print(
                    f"  {worker[-8:]} {kind:17} enqueued {created:5} claimed {at:5} "
                    f"done {done:5} {what}"
                )


if __name__ == "__main__":
    main(sys.argv[1:])
