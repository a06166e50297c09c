"""What splitting text costs in size: the text codec's payload for one piece of held-out
text coded whole, and cut into 2, 4 and 8 independent parts (two segments of one chunk, or
that many chunks: both restart the model, so they cost the same bytes; chunks add a 32-byte
block header each). Speed is not measured here: the codec's time is linear in the bytes, so
a split only buys parallelism (benchmarks/bench_jobs.py measures that).

    .venv/bin/python benchmarks/bench_text_split.py DIR [--mib 4] [--jobs 2] [--parts 1 2 4 8]

DIR: held-out text (the validation split of /work/shared/DATA.md sources, never the
reserved packages); its files are concatenated in name order and the first --mib MiB used.
DIR may also be one file.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from archiver.container import layout
from archiver.container.pool import Pool, Task

LEVEL = 19
PARTS = (1, 2, 4, 8)


def payload(data: bytes) -> int:
    from archiver.codecs import text
    return len(text.TEXT.encode(data, LEVEL))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--mib", type=float, default=4)
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--parts", type=int, nargs="+", default=list(PARTS))
    args = ap.parse_args()
    files = [args.dir] if args.dir.is_file() else sorted(p for p in args.dir.rglob("*")
                                                          if p.is_file())
    data = b"".join(p.read_bytes() for p in files)[:int(args.mib * (1 << 20))]
    from archiver.codecs import text
    text.SEGMENT_MAX = 1 << 62            # one segment per call: the split is made here
    tasks = []
    parts = sorted(set(args.parts) | {1})
    for n in parts:
        cuts = [len(data) * k // n for k in range(n + 1)]
        for k in range(n):
            piece = data[cuts[k]:cuts[k + 1]]
            tasks.append(Task(payload, (piece,), size=len(piece), ref=n))
    sizes: dict[int, int] = {}
    for task, fut in Pool(args.jobs).map(tasks):
        sizes[task.ref] = sizes.get(task.ref, 0) + fut.result()
    print(f"{len(data)} bytes of {args.dir} ({len(files)} files), level {LEVEL}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'parts':>5} {'part KiB':>9} {'payload':>9} {'+headers':>9} {'cost vs whole':>13}")
    for n in parts:
        total = sizes[n] + (n - 1) * layout.BLOCK.size
        print(f"{n:5d} {len(data) / n / 1024:9.0f} {sizes[n]:9d} {total:9d} "
              f"{100 * (sizes[n] / sizes[1] - 1):12.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
