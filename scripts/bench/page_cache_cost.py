#!/usr/bin/env python3
"""What writing bytes into new files costs this machine, against writing them again over the same
files (docs/BENCHMARKS.md, "The platform path", "Where the rest goes").

The platform stores each video's decode caches (~25 MB for a 640x480 clip) so that a detector
that arrives later scores it without decoding it again; `arena eval` keeps its crops in memory.
On a guest whose kernel reports freed memory to its host (free page reporting), a page-cache page
the kernel takes from its free lists is faulted in by the host on first touch, so new files cost
far more CPU than the copy itself. The cost depends on how much memory was freed and reported
just before, so each try is printed.

    python3 scripts/bench/page_cache_cost.py --mb 613 --files 48 --tries 3
"""
import argparse
import os
import resource
import tempfile


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=613.0, help="megabytes in all (1e6 bytes)")
    ap.add_argument("--files", type=int, default=48)
    ap.add_argument("--tries", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to write (default: the temp folder)")
    args = ap.parse_args()
    each = int(args.mb * 1e6 / args.files)
    # Not zeros: a page of zeros could be special somewhere on the way.
    buf = bytes(i % 251 for i in range(251)) * (each // 251 + 1)
    buf = buf[:each]
    for t in range(args.tries):
        with tempfile.TemporaryDirectory(dir=args.dir) as d:
            paths = [os.path.join(d, str(i)) for i in range(args.files)]
            c0 = cpu()
            for p in paths:
                with open(p, "wb") as f:
                    f.write(buf)
            c1 = cpu()
            for p in paths:
                with open(p, "r+b") as f:
                    f.write(buf)
            c2 = cpu()
        print(
            f"try {t}: {args.mb:.0f} MB in {args.files} files: new files {c1 - c0:.2f} CPU s, "
            f"again over the same files {c2 - c1:.2f} CPU s"
        )


if __name__ == "__main__":
    main()
