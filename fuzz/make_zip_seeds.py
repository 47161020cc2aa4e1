#!/usr/bin/env python3
"""Writes the small zip seeds of the `zip` fuzz target into corpus/zip/ (committed; rerun to
refresh). Deterministic: fixed timestamps."""

import io
import struct
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "zip"
T = (2020, 1, 1, 0, 0, 0)


def zipped(entries, lie=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, kind, mode in entries:
            i = zipfile.ZipInfo(name, date_time=T)
            i.compress_type = kind
            i.external_attr = mode << 16
            i.create_system = 3
            z.writestr(i, data)
    b = bytearray(buf.getvalue())
    if lie is not None:
        for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            pos = 0
            while (pos := b.find(sig, pos)) >= 0:
                struct.pack_into("<I", b, pos + off, lie)
                pos += 4
    return bytes(b)


D, S = zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED
SEEDS = {
    "one_video.zip": [("g01_id1_0001.mp4", b"\0\0\0\x18ftypisom" * 4, D, 0o644)],
    "two_stored.zip": [("a.mp4", b"x" * 40, S, 0o644), ("b.webm", b"y" * 40, S, 0o644)],
    "dotdot.zip": [("../evil.mp4", b"x", D, 0o644)],
    "absolute.zip": [("/tmp/evil.mp4", b"x", D, 0o644)],
    "symlink.zip": [("g01.mp4", b"/etc/passwd", S, 0o120777)],
    "folder.zip": [("dir/", b"", S, 0o40755)],
    "nested.zip": [("inner.zip", b"PK\x05\x06" + bytes(18), S, 0o644)],
    "zeros.zip": [("z.mp4", bytes(20000), D, 0o644)],
}

OUT.mkdir(parents=True, exist_ok=True)
for name, entries in SEEDS.items():
    (OUT / name).write_bytes(zipped(entries))
(OUT / "lying_sizes.zip").write_bytes(zipped(SEEDS["zeros.zip"], lie=16))
