"""What the JPEG colour lattice saves on photos that are on it (lattice.py; codec flag 0x20):
for every prepared photo whose every pixel a JPEG decoder's YCbCr -> RGB can give, the pixel
code length of random blocks with B coded by the plain logistic and by the masked one (the
coder's own frequencies, same network outputs, same blocks).

  .venv/bin/python benchmarks/lattice_gain.py --weights weights/image-l4f.npz \
      [--data data/image] [--split train] [--blocks 128]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from archiver.entropy import logistic_codelength, masked_logistic_codelength
from archiver.models.image import lattice, weights_io
from archiver.models.image.codelength import sample_bins
from archiver.models.image.model import PIXEL_PRECISION, BlockInputs, ImageRuntime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_image import image_blocks  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=Path("weights/image-l4f.npz"))
    ap.add_argument("--data", type=Path, default=Path("data/image"))
    ap.add_argument("--split", default="train", help="prepared split (pixels/<split>/*.npy)")
    ap.add_argument("--blocks", type=int, default=128, help="random blocks per photo")
    args = ap.parse_args()
    rt = ImageRuntime(weights_io.load(args.weights))
    files = sorted((args.data / "pixels" / args.split).glob("*.npy"))
    if not files:
        raise SystemExit(f"no prepared photos in {args.data / 'pixels' / args.split}: run "
                         "`python -m archiver.train.image prepare` first")
    total = np.zeros(3)
    for f in files:
        img = np.load(f, mmap_mode="r")
        if img.ndim != 3 or img.shape[2] < 3 or min(img.shape[:2]) < 32:
            continue
        img = np.ascontiguousarray(img[:img.shape[0] // 32 * 32, :img.shape[1] // 32 * 32, :3])
        if not lattice.on_lattice(img):
            continue
        crops, top, left, tr = image_blocks(img)
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(len(crops), min(args.blocks, len(crops)), replace=False))
        inp = BlockInputs.from_crops(crops[idx], top[idx], left[idx], tr[idx])
        y, base2 = rt.ar_raw(inp, rt.trunk(inp, sample_bins(rt.q1(inp), rng)))
        x = inp.pixels()
        p = rt.ar_params(y, base2, x)
        bits = logistic_codelength(x, p.loc, p.scale_idx, 256, PIXEL_PRECISION)
        b_plain = logistic_codelength(x[:, 2], p.loc[:, 2], p.scale_idx[:, 2], 256,
                                      PIXEL_PRECISION)
        b_masked = masked_logistic_codelength(
            x[:, 2], p.loc[:, 2], p.scale_idx[:, 2], x[:, 0].astype(np.int64) * 256 + x[:, 1],
            lattice.masks(), 256, PIXEL_PRECISION)
        with_lattice = bits - b_plain + b_masked
        total += (bits, with_lattice, x.size)
        print(f"{f.stem}: {bits / x.size:.3f} -> {with_lattice / x.size:.3f} bits/subpixel "
              f"({100 * (with_lattice / bits - 1):+.1f}%)", flush=True)
    if total[2]:
        print(f"all photos on the lattice: {total[0] / total[2]:.3f} -> "
              f"{total[1] / total[2]:.3f} bits/subpixel ({100 * (total[1] / total[0] - 1):+.1f}%)")
    else:
        print("no photo of this split is on the lattice")


if __name__ == "__main__":
    main()
