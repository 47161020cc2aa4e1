#!/usr/bin/env python3
"""Generates the hostile-upload corpus (issue #7) into OUT (default tests/hostile/cases/).

Every case is a file an attacker could upload; tests/tests/hostile/ posts each one to a fresh
server and checks it is refused with its own error code, nothing is stored, the server lives on
and (for the file-read attacks) the secret file's bytes never come back. CASES.md lists them.

Needs: Python >= 3.11 with onnx and numpy (scripts/bootstrap installs them) and the ffmpeg CLI.
Deterministic: the same script and OUT give the same bytes (timestamps pinned, seeded RNG).
Usage: tests/hostile/generate.py [OUT]
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
# What the secret file carries: the tests look for it in every answer, object, row and log line.
SECRET_MARKER = b"ARENA-HOSTILE-SECRET-4f1c0e9b7d2a"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def ffmpeg(*args: str) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(cmd, check=True)


def x264(out: Path, source: str, *extra: str) -> None:
    """Encodes a lavfi source to H.264 MP4 with metadata and timestamps pinned."""
    ffmpeg(
        "-f", "lavfi", "-i", source, *extra,
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
        str(out),
    )


# --- videos ------------------------------------------------------------------------------------


def secret_video(out: Path) -> Path:
    """The file the file-read attacks aim at: a valid clip (so following a reference to it would
    succeed) whose bytes carry SECRET_MARKER as its title."""
    secret_dir = out / "secret"
    secret_dir.mkdir()
    path = secret_dir / "secret.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=s=64x64:r=10:d=1",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-metadata", f"title={SECRET_MARKER.decode()}", str(path),
    )
    assert SECRET_MARKER in path.read_bytes()
    return path


def avi_with_playlist(secret: Path) -> bytes:
    """An AVI whose text stream carries a GAB2 subtitle holding an HLS playlist that names the
    secret (the shape of the public FFmpeg local-file-read exploit)."""

    def chunk(fourcc: bytes, data: bytes) -> bytes:
        pad = b"\0" if len(data) % 2 else b""
        return fourcc + struct.pack("<I", len(data)) + data + pad

    def lst(kind: bytes, body: bytes) -> bytes:
        return chunk(b"LIST", kind + body)

    playlist = (
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n"
        f"file://{secret}\n#EXT-X-ENDLIST\n"
    ).encode()
    avih = struct.pack("<14I", 100000, 0, 0, 0x10, 1, 0, 2, 0, 64, 64, 0, 0, 0, 0)
    strh_v = b"vids" + b"MJPG" + struct.pack("<IHHIIIIIIII", 0, 0, 0, 0, 1, 10, 0, 1, 0, 0, 0)
    strh_v += struct.pack("<4h", 0, 0, 64, 64)
    strf_v = struct.pack("<IiiHHIIiiII", 40, 64, 64, 1, 24, 0x47504A4D, 64 * 64 * 3, 0, 0, 0, 0)
    strh_t = b"txts" + b"\0\0\0\0" + struct.pack("<IHHIIIIIIII", 0, 0, 0, 0, 1, 10, 0, 1, 0, 0, 0)
    strh_t += struct.pack("<4h", 0, 0, 0, 0)
    hdrl = lst(
        b"hdrl",
        chunk(b"avih", avih)
        + lst(b"strl", chunk(b"strh", strh_v) + chunk(b"strf", strf_v))
        + lst(b"strl", chunk(b"strh", strh_t) + chunk(b"strf", b"")),
    )
    name = "playlist.m3u8\0".encode("utf-16-le")
    gab2 = b"GAB2\0" + struct.pack("<HI", 2, len(name)) + name
    gab2 += struct.pack("<HI", 4, len(playlist)) + playlist
    movi = lst(b"movi", chunk(b"00dc", b"\xff\xd8\xff\xd9") + chunk(b"01tx", gab2))
    body = b"AVI " + hdrl + movi
    return b"RIFF" + struct.pack("<I", len(body)) + body


def png_image() -> bytes:
    """A valid 8×8 grey PNG."""

    def png_chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\0" + b"\x80" * 8 for _ in range(8))
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def videos(out: Path, secret: Path, tmp: Path) -> None:
    d = out / "videos"
    d.mkdir()
    # HLS playlist renamed .mp4: without a demuxer whitelist FFmpeg opens the file it names.
    (d / "hls_playlist.mp4").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"
        f"file://{secret}\n#EXT-X-ENDLIST\n"
    )
    # ffconcat script renamed .mp4: the concat demuxer would open the secret.
    (d / "ffconcat.mp4").write_text(f"ffconcat version 1.0\nfile '{secret}'\nduration 1\n")
    (d / "avi_playlist.mp4").write_bytes(avi_with_playlist(secret))
    (d / "zero_bytes.mp4").write_bytes(b"")
    # Truncated: a fast-start MP4 (index first) cut in the middle of its frames: the index
    # promises frames the file does not have, though the first ones decode.
    whole = tmp / "whole.mp4"
    x264(whole, "testsrc=s=64x64:r=10:d=4", "-movflags", "+faststart")
    data = whole.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) * 6 // 10])
    (d / "not_a_video.png").write_bytes(png_image())
    # 16000×16: wider than any allowed frame (default max 3840×2160).
    x264(d / "absurd_dimensions.mp4", "color=c=gray:s=16000x16:r=10:d=0.2")
    # Two frames, 1000 s apart: 2000 s long (default max 600 s).
    x264(d / "absurd_duration.mp4", "color=c=gray:s=16x16:r=1/1000:d=2000")
    # 20,400 frames at 120 fps (default max 20,000 frames).
    x264(d / "absurd_frame_count.mp4", "color=c=gray:s=16x16:r=120:d=170")
    # Nine copies of one video stream (default max 8 streams).
    base = tmp / "base.mp4"
    x264(base, "testsrc=s=64x64:r=10:d=1")
    maps = [a for _ in range(9) for a in ("-map", "0:v")]
    ffmpeg("-i", str(base), *maps, "-c", "copy", "-fflags", "+bitexact", str(d / "too_many_streams.mp4"))


# --- archives ----------------------------------------------------------------------------------


def zip_bytes(entries: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    path = Path(tempfile.mkstemp(suffix=".zip")[1])
    try:
        with zipfile.ZipFile(path, "w") as z:
            for info, data in entries:
                z.writestr(info, data)
        return path.read_bytes()
    finally:
        path.unlink()


def info(name: str, deflate: bool = True) -> zipfile.ZipInfo:
    i = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    i.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    i.external_attr = 0o644 << 16
    return i


def lie_about_sizes(data: bytes, claimed: int) -> bytes:
    """Rewrites every local and central header to claim `claimed` uncompressed bytes."""
    b = bytearray(data)
    pos = 0
    while (pos := b.find(b"PK\x03\x04", pos)) >= 0:
        struct.pack_into("<I", b, pos + 22, claimed)
        pos += 4
    pos = 0
    while (pos := b.find(b"PK\x01\x02", pos)) >= 0:
        struct.pack_into("<I", b, pos + 24, claimed)
        pos += 4
    return bytes(b)


def archives(out: Path, secret: Path, base_video: bytes) -> None:
    d = out / "archives"
    d.mkdir()
    zeros = bytes(64 * 1024 * 1024)
    # 64 MiB of zeros in ~64 KiB: over the 100× ratio long before the total cap.
    bomb = zip_bytes([(info("g01_id1_0001.mp4"), zeros)])
    (d / "zip_bomb_ratio.zip").write_bytes(bomb)
    # The same bomb whose headers say the entry inflates to 1 KiB: caps count inflated bytes.
    (d / "zip_bomb_lying_header.zip").write_bytes(lie_about_sizes(bomb, 1024))
    # Three entries of 400 KB that compress ~20× each: fine one by one, over a 1.2 MB total.
    rng = random.Random(7)
    def sparse() -> bytes:
        return bytes(1 if rng.random() < 0.04 else 0 for _ in range(400_000))
    total = [(info(f"g01_id1_000{i}.mp4"), sparse()) for i in range(1, 4)]
    (d / "zip_bomb_total.zip").write_bytes(zip_bytes(total))
    video = [(info("g01_id1_0001.mp4"), base_video)]
    (d / "zip_slip_dotdot.zip").write_bytes(zip_bytes([(info("../../../tmp/evil.mp4"), base_video)]))
    (d / "zip_slip_absolute.zip").write_bytes(zip_bytes([(info("/tmp/evil.mp4"), base_video)]))
    # A symlink entry named like a video, pointing at the secret.
    link = info("g01_id1_0001.mp4", deflate=False)
    link.external_attr = (0o120777 << 16)
    link.create_system = 3
    (d / "zip_symlink.zip").write_bytes(zip_bytes([(link, str(secret).encode())]))
    many = [(info(f"t{i:04d}.mp4", deflate=False), b"x") for i in range(501)]
    (d / "zip_too_many_entries.zip").write_bytes(zip_bytes(many))
    inner = zip_bytes(video)
    (d / "zip_nested.zip").write_bytes(zip_bytes([(info("g01_id1_0001.zip"), inner)]))


# --- models ------------------------------------------------------------------------------------


def model(nodes, initializers, output_dims=(None, 1), extra_opsets=()) -> onnx.ModelProto:
    """NCHW `input` [N,3,32,32] -> per-channel means `m` [N,3] -> `nodes` -> `logits`, matching
    tests/hostile/manifest.toml."""
    reduce = helper.make_node("ReduceMean", ["input"], ["m"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph(
        [reduce, *nodes],
        "hostile",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, list(output_dims))],
        initializers,
    )
    opsets = [helper.make_opsetid("", 13), *extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="arena-hostile")
    m.ir_version = 8
    return m


def weights() -> TensorProto:
    return numpy_helper.from_array(np.array([[4.0], [-4.0], [4.0]], np.float32), "W")


def matmul() -> onnx.NodeProto:
    return helper.make_node("MatMul", ["m", "W"], ["logits"])


def external(location: str, offset: int = 0) -> TensorProto:
    t = weights()
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", "12")):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def endless_loop() -> onnx.ModelProto:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("iter", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [None, 3]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [None, 3]),
        ],
        [numpy_helper.from_array(np.array([1.0], np.float32), "one")],
    )
    loop = helper.make_node("Loop", ["trips", "keep_going", "m"], ["v"], body=body)
    return model(
        [loop, helper.make_node("MatMul", ["v", "W"], ["logits"])],
        [
            numpy_helper.from_array(np.array(1 << 62, np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "keep_going"),
            weights(),
        ],
    )


def models(out: Path, secret: Path) -> None:
    d = out / "models"
    d.mkdir()
    shutil.copy(HERE / "manifest.toml", d / "manifest.toml")

    def save(name: str, m: onnx.ModelProto) -> None:
        (d / name).write_bytes(m.SerializeToString())

    save("external_data_dotdot.onnx", model([matmul()], [external("../../../secret/secret.mp4")]))
    save("external_data_absolute.onnx", model([matmul()], [external(str(secret))]))
    # onnxruntime reads this marker as "the weights are at this address in my memory".
    save("ort_mem_addr.onnx", model([matmul()], [external("*/_ORT_MEM_ADDR_/*", 0x7F0000001000)]))
    # A 2^40-element initializer that carries no data: the header lies about its size.
    huge = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    save("huge_initializer_lying.onnx", model([matmul()], [huge]))
    # 2 MiB of real weights (the tests cap models at 1 MiB).
    big = numpy_helper.from_array(np.zeros((3, 1), np.float32), "W")
    pad = numpy_helper.from_array(np.zeros(512 * 1024, np.float32), "unused")
    save("huge_initializer.onnx", model([matmul()], [big, pad]))
    evil = helper.make_node("Exfiltrate", ["m"], ["e"], domain="evil.domain")
    save(
        "unknown_op_domain.onnx",
        model([evil, helper.make_node("MatMul", ["e", "W"], ["logits"])], [weights()],
              extra_opsets=[helper.make_opsetid("evil.domain", 1)]),
    )
    save("endless_loop.onnx", endless_loop())
    zero = numpy_helper.from_array(np.array([0.0], np.float32), "zero")
    save(
        "nan_output.onnx",
        model([helper.make_node("MatMul", ["m", "W"], ["z"]),
               helper.make_node("Div", ["z", "zero"], ["logits"])], [weights(), zero]),
    )
    wide = numpy_helper.from_array(np.ones((3, 5), np.float32), "W")
    save("wrong_output_shape.onnx", model([matmul()], [wide], output_dims=(None, 5)))
    save(
        "nondeterministic.onnx",
        model([helper.make_node("RandomUniformLike", ["m"], ["r"]),
               helper.make_node("MatMul", ["r", "W"], ["logits"])], [weights()]),
    )
    rng = random.Random(11)
    garbage = bytes([0x08, 0x96, 0x01]) + bytes(rng.randrange(256) for _ in range(4093))
    (d / "garbage.onnx").write_bytes(garbage)


def stamp(out: Path) -> str:
    """Changes whenever this script, the manifest or the output folder change."""
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    h.update((HERE / "manifest.toml").read_bytes())
    h.update(str(out.resolve()).encode())
    return h.hexdigest()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else HERE / "cases").resolve()
    # Build beside OUT and swap it in whole, so a reader never sees half a corpus.
    staging = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            secret = out / "secret" / "secret.mp4"
            secret_video(staging)
            videos(staging, secret, Path(tmp))
            base = Path(tmp) / "base.mp4"
            archives(staging, secret, base.read_bytes())
            models(staging, secret)
        (staging / "SECRET_MARKER").write_bytes(SECRET_MARKER)
        (staging / "STAMP").write_text(stamp(out))
        old = out.with_name(out.name + ".old")
        if out.exists():
            os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"hostile corpus written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
