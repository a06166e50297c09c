"""The Bit-Swap paper's Tables 2-4 for our model: Bit-Swap (Algorithm 2) against BB-ANS
(Algorithm 1) on sequences of 32x32 blocks, each chained on one rANS message from an empty
start (its initial bits included).

  PYTHONPATH=. .venv/bin/python benchmarks/bitswap_table.py --val data/image/pixels/val \
      [--experiments 20] [--length 100]

Each experiment codes `length` blocks taken from random places of random validation photos
(held out, never trained on), each with its 8-pixel context from the photo (as the image
codec gives a block its decoded neighbours), one block after another on one message, in
bits per subpixel (3 per pixel):
  - ELBO: the model's discretised -ELBO of the blocks (image_coder.code_length's terms);
  - avg net bitrate: (final message bits - initial bits drawn) / subpixels coded, mean and
    standard deviation over the experiments;
  - CMA(n): cumulative moving average after n blocks, message bits (initial bits included)
    / subpixels so far, averaged over the experiments (paper Section 6.2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archiver.codecs import image as image_codec  # noqa: E402
from archiver.models.image import arch, image_coder  # noqa: E402
from archiver.models.image.codelength import block_bits  # noqa: E402
from archiver.models.image.model import BlockInputs  # noqa: E402
from cython_ans import Message  # noqa: E402
from needs_data import MAKE_IMAGE, require  # noqa: E402

SUBPIXELS = 3 * arch.BLOCK * arch.BLOCK


def random_blocks(photos: list[np.ndarray], n: int, rng: np.random.Generator) -> BlockInputs:
    """n blocks from random photos and places, each with its full context (top, left and
    top-right known)."""
    crops = []
    for _ in range(n):
        img = photos[rng.integers(len(photos))]
        y = rng.integers(0, img.shape[0] - arch.CROP_H + 1)
        x = rng.integers(0, img.shape[1] - arch.CROP_W + 1)
        crops.append(img[y:y + arch.CROP_H, x:x + arch.CROP_W])
    yes = np.ones(n, bool)
    return BlockInputs.from_crops(np.stack(crops), yes, yes, yes)


def one_block(inp: BlockInputs, k: int) -> BlockInputs:
    sl = slice(k, k + 1)
    return BlockInputs(inp.block[sl], inp.ctx[sl], inp.ctxmask[sl], inp.crop[sl], inp.known[sl])


def run(rt, inp: BlockInputs, scheme: int) -> tuple[np.ndarray, int]:
    """Message bits after each block, and the initial bits drawn."""
    msg = Message(seed=0)
    full = np.full((1, 2), arch.BLOCK)
    bits = []
    for k in range(len(inp.block)):
        image_coder._encode_wavefront(rt, msg, one_block(inp, k), full, 3, scheme)
        bits.append(msg.bit_length())
    return np.array(bits, np.float64), msg.initial_bits_drawn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--val", type=Path, default=REPO / "data/image/pixels/val")
    ap.add_argument("--experiments", type=int, default=20)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    require(args.val, MAKE_IMAGE)
    photos = [np.load(p) for p in sorted(args.val.glob("*.npy"))]
    photos = [p for p in photos if p.ndim == 3 and p.shape[0] * p.shape[1] >= 250_000]
    rt = image_codec.runtime()
    rng = np.random.default_rng(args.seed)
    results = {s: {"net": [], "cma": []} for s in image_coder.SCHEMES}
    elbo = []
    for e in range(args.experiments):
        inp = random_blocks(photos, args.length, rng)
        elbo.append(block_bits(rt, inp, np.random.default_rng(e)).total / (SUBPIXELS * args.length))
        for scheme in image_coder.SCHEMES:
            bits, initial = run(rt, inp, scheme)
            n = np.arange(1, args.length + 1)
            results[scheme]["cma"].append(bits / (n * SUBPIXELS))
            results[scheme]["net"].append((bits[-1] - initial) / (args.length * SUBPIXELS))
        print(f"experiment {e + 1}/{args.experiments} done", file=sys.stderr)
    print(f"{args.experiments} experiments x {args.length} blocks from {len(photos)} validation "
          f"photos; bits per subpixel; model -ELBO {np.mean(elbo):.4f} +- {np.std(elbo):.4f}\n")
    marks = [m for m in (1, 50, 100) if m <= args.length]
    print(f"{'scheme':9s} {'avg net bitrate':>17s} " + " ".join(f"{'CMA n=' + str(m):>15s}"
                                                            for m in marks))
    for scheme, name in image_coder.SCHEMES.items():
        net = np.array(results[scheme]["net"])
        cma = np.array(results[scheme]["cma"])
        cols = " ".join(f"{cma[:, m - 1].mean():7.4f} +-{cma[:, m - 1].std():6.4f}"
                        for m in marks)
        print(f"{name:9s} {net.mean():8.4f} +-{net.std():6.4f} {cols}")


if __name__ == "__main__":
    main()
