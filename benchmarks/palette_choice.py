"""Palette PNGs: expand to RGB for the image model, or leave them to the zstd fallback?

For palette PNGs shipped in two icon themes (not the reserved packages), side by side in one
run: the image model's code length of the expanded RGB pixels (whole 32x32 blocks, as
bench_image.py measures it) plus zstd of the alpha plane, against zstd -19 of the PNG file
(what the fallback stores) and the PNG itself, all in bits per pixel of the same image. The
chunk coder keeps the smaller of the image codec and zstd per file anyway; this says whether
expanding palettes is worth the model's time.

    nice python benchmarks/palette_choice.py [--work DIR] [--files N]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_image import model_bits  # noqa: E402
from png_rebuild_survey import fetch  # noqa: E402

from archiver.codecs import image_files  # noqa: E402
from archiver.models.image import weights_io  # noqa: E402
from archiver.models.image.model import ImageRuntime  # noqa: E402
from archiver.models.weights import verified_path  # noqa: E402

PACKAGES = ("oxygen-icon-theme", "gnome-icon-theme")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bbx-png-survey")
    ap.add_argument("--files", type=int, default=12)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path, _ = verified_path("image-l4.npz")
    rt = ImageRuntime(weights_io.load(path))
    zc = zstandard.ZstdCompressor(level=19)
    pngs = [f for p in PACKAGES for f in sorted(fetch(args.work, p).rglob("*.png"))
            if f.is_file() and not f.is_symlink()]
    random.Random(3).shuffle(pngs)
    print("| file | pixels | model+alpha bpp | zstd(file) bpp | PNG bpp |")
    print("|---|---|---|---|---|")
    totals = np.zeros(3)
    n = 0
    for f in pngs:
        data = f.read_bytes()
        if data[25:26] != b"\x03":                    # IHDR colour type 3: palette
            continue
        d = image_files.decompose(data)
        if d is None or min(d.planes.shape[1:]) < 32:
            continue
        h, w = d.planes.shape[1] // 32 * 32, d.planes.shape[2] // 32 * 32
        rgb = np.ascontiguousarray(np.moveaxis(d.planes, 0, -1))
        bits = model_bits(rt, rgb)
        if d.alpha is not None:
            bits += 8 * len(zc.compress(d.alpha[:h, :w].tobytes()))
        px = d.planes.shape[1] * d.planes.shape[2]
        row = np.array([bits / (h * w), 8 * len(zc.compress(data)) / px, 8 * len(data) / px])
        totals += row
        n += 1
        print(f"| {f.name} | {px} | {row[0]:.2f} | {row[1]:.2f} | {row[2]:.2f} |", flush=True)
        if n == args.files:
            break
    print(f"| mean of {n} | | {totals[0] / n:.2f} | {totals[1] / n:.2f} | {totals[2] / n:.2f} |")


if __name__ == "__main__":
    main()
