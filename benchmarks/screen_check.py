"""How often the chunk coder's screen picks the wrong codec, before and after comparing like
with like, and the margin it needs.

    .venv/bin/python benchmarks/screen_check.py --tune DIR --valid DIR [--jobs 2] [--out results.json]

A chunk here is every file of more than 2 x SAMPLE_BYTES (the screen runs on no smaller
chunk), and every folder's files concatenated (what one text chunk of a folder holds). For
each, on the chunk's first SAMPLE_BYTES: the text codec's payload and zstd's; on the whole
chunk: both again. The right answer is "run the model" exactly when it beats zstd on the
whole chunk.
  old screen: model sample rate x chunk length <= 1.05 x zstd on the whole chunk
  new screen: model sample payload <= MARGIN x zstd on the same sample
The margin is the largest sample ratio seen on --tune chunks where the model still won, plus
a small allowance; the error rates are counted on --valid chunks, never tuned on.
Use the text folders of /work/shared/DATA.md sources, never the reserved packages.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from archiver.container.chunk_coder import SAMPLE_BYTES
from archiver.container.pool import Pool, Task
from archiver.container.router import looks_like_text

LEVEL = 19
OLD_SLACK = 1.05
ALLOWANCE = 0.02           # over the largest winning ratio seen on the tune chunks


def chunks(root: Path) -> list[tuple[str, Path | list[Path]]]:
    out = []
    folders: dict[Path, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            folders.setdefault(p.parent, []).append(p)
            if p.stat().st_size > 2 * SAMPLE_BYTES:
                out.append((str(p.relative_to(root)), p))
    for d, files in sorted(folders.items()):
        if len(files) > 1:
            out.append((str(d.relative_to(root)) + "/*", files))
    return out


def measure(name: str, paths) -> dict:
    from archiver.codecs.text import TEXT
    from archiver.codecs.zstd_codec import ZSTD
    paths = paths if isinstance(paths, list) else [paths]
    raw = b"".join(p.read_bytes() for p in paths)
    sample = raw[:SAMPLE_BYTES]
    return {"name": name, "size": len(raw), "text": looks_like_text(sample),
            "model_sample": len(TEXT.encode(sample, LEVEL)),
            "zstd_sample": len(ZSTD.encode(sample, LEVEL)),
            "model_whole": len(TEXT.encode(raw, LEVEL)),
            "zstd_whole": len(ZSTD.encode(raw, LEVEL))}


def run(root: Path, jobs: int) -> list[dict]:
    def size(p) -> int:
        return sum(q.stat().st_size for q in (p if isinstance(p, list) else [p]))
    tasks = (Task(measure, (name, p), size=size(p)) for name, p in chunks(root))
    return [fut.result() for _, fut in Pool(jobs).map(tasks)]


def old_screen(r: dict) -> bool:
    guess = r["model_sample"] * r["size"] / min(SAMPLE_BYTES, r["size"])
    return guess <= OLD_SLACK * min(r["zstd_whole"], r["size"])


def new_screen(r: dict, margin: float) -> bool:
    return r["model_sample"] <= margin * min(r["zstd_sample"], SAMPLE_BYTES)


def wins(r: dict) -> bool:
    return r["model_whole"] < min(r["zstd_whole"], r["size"])


def report(rows: list[dict], margin: float, label: str) -> None:
    print(f"\n{label}: {len(rows)} chunks, model wins on {sum(map(wins, rows))}")
    print(f"{'chunk':34} {'KiB':>6} {'ratio@sample':>12} {'ratio whole':>11} {'old':>5} {'new':>5}")
    for screen_name, screen in (("old", old_screen), ("new", lambda r: new_screen(r, margin))):
        lost = [r for r in rows if wins(r) and not screen(r)]
        wasted = [r for r in rows if not wins(r) and screen(r)]
        lost_bytes = sum(min(r["zstd_whole"], r["size"]) - r["model_whole"] for r in lost)
        print(f"  {screen_name} screen: wrong on {len(lost) + len(wasted)}/{len(rows)}: "
              f"{len(lost)} wins thrown away ({lost_bytes} bytes), {len(wasted)} chunks "
              f"coded by the model in vain (time only)")
    for r in rows:
        print(f"  {r['name'][:34]:34} {r['size'] >> 10:6d} {r['model_sample'] / r['zstd_sample']:12.3f} "
              f"{r['model_whole'] / r['zstd_whole']:11.3f} {'run' if old_screen(r) else 'skip':>5} "
              f"{'run' if new_screen(r, margin) else 'skip':>5}{'  <- model wins' if wins(r) else ''}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tune", type=Path, required=True)
    ap.add_argument("--valid", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    tune, valid = run(args.tune, args.jobs), run(args.valid, args.jobs)
    if args.out:
        args.out.write_text(json.dumps({"tune": tune, "valid": valid}, indent=1))
    winning = [r["model_sample"] / r["zstd_sample"] for r in tune if wins(r)]
    margin = round(max(winning, default=1.0) + ALLOWANCE, 3)
    print(f"margin from {len(tune)} tune chunks: largest winning sample ratio "
          f"{max(winning, default=float('nan')):.3f} + {ALLOWANCE} = {margin} (load {os.getloadavg()[0]:.1f})")
    report(tune, margin, "tune")
    report(valid, margin, "valid (held out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
