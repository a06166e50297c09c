"""Measures the JPEG codec's zstd floor (archiver/codecs/jpeg.py ZSTD_FLOOR): how far below
the quick zstd frame (zstd_codec.quick_size, level QUICK_LEVEL with the slow level's window)
zstd at a slow level gets on JPEG files.

    PYTHONPATH=. python benchmarks/jpeg_zstd_floor.py --tune DIR [--check DIR ...] [--levels 9,15,19,22]

For each file and level L: Q = quick_size(file, L), S = bbx's zstd payload at L, o = bytes
outside entropy-coded scans (jpeg.entropy_coded_bytes), P = the JPEG codec's payload. The
floor is f * Q - o and zstd at L is skipped when P is below it; that is safe where S is not
below the floor, i.e. f <= (S + o) / Q ("need"). `--tune` gives the smallest need;
ZSTD_FLOOR is set below it with an allowance. Each `--check` folder (held out), the test
samples and the constructed cases below (JPEGs with what zstd compresses and Lepton hardly
does appended, flat grayscale) then show, for the floor in the code, how often zstd was
skipped and any file where a skip lost to zstd (must be none).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archiver.codecs import jpeg as jpeg_codec
from archiver.codecs.jpeg import JPEG, ZSTD_FLOOR
from archiver.codecs.base import Declined
from archiver.codecs.jpeg import entropy_coded_bytes
from archiver.codecs.zstd_codec import QUICK_LEVEL, ZSTD, quick_size

ROOT = Path(__file__).resolve().parents[1]


def constructed(photo: bytes) -> dict[str, bytes]:
    """JPEGs that zstd can beat Lepton on, or nearly: Lepton zlib-codes what is not image data
    (32 KiB window), zstd at a slow level parses text better and sees further back; and flat
    grayscale ones, where slow zstd gains most over the quick level."""
    from PIL import Image
    from jpeg_samples import photo as made, save
    text = b"".join(p.read_bytes() for p in sorted((ROOT / "archiver").rglob("*.py")))
    xmp = b"".join(b"\xff\xe1" + (len(text[i:i + 60000]) + 2).to_bytes(2, "big") + text[i:i + 60000]
                   for i in range(0, min(len(text), 3_000_000), 60000))
    return {
        "photo+copy_of_itself": photo + photo,
        "photo+text_after_eoi": photo + text[:4 * len(photo)],
        "photo+text_app_segments": photo[:2] + xmp + photo[2:],
        "photo+zeros": photo + bytes(len(photo)),
        "flat_grayscale_2048": save(made(64, 48, seed=3, mode="L").resize(
            (2048, 1536), Image.BICUBIC), quality=90),
        "flat_grayscale_1024": save(made(32, 24, seed=4, mode="L").resize(
            (1024, 768), Image.BICUBIC), quality=85),
    }


def measure(name: str, data: bytes, levels: list[int]) -> list[tuple]:
    try:
        payload = len(JPEG.encode(data, 19))
    except Declined:
        return []
    other = len(data) - entropy_coded_bytes(data)
    rows = []
    for level in levels:
        quick = quick_size(data, level)
        slow = len(ZSTD.encode(data, level))
        floor = JPEG.zstd_floor(data, lambda: quick)
        rows.append((name, level, len(data), other, quick, slow, payload, (slow + other) / quick,
                     payload < floor, payload < floor and slow <= payload))
    return rows


def report(title: str, rows: list[tuple]) -> None:
    print(f"\n## {title}: {len({r[0] for r in rows})} files")
    print("| file | level | bytes | not scan o | quick Q | zstd S | jpeg P | need (S+o)/Q | skip | lost |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    low = sorted(rows, key=lambda r: r[7])[:4]
    for r in rows:
        name, level, n, other, quick, slow, payload, need, skip, lost = r
        if lost or r in low or title.startswith("constructed"):
            print(f"| {name} | {level} | {n:,d} | {other:,d} | {quick:,d} | {slow:,d} | {payload:,d} "
                  f"| {need:.4f} | {'yes' if skip else 'no'} | {'LOST' if lost else ''} |")
    if rows:
        total = sum(r[2] for r in rows)
        print(f"\nsmallest need: {low[0][7]:.4f} ({low[0][0]}, level {low[0][1]}); smallest S/Q "
              f"{min(r[5] / r[4] for r in rows):.4f}; floor {ZSTD_FLOOR} (quick level {QUICK_LEVEL}): "
              f"zstd skipped on {sum(r[8] for r in rows)} of {len(rows)} (file, level), "
              f"{sum(r[2] for r in rows if r[8]) / total:.1%} of the bytes; "
              f"lost to zstd on {sum(r[9] for r in rows)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tune", type=Path, required=True)
    ap.add_argument("--check", type=Path, action="append", default=[])
    ap.add_argument("--levels", default="9,15,19,22")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    sys.path.insert(0, str(ROOT / "tests"))
    from jpeg_samples import malformed_samples, valid_samples
    for title, folder in [("tune: " + str(args.tune), args.tune)] + [
            ("held out: " + str(c), c) for c in args.check]:
        rows = []
        for p in sorted(folder.iterdir()):
            rows += measure(p.name, p.read_bytes(), levels)
        report(title, rows)
    samples = {**valid_samples(), **malformed_samples()}
    report("held out: tests/jpeg_samples.py", [r for k, v in samples.items() for r in measure(k, v, levels)])
    photo = min((p for p in args.tune.iterdir() if p.stat().st_size > 300_000), key=lambda p: p.stat().st_size)
    report(f"constructed from {photo.name}",
           [r for k, v in constructed(photo.read_bytes()).items() for r in measure(k, v, levels)])
    print(f"\n(jpeg codec module: {jpeg_codec.__file__})")


if __name__ == "__main__":
    main()
