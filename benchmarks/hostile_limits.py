"""Reader limits on hostile and extreme archives, measured with the real command line: time
and peak RSS (of the bbx process) for

  - `bbx list` on an honest archive of 258,096 empty files (the issue's count),
  - `bbx verify --quick` on a zstd-bombed entries block (64 MiB of entries in a few KB),
  - `bbx verify` on a 296-byte text chunk claiming 64 MiB.

Run: PYTHONPATH=$PWD python benchmarks/hostile_limits.py [--files N]"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zlib

import zstandard

from archiver.container import layout
from archiver.container.records import DIRECTORY, FILE, Entry


def run(*args, cwd=None) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit code) of one bbx command in a fresh process."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "archiver", *args], cwd=cwd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, usage.ru_maxrss / 1024, p.returncode


def honest_archive(work: str, n: int) -> str:
    cached = os.environ.get("BBX_MANY_ARCHIVE")     # reuse one made before: creating is slow
    if cached:
        return cached
    src = os.path.join(work, "many")
    os.makedirs(src)
    for i in range(n):
        os.close(os.open(os.path.join(src, "f%07d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
    out = os.path.join(work, "many.bbx")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "archiver", "create", src, "-o", out, "-q"], check=True)
    print(f"create {n} empty files: {time.perf_counter() - t:.1f} s, "
          f"archive {os.path.getsize(out)} bytes")
    return out


def crafted(work: str, name: str, chunks, entries_raw: bytes, zstd: bool, count: int = 0) -> str:
    out = bytearray(layout.pack_header([]))
    rows = []
    for codec, payload, raw in chunks:
        rows.append(layout.ChunkInfo(len(out), codec, raw, len(payload), zlib.crc32(payload)))
        out += layout.pack_block(layout.BLOCK_CHUNK, codec, zlib.crc32(payload), raw, len(payload)) + payload
    stored = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(entries_raw) if zstd else entries_raw
    seg = layout.ChunkInfo(len(out), int(zstd), len(entries_raw), len(stored), zlib.crc32(stored))
    out += layout.pack_block(layout.BLOCK_ENTRIES, int(zstd), seg.crc32, len(entries_raw), len(stored)) + stored
    index = layout.pack_index(rows, [seg], count)
    offset = len(out)
    out += layout.pack_block(layout.BLOCK_INDEX, 0, zlib.crc32(index), len(index), len(index)) + index
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(out + layout.pack_trailer(offset))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=258_096)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as work:
        rows = []
        path = honest_archive(work, args.files)
        rows.append((f"list, {args.files} entries ({os.path.getsize(path)} B)", *run("list", path)))
        rows.append((f"list --json, {args.files} entries", *run("list", "--json", path)))
        bomb = layout.pack_entries([Entry(b"d", DIRECTORY, 0o755, 0)]) * ((64 << 20) // 66)
        path = crafted(work, "bomb.bbx", [], bomb, True)
        rows.append((f"verify --quick, entries bomb ({os.path.getsize(path)} B)", *run("verify", "--quick", path)))
        claim = [Entry(b"t.txt", FILE, 0o644, 0, 64 << 20, 0, 0, bytes(range(32)))]
        path = crafted(work, "claim.bbx", [(0x10, bytes([2]) + os.urandom(295), 64 << 20)],
                       layout.pack_entries(claim), False, count=1)
        rows.append((f"verify, text chunk claiming 64 MiB ({os.path.getsize(path)} B)", *run("verify", path)))
    print("| case | seconds | peak RSS MB | exit |\n|---|---|---|---|")
    for name, took, rss, code in rows:
        print(f"| {name} | {took:.1f} | {rss:.0f} | {code} |")


if __name__ == "__main__":
    main()
