#!/usr/bin/env python3
"""What writing bytes into new files costs this machine, by the size of each `write`, against
writing them again over the same files (docs/BENCHMARKS.md, "The platform path", "Where the rest
goes" and "Writes in pieces").

The platform stores each video's decode caches (~25 MB for a 640x480 clip) so that a detector
that arrives later scores it without decoding it again; `arena eval` keeps its crops in memory.
On the guests measured here, one `write` of a whole 12.8 MB file into a new file cost ~10x the
system CPU of the same bytes written in pieces of 256 KB (the store and the decode children write
in `arena::storage::WRITE_PIECE` pieces since 2026-12-04). The cost also depends on how much
memory was freed just before, so each try pauses first (`--pause`) and every result is printed.

    python3 scripts/bench/page_cache_cost.py --mb 613 --files 48 --tries 2 --pieces-kb 0,256
"""
import argparse
import os
import resource
import tempfile
import time


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_file(path: str, view: memoryview, piece: int, mode: int) -> None:
    fd = os.open(path, mode, 0o600)
    try:
        for at in range(0, len(view), piece):
            os.write(fd, view[at : at + piece])
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=613.0, help="megabytes in all (1e6 bytes)")
    ap.add_argument("--files", type=int, default=48)
    ap.add_argument("--tries", type=int, default=2)
    ap.add_argument(
        "--pieces-kb",
        default="0,256",
        help="comma-separated sizes of each write in KiB; 0 = the whole file in one write",
    )
    ap.add_argument("--pause", type=float, default=10.0, help="seconds before each measurement")
    ap.add_argument("--dir", default=None, help="where to write (default: the temp folder)")
    args = ap.parse_args()
    each = int(args.mb * 1e6 / args.files)
    # Not zeros: a page of zeros could be special somewhere on the way.
    buf = bytes(i % 251 for i in range(251)) * (each // 251 + 1)
    view = memoryview(buf[:each])
    pieces = [int(p) * 1024 for p in args.pieces_kb.split(",")]
    for t in range(args.tries):
        for piece in pieces:
            size = piece or each
            time.sleep(args.pause)
            with tempfile.TemporaryDirectory(dir=args.dir) as d:
                paths = [os.path.join(d, str(i)) for i in range(args.files)]
                c0 = cpu()
                for p in paths:
                    write_file(p, view, size, os.O_WRONLY | os.O_CREAT)
                c1 = cpu()
                for p in paths:
                    write_file(p, view, size, os.O_WRONLY)
                c2 = cpu()
            label = f"{piece // 1024} KiB writes" if piece else "one write per file"
            print(
                f"try {t}: {args.mb:.0f} MB in {args.files} files, {label}: new files "
                f"{c1 - c0:.2f} CPU s, again over the same files {c2 - c1:.2f} CPU s",
                flush=True,
            )


if __name__ == "__main__":
    main()
