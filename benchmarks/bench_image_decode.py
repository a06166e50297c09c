"""Decode speed of the ar image model: the pixel loop in numpy vs the C kernel, and the whole
Bit-Swap decode of a batch (latents + trunk + pixels + q1) against the 0.3 MP/s target.

  .venv/bin/python benchmarks/bench_image_decode.py [--batches 16 64 256] [--rounds 2]
      [--weights weights/image-l4.npz] [--photo data/image/pixels/val/e-Mountain@2.npy]

Without --weights the realistic configuration Config(decoder="ar", trunk=24) runs on random
integer weights (tests/test_image_runtime.random_weights): the same work per pixel as trained
weights, though the pops' search lengths differ a little. Blocks are the first whole blocks of
the photo (synthetic smooth blocks if it is missing). Each variant decodes the same message
and must give back the pixels; rounds alternate the variants so machine load hits all alike.
Prints the best round's wall time as MP/s (10^6 pixels) and that round's CPU time (all
threads) as MP per CPU-second: on a shared machine the second is the steadier measure.
The whole decode runs as 1 worker and as 2 workers (Python threads, each decoding its own
batch on its own message, as two chunks of an archive), with one BLAS thread per worker.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread per worker
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archiver.models.image import _ar, arch, bitswap, weights_io  # noqa: E402
from archiver.models.image.model import BlockInputs, ImageRuntime  # noqa: E402
from cython_ans import Message  # noqa: E402
from needs_data import MAKE_IMAGE, require  # noqa: E402

TARGET_MPS = 0.3
PIXELS = arch.BLOCK * arch.BLOCK


def photo_crops(path: Path, n: int, seed: int = 0) -> np.ndarray:
    """n interior crops (n, 40, 48, 3) of the photo in raster order; synthetic if absent."""
    if path.exists():
        img = np.load(path)
        nbx = (img.shape[1] - arch.CONTEXT - arch.RIGHT) // arch.BLOCK
        nby = (img.shape[0] - arch.CONTEXT) // arch.BLOCK
        idx = [(by, bx) for by in range(nby) for bx in range(nbx)]
        if len(idx) >= n:
            return np.stack([img[by * 32:by * 32 + arch.CROP_H, bx * 32:bx * 32 + arch.CROP_W]
                             for by, bx in idx[:n]])
        print(f"{path}: only {len(idx)} blocks, using synthetic blocks")
    else:
        print(f"{path} not found, using synthetic blocks")
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, 1, 1, 3))
    crops = np.clip(base + rng.integers(-20, 21, size=(n, arch.CROP_H, arch.CROP_W, 3)), 0, 255)
    return crops.astype(np.uint8)


def with_context(crops: np.ndarray) -> BlockInputs:
    ones = np.ones(len(crops), bool)
    return BlockInputs.from_crops(crops, ones, ones, ones)


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def pixel_variants(rt: ImageRuntime, inp: BlockInputs, z: np.ndarray, use_numpy: bool):
    """(name, run) pairs; each run decodes the pixels of `inp` from a fresh message and checks
    them."""
    trunk = rt.trunk(inp, z)
    msg = Message(seed=1)
    bitswap._encode_pixels(rt, msg, inp, trunk)
    data = msg.to_bytes()
    kernel = _ar.ArKernel(rt.w)

    def check(hidden):
        if not np.array_equal(hidden.crop, inp.crop):
            raise SystemExit("decoded pixels differ from the encoded ones")

    def numpy_loop():
        hidden, m = inp.context_only(), Message.from_bytes(data, seed=1)
        bitswap.AR_KERNEL = False
        try:
            t = timed(lambda: bitswap._decode_pixels(rt, m, hidden, trunk))
        finally:
            bitswap.AR_KERNEL = True
        check(hidden)
        return t

    def c_kernel(threads):
        def run():
            hidden, m = inp.context_only(), Message.from_bytes(data, seed=1)
            t = timed(lambda: kernel.decode(m, hidden.crop, hidden.known, trunk.feats, threads))
            check(hidden)
            return t
        return run

    out = [("numpy loop", numpy_loop)] if use_numpy else []
    return out + [("C kernel, 1 thread", c_kernel(1)), ("C kernel, 2 threads", c_kernel(2))]


def whole_decode(rt: ImageRuntime, batches: list[BlockInputs], pool: ThreadPoolExecutor):
    """Run of bitswap.decode (kernel pixels) on each encoded batch, one worker thread per
    batch, all at once; checks the pixels."""
    encoded = []
    for inp in batches:
        msg = Message(seed=2)
        bitswap.encode(rt, msg, inp)
        encoded.append((inp, msg.to_bytes()))

    def one(job):
        inp, data = job
        m = Message.from_bytes(data, seed=2)
        got = bitswap.decode(rt, m, inp.context_only())
        if not np.array_equal(got.crop, inp.crop) or not m.is_initial():
            raise SystemExit("whole decode did not give the blocks back")

    return lambda: timed(lambda: list(pool.map(one, encoded)))


def report(name: str, blocks: int, runs: list[tuple[float, float]], base: float | None) -> float:
    wall, cpu = min(runs)
    mp = blocks * PIXELS / 1e6
    ratio = f"  x{base / wall:6.1f} vs numpy" if base else ""
    print(f"  {name:22s} {wall:8.3f} s  {mp / wall:7.3f} MP/s  CPU {cpu:8.3f} s "
          f"{mp / cpu:7.3f} MP/CPU-s{ratio}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, help="ar image weights (.npz); default: random")
    ap.add_argument("--photo", type=Path, default=ROOT / "data/image/pixels/val/e-Mountain@2.npy")
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--numpy-max", type=int, default=256,
                    help="skip the (slow) numpy loop above this batch")
    args = ap.parse_args()
    require(args.photo, MAKE_IMAGE)
    if args.weights:
        weights = weights_io.load(args.weights)
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from test_image_runtime import random_weights
        weights = random_weights(arch.Config(decoder="ar", trunk=24), seed=4)
    rt = ImageRuntime(weights)
    cfg = rt.cfg
    print(f"config {cfg.to_dict()}\nAVX2 path: {_ar.HAVE_SIMD}; target {TARGET_MPS} MP/s")
    rng = np.random.default_rng(0)
    pool = ThreadPoolExecutor(2)
    for b in args.batches:
        crops = photo_crops(args.photo, 2 * b)
        inp, second = with_context(crops[:b]), with_context(crops[b:])
        z = rng.integers(0, arch.LATENT_BINS, size=(b, cfg.zc, cfg.zs, cfg.zs))
        variants = [(name, b, run) for name, run in pixel_variants(rt, inp, z,
                                                                   b <= args.numpy_max)]
        variants += [("whole decode, 1 worker", b, whole_decode(rt, [inp], pool)),
                     ("whole decode, 2 workers", 2 * b, whole_decode(rt, [inp, second], pool))]
        runs = {name: [] for name, _, _ in variants}
        for _ in range(args.rounds):
            for name, _, run in variants:
                runs[name].append(run())
        print(f"batch {b} ({b * PIXELS / 1e6:.3f} MP): pixel decode")
        base = None
        for name, blocks, _ in variants:
            if name == "whole decode, 1 worker":
                print("  --- whole decode (latents + trunk + pixels + q1), C pixel kernel")
            wall = report(name, blocks, runs[name], base if name.startswith("C") else None)
            if name == "numpy loop":
                base = wall
            if name.startswith("whole"):
                print(f"    = {blocks * PIXELS / 1e6 / wall / TARGET_MPS:.2f}x the "
                      f"{TARGET_MPS} MP/s target")


if __name__ == "__main__":
    main()
