"""What each compression setting costs and gains, to choose the presets of `bbx create`
(--fast, --best, -1..-9): for every setting, the archive size, the create time and the full
verify (decode) time on each folder given, with `tar | zstd` at the same level beside it.

    .venv/bin/python benchmarks/bench_presets.py FOLDER [FOLDER...]

Presets are archiver/cli/presets.py (results: benchmarks/results/presets.md). Wall-clock
times on a shared machine: compare within one run."""
from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tempfile
import time

import zstandard

import archiver
from archiver.cli.presets import PRESETS


def tar_bytes(folder: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(folder, arcname=os.path.basename(folder.rstrip("/")))
    return buf.getvalue()


def one(folder: str, p, tmp: str) -> tuple[int, float, float]:
    out = os.path.join(tmp, "x.bbx")
    t0 = time.perf_counter()
    archiver.create(out, [folder], level=p.level, force=True, chunk_size=p.chunk_size,
                    codecs=None if p.models else ["zstd"])
    t1 = time.perf_counter()
    with archiver.open(out) as a:
        report = a.verify()
    t2 = time.perf_counter()
    assert report.ok, report.errors
    size = os.path.getsize(out)
    os.unlink(out)
    return size, t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--presets", type=lambda s: {int(x) for x in s.split(",")},
                    default=set(PRESETS), help="comma-separated preset numbers (default: all)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for folder in args.folders:
            raw = tar_bytes(folder)
            print(f"\n{folder}: {len(raw):,} bytes as tar")
            print("| preset | level | models | bbx bytes | ratio | tar+zstd bytes | bbx/zstd "
                  "| create s | MB/s | verify s | MB/s |")
            print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for n, p in sorted(PRESETS.items()):
                if n not in args.presets:
                    continue
                zs = len(zstandard.ZstdCompressor(level=p.level).compress(raw))
                size, tc, tv = one(folder, p, tmp)
                mb = len(raw) / 1e6
                models = "yes" if p.models else "no"
                print(f"| -{n} | {p.level} | {models} | {size:,} | {len(raw) / size:.2f} "
                      f"| {zs:,} | {size / zs:.3f} | {tc:.1f} | {mb / tc:.2f} | {tv:.1f} "
                      f"| {mb / tv:.2f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
