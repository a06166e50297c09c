"""Image model vs lossless WebP and JPEG XL on whole held-out photos, side by side in one run.

  .venv/bin/python benchmarks/bench_image.py [--weights weights/image-l4.npz] [--full]

For each validation photo (cropped to whole 32x32 blocks, the same pixels for every coder):
the integer model's code length (-ELBO from the coder's exact frequencies, blocks in raster order
with their decoded neighbours as context, one posterior sample per block), `cwebp -lossless
-z 9` and `cjxl -d 0 -e 9`, in bits per subpixel. Then the throughput of one inference +
generative pass over all networks, batched, against the 0.3 MP/s target: wall time at the
machine's current load, and CPU time of one BLAS thread (the per-core rate; blocks are
independent, so 2 cores give about twice that). Needs Pillow, cwebp (Debian `webp`) and cjxl
(Debian `libjxl-tools`), and the prepared data (python -m archiver.train.image prepare).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from archiver.models.image import arch, weights_io
from archiver.models.weights import sha256_file
from archiver.models.image.codelength import block_bits
from archiver.models.image.model import BlockInputs, ImageRuntime
from needs_data import MAKE_IMAGE, require

TARGET_MPS = 0.3
DEFAULT_IMAGES = ["e-Mountain@2", "e-Red-Maple@2", "l-Fossa_by_Jasper_Roks@2", "k-Autumn@2"]


def image_blocks(img: np.ndarray):
    """(crops (N, 40, 48, 3), top, left, topright (N,)) for all whole blocks in raster order:
    each block with the 8 rows above (and 8 columns right of it in those rows) and 8 columns
    left, decoded before it in raster order."""
    h, w = img.shape[0] // 32 * 32, img.shape[1] // 32 * 32
    c, r = arch.CONTEXT, arch.RIGHT
    pad = np.zeros((h + c, w + c + r, 3), np.uint8)
    pad[c:, c:c + w] = img[:h, :w]
    crops, top, left, topright = [], [], [], []
    nbx = w // 32
    for by in range(h // 32):
        for bx in range(nbx):
            crops.append(pad[by * 32:by * 32 + arch.CROP_H, bx * 32:bx * 32 + arch.CROP_W])
            top.append(by > 0)
            left.append(bx > 0)
            topright.append(by > 0 and bx < nbx - 1)
    return np.stack(crops), np.array(top), np.array(left), np.array(topright)


def model_bits(rt: ImageRuntime, img: np.ndarray, batch: int = 256, seed: int = 0) -> float:
    crops, top, left, topright = image_blocks(img)
    rng = np.random.default_rng(seed)
    total = 0.0
    for s in range(0, len(crops), batch):
        sl = slice(s, s + batch)
        inp = BlockInputs.from_crops(crops[sl], top[sl], left[sl], topright[sl])
        total += block_bits(rt, inp, rng).total
    return total


def external_bits(img: np.ndarray, tmp: Path) -> dict[str, float]:
    from PIL import Image
    png = tmp / "x.png"
    Image.fromarray(img).save(png)
    out = {}
    for name, cmd, ext in (("webp -z9", ["cwebp", "-quiet", "-lossless", "-z", "9"], "webp"),
                           ("jxl -e9", ["cjxl", "-d", "0", "-e", "9", "--quiet"], "jxl")):
        dst = tmp / f"x.{ext}"
        args = cmd + [str(png), "-o", str(dst)] if ext == "webp" else cmd + [str(png), str(dst)]
        subprocess.run(args, check=True, capture_output=True)
        out[name] = dst.stat().st_size * 8.0
    out["png"] = png.stat().st_size * 8.0
    return out


def full_pass(rt: ImageRuntime, inp: BlockInputs, z: np.ndarray) -> None:
    """One inference + generative pass over all networks (q1, q2..qL, p1..p(L-1), trunk, heads
    or the per-pixel network over all pixels at once, as the encoder runs it)."""
    rt.q1(inp)
    for i in range(1, rt.cfg.levels):
        rt.q_next(i, z)
        rt.p_prev(i, z)
    trunk = rt.trunk(inp, z)
    if rt.cfg.decoder == "ar":
        rt.ar_raw(inp, trunk)
        return
    done = []
    for plane in arch.PASS_ORDER:
        rt.head(inp, trunk, done, plane)
        done.append(plane)


def throughput(rt: ImageRuntime, crops, top, left, topright,
               batch: int = 256) -> tuple[float, float]:
    """Blocks per second (wall, and per CPU-second) for one full inference + generative pass."""
    inp = BlockInputs.from_crops(crops[:batch], top[:batch], left[:batch], topright[:batch])
    z = np.full((len(inp.block), rt.cfg.zc, rt.cfg.zs, rt.cfg.zs), arch.LATENT_BINS // 2)

    def one_pass():
        full_pass(rt, inp, z)

    one_pass()
    w0, c0 = time.perf_counter(), time.process_time()
    reps = 3
    for _ in range(reps):
        one_pass()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = reps * len(inp.block)
    return n / wall, n / cpu


def quantisation_cost(rt: ImageRuntime, ckpt: Path, data: Path, per_image: int) -> None:
    """-ELBO of the float model, the fake-quantised torch model and the integer model on the
    same held-out crops (block + full context), bits/subpixel."""
    import torch
    from archiver.train.image_data import load_split
    from archiver.train.image_export import load_checkpoint
    from archiver.train.image_train import evaluate, validation_crops
    torch.set_num_threads(1)
    crops = validation_crops(load_split(data, "val"), per_image)
    model = load_checkpoint(ckpt)
    fl = evaluate(model, crops, quant=False)["elbo"]
    qat = evaluate(model, crops, quant=True)["elbo"]
    ones = np.ones(len(crops), bool)
    bits = 0.0
    rng = np.random.default_rng(0)
    for s in range(0, len(crops), 256):
        bits += block_bits(rt, BlockInputs.from_crops(crops[s:s + 256], ones[s:s + 256],
                                                      ones[s:s + 256]), rng).total
    integer = bits / (len(crops) * 3 * 32 * 32)
    print(f"-ELBO on {len(crops)} held-out crops: float {fl:.4f}, fake-quant {qat:.4f}, "
          f"integer (coder frequencies) {integer:.4f} bits/subpixel "
          f"(integer - float = {integer - fl:+.4f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=Path("weights/image-l4.npz"))
    ap.add_argument("--data", type=Path, default=Path("data/image"))
    ap.add_argument("--images", nargs="*", default=DEFAULT_IMAGES)
    ap.add_argument("--full", action="store_true", help="also the full-size Enlightenment photos")
    ap.add_argument("--ckpt", type=Path, default=None,
                    help="training checkpoint of these weights: also report float vs integer")
    ap.add_argument("--skip-photos", action="store_true")
    args = ap.parse_args()
    if not args.skip_photos or args.ckpt is not None:
        require(args.data, MAKE_IMAGE)
    weights = weights_io.load(args.weights)
    rt = ImageRuntime(weights)
    names = list(args.images) + (["e-Mountain@1", "e-Red-Maple@1"] if args.full else [])
    print(f"weights {args.weights} ({sha256_file(args.weights)[:16]}), "
          f"{arch.macs_per_block(weights.cfg)['total'] / 1e6:.1f}M MACs/block, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.ckpt is not None:
        quantisation_cost(rt, args.ckpt, args.data, per_image=128)
    if args.skip_photos:
        return
    print("| image | pixels | model | webp -z9 | jxl -e9 | png | model/webp | model/jxl |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {"model": 0.0, "webp -z9": 0.0, "jxl -e9": 0.0, "png": 0.0}
    dims_total = 0
    with tempfile.TemporaryDirectory() as td:
        for name in names:
            img = np.load(args.data / "pixels" / "val" / f"{name}.npy")
            img = np.ascontiguousarray(img[:img.shape[0] // 32 * 32, :img.shape[1] // 32 * 32])
            dims = img.size
            res = external_bits(img, Path(td))
            res["model"] = model_bits(rt, img)
            for k in totals:
                totals[k] += res[k]
            dims_total += dims
            b = {k: v / dims for k, v in res.items()}
            print(f"| {name} | {img.shape[1]}x{img.shape[0]} | {b['model']:.3f} | "
                  f"{b['webp -z9']:.3f} | {b['jxl -e9']:.3f} | {b['png']:.3f} | "
                  f"{b['model'] / b['webp -z9']:.3f} | {b['model'] / b['jxl -e9']:.3f} |",
                  flush=True)
    b = {k: v / dims_total for k, v in totals.items()}
    print(f"| **all** | | **{b['model']:.3f}** | {b['webp -z9']:.3f} | {b['jxl -e9']:.3f} | "
          f"{b['png']:.3f} | {b['model'] / b['webp -z9']:.3f} | {b['model'] / b['jxl -e9']:.3f} |")
    img = np.load(args.data / "pixels" / "val" / f"{names[0]}.npy")
    wall, per_cpu = throughput(rt, *image_blocks(img))
    print(f"throughput: {wall * 1024 / 1e6:.3f} MP/s wall at load {os.getloadavg()[0]:.1f} "
          f"({wall / (TARGET_MPS * 1e6 / 1024):.2f}x target); "
          f"{per_cpu * 1024 / 1e6:.3f} MP/s per CPU-second "
          f"(2 cores: ~{2 * per_cpu * 1024 / 1e6:.3f} MP/s, "
          f"{2 * per_cpu / (TARGET_MPS * 1e6 / 1024):.2f}x target)")


if __name__ == "__main__":
    sys.exit(main())
