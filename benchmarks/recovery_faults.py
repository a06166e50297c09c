"""Fault injection against recovery records: a real archive with a record is damaged many
times (bit flips at random offsets, zeroed bursts, truncated tails, damage inside the record,
each sized within the record's capacity or beyond it), then repaired. Within capacity every
repair must give the archive back byte for byte; beyond it, repair must say what is lost.

    nice -n 10 python benchmarks/recovery_faults.py [DIR] [--trials 200] [--percent 5]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archiver                                     # noqa: E402
from archiver.errors import BBXError                # noqa: E402
from archiver.recovery.repair import open_checked, repair   # noqa: E402


def faults(data: bytes, head, rng: random.Random):
    """(kind, within capacity?, damaged bytes)."""
    n, g, b, m = len(data), head.groups, head.block_size, head.parity
    kind = rng.choice(["flips", "burst", "tail", "record", "over"])
    bad = bytearray(data)
    if kind == "flips":             # at most M per group: M * G / 4 flips always fit
        for off in rng.sample(range(n), rng.randint(1, max(1, m * g // 4))):
            bad[off] ^= 1 << rng.randrange(8)
        return kind, True, bytes(bad)
    if kind == "burst":             # a run of (M - 1) blocks per group never hits M in one
        size = rng.randint(1, b * g * (m - 1) or 1)
        start = rng.randrange(n - size)
        bad[start:start + size] = bytes(size)
        return kind, True, bytes(bad)
    if kind == "tail":              # the index and trailer, or into the record
        return kind, True, bytes(bad[:n - rng.randint(1, n - head.offset - head.record_size + b)])
    if kind == "record":            # anywhere inside the recovery block, a few bytes
        for _ in range(rng.randint(1, 8)):
            bad[rng.randrange(head.offset, head.offset + head.record_size)] ^= 0xFF
        return kind, True, bytes(bad)
    size = b * g * (m + 2)          # beyond: M + 2 blocks in every group
    start = rng.randrange(head.offset - size) if head.offset > size else 0
    bad[start:start + size] = bytes(size)
    return kind, False, bytes(bad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default="/work/data/cli")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--percent", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(2026)
    tally: Counter = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        arc = root / "a.bbx"
        archiver.create(arc, [args.dir], codecs=["zstd"], jobs=1, recovery=args.percent)
        data = arc.read_bytes()
        fd, rec, _ = open_checked(arc)
        os.close(fd)
        head = rec.head
        print(f"archive {len(data):,} bytes, {args.percent}%: {head.data_blocks} blocks of "
              f"{head.block_size} B in {head.groups} groups, {head.parity} parity each")
        for t in range(args.trials):
            kind, fits, bad = faults(data, head, rng)
            (root / "bad.bbx").write_bytes(bad)
            try:
                report = repair(root / "bad.bbx", root / "fixed.bbx", force=True)
            except BBXError as exc:
                tally[kind, "error: " + type(exc).__name__] += 1
                continue
            if fits:
                same = (root / "fixed.bbx").read_bytes() == data
                tally[kind, "repaired byte for byte" if same else "WRONG"] += 1
            else:
                named = not report.damage.repairable and any("chunk" in s or "index" in s or
                                                             "header" in s for s in report.lost)
                tally[kind, "beyond: loss named" if named else "beyond: NOT NAMED"] += 1
    print("| damage | outcome | trials |\n|---|---|---|")
    for (kind, outcome), count in sorted(tally.items()):
        print(f"| {kind} | {outcome} | {count} |")


if __name__ == "__main__":
    main()
