"""Image model vs JPEG XL, WebP and PNG on the broad validation set: every held-out whole image
of every photo source (`python -m archiver.train.image prepare` writes them to
data/image/val_png/), per image and in total, side by side in one run.

  .venv/bin/python benchmarks/bench_image_val.py [--weights weights/image-l4.npz] [--weights B.npz]
      [--val data/image/val_png] [--only PREFIX ...] [--speed]

Every coder gets the same pixels: each image cropped to whole 32x32 blocks. The model's size is
its exact code length (-ELBO from the coder's integer frequencies, blocks in raster order with
their decoded neighbours as context, one posterior sample per block: what bits-back coding
achieves up to the message's one-off initial bits), with B coded on the JPEG colour lattice
where every pixel is on it, as the codec does (lattice.py; such images are marked `L`). Baselines: `cjxl -d 0 -e 7`, `cjxl -d 0
-e 9`, `cwebp -lossless -z 9`, `optipng -o2` (Debian libjxl-tools, webp, optipng). Their sizes
depend only on the pixels and the tool, so they are kept in a cache file beside the PNGs
(keyed by the pixels' SHA-256 and the tool's version; --fresh recomputes them).
With --speed: wall-clock MP/s of the model's real whole-image encode and decode of the first
image's top block rows, beside cjxl -e 7 on the same pixels.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from archiver.models.image import image_coder, lattice, weights_io
from archiver.models.image.model import ImageRuntime
from archiver.models.weights import sha256_file


CODERS = {   # name: (command before input/output, output extension, version command)
    "jxl -e7": (["cjxl", "-d", "0", "-e", "7", "--quiet"], "jxl", ["cjxl", "--version"]),
    "jxl -e9": (["cjxl", "-d", "0", "-e", "9", "--quiet"], "jxl", ["cjxl", "--version"]),
    "webp -z9": (["cwebp", "-quiet", "-lossless", "-z", "9"], "webp", ["cwebp", "-version"]),
    "optipng": (["optipng", "-quiet", "-o2"], "png", ["optipng", "-v"]),
}


def load_png(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        img = np.asarray(im.convert("RGB"), np.uint8)
    return np.ascontiguousarray(img[:img.shape[0] // 32 * 32, :img.shape[1] // 32 * 32])


def coder_bits(name: str, png: Path, tmp: Path) -> float:
    cmd, ext, _ = CODERS[name]
    dst = tmp / f"out.{ext}"
    if dst.exists():
        dst.unlink()
    if name == "optipng":
        args = cmd + ["-out", str(dst), str(png)]
    elif ext == "webp":
        args = cmd + [str(png), "-o", str(dst)]
    else:
        args = cmd + [str(png), str(dst)]
    subprocess.run(args, check=True, capture_output=True)
    return dst.stat().st_size * 8.0


def tool_versions() -> dict[str, str]:
    out = {}
    for name, (_, _, vcmd) in CODERS.items():
        r = subprocess.run(vcmd, capture_output=True, text=True)
        out[name] = (r.stdout + r.stderr).strip().splitlines()[0]
    return out


def baselines(img: np.ndarray, tmp: Path, cache: dict, versions: dict) -> dict[str, float]:
    from PIL import Image
    png = tmp / "in.png"
    Image.fromarray(img).save(png)
    key = hashlib.sha256(img.tobytes() + str(img.shape).encode()).hexdigest()
    out = {}
    for name in CODERS:
        k = f"{key}:{versions[name]}:{' '.join(CODERS[name][0])}"
        if k not in cache:
            cache[k] = coder_bits(name, png, tmp)
        out[name] = cache[k]
    return out


def speed(rt: ImageRuntime, img: np.ndarray, tmp: Path, max_blocks: int) -> None:
    """Real whole-image encode and decode (image_coder, as the codec runs it: wavefronts of
    blocks, the colour lattice when every pixel is on it) of the image's first block rows,
    about max_blocks blocks, timed beside cjxl -e 7 on the same pixels."""
    from PIL import Image
    from cython_ans import Message
    rows = max(1, -(-max_blocks // (img.shape[1] // 32)))
    sub = np.ascontiguousarray(img[:rows * 32])
    planes = np.ascontiguousarray(sub.transpose(2, 0, 1))
    on = lattice.on_lattice(sub)
    msg = Message(seed=1)
    t0 = time.perf_counter()
    image_coder.encode_image(rt, msg, planes, lattice=on)
    t_enc = time.perf_counter() - t0
    back = Message.from_bytes(msg.to_bytes(), seed=1)
    t0 = time.perf_counter()
    out = image_coder.decode_image(rt, back, 3, sub.shape[0], sub.shape[1], lattice=on)
    t_dec = time.perf_counter() - t0
    if not np.array_equal(out, planes):
        raise SystemExit("speed check: decoded pixels differ from the input")
    mp = sub.shape[0] * sub.shape[1] / 1e6
    png = tmp / "speed.png"
    Image.fromarray(sub).save(png)
    t0 = time.perf_counter()
    coder_bits("jxl -e7", png, tmp)
    t_jxl = time.perf_counter() - t0
    print(f"speed on {sub.shape[1]}x{sub.shape[0]} ({mp:.2f} MP{', lattice' if on else ''}, "
          f"load {os.getloadavg()[0]:.1f}): model encode {mp / t_enc:.3f} MP/s, decode "
          f"{mp / t_dec:.3f} MP/s (one thread, whole-image codec, round trip exact); "
          f"cjxl -e 7 {mp / t_jxl:.3f} MP/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, action="append", default=None,
                    help="weights to measure (repeat to compare several)")
    ap.add_argument("--val", type=Path, default=Path("data/image/val_png"))
    ap.add_argument("--only", nargs="*", default=None, help="image name prefixes")
    ap.add_argument("--skip", nargs="*", default=None, help="image name suffixes to leave out "
                    "(e.g. @1: the full-size 4K photos, slow for cjxl -e 9)")
    ap.add_argument("--fresh", action="store_true", help="recompute the baselines")
    ap.add_argument("--exclude", nargs="*", default=(),
                    help="image names shown but left out of the totals (e.g. images a setting "
                         "was chosen on)")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--speed-blocks", type=int, default=256)
    ap.add_argument("--speed-only", action="store_true", help="only the speed measurement")
    args = ap.parse_args()
    paths = sorted(args.val.glob("*.png"))
    if args.only:
        paths = [p for p in paths if any(p.stem.startswith(o) for o in args.only)]
    if args.skip:
        paths = [p for p in paths if not any(p.stem.endswith(o) for o in args.skip)]
    if not paths:
        raise SystemExit(f"no validation PNGs in {args.val}: run `python -m archiver.train.image "
                         "prepare` first")
    wpaths = args.weights or [Path("weights/image-l4.npz")]
    rts = [ImageRuntime(weights_io.load(p)) for p in wpaths]
    for p in wpaths:
        print(f"model {p.name}: {sha256_file(p)[:16]}")
    if args.speed_only:
        with tempfile.TemporaryDirectory() as td:
            for p, rt in zip(wpaths, rts):
                print(f"{p.name}: ", end="")
                speed(rt, load_png(paths[0]), Path(td), args.speed_blocks)
        return
    cache_file = args.val / "baselines.json"
    cache = {} if args.fresh or not cache_file.exists() else json.loads(cache_file.read_text())
    versions = tool_versions()
    print(f"{len(paths)} images from {args.val}; load average {os.getloadavg()[0]:.1f}")
    models = [p.stem for p in wpaths]
    cols = models + list(CODERS)
    print("| image | pixels | " + " | ".join(cols) + " | " +
          " | ".join(f"{m}/jxl -e9" for m in models) + " |")
    print("|---" * (2 + len(cols) + len(models)) + "|")
    totals: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as td:
        for path in paths:
            img = load_png(path)
            if cache_file.exists() and not args.fresh:   # another run may have added entries
                cache = {**json.loads(cache_file.read_text()), **cache}
            res = baselines(img, Path(td), cache, versions)
            if cache_file.exists():     # merge: another run may have added entries
                cache = {**json.loads(cache_file.read_text()), **cache}
            cache_file.write_text(json.dumps(cache, indent=0))
            on = lattice.on_lattice(img)
            for m, rt in zip(models, rts):
                res[m] = image_coder.code_length(rt, img.transpose(2, 0, 1),
                                                 np.random.default_rng(0), lattice=on)
            res["dims"] = float(img.size)
            groups = ("all", path.stem.split("-", 1)[0])
            if path.stem in args.exclude:
                groups = ("excluded",)
            for group in groups:
                t = totals.setdefault(group, {})
                for k, v in res.items():
                    t[k] = t.get(k, 0.0) + v
            bpp = {k: res[k] / res["dims"] for k in cols}
            print(f"| {path.stem}{' L' if on else ''} | {img.shape[1]}x{img.shape[0]} | "
                  + " | ".join(f"{bpp[k]:.3f}" for k in cols) + " | "
                  + " | ".join(f"{res[m] / res['jxl -e9']:.3f}" for m in models) + " |",
                  flush=True)
    print("\ntotals (bits per subpixel; ratio = total model bits / total cjxl -e9 bits):")
    print("| images | subpixels | " + " | ".join(cols) + " | " +
          " | ".join(f"{m}/jxl -e9" for m in models) + " | " +
          " | ".join(f"{m}/jxl -e7" for m in models) + " |")
    print("|---" * (2 + len(cols) + 2 * len(models)) + "|")
    for group in ["all"] + sorted(k for k in totals if k != "all"):
        if group not in totals:
            continue
        t = totals[group]
        print(f"| {group} | {int(t['dims'])} | "
              + " | ".join(f"{t[k] / t['dims']:.3f}" for k in cols) + " | "
              + " | ".join(f"{t[m] / t['jxl -e9']:.3f}" for m in models) + " | "
              + " | ".join(f"{t[m] / t['jxl -e7']:.3f}" for m in models) + " |")
    if args.speed:
        with tempfile.TemporaryDirectory() as td:
            for p, rt in zip(wpaths, rts):
                print(f"{p.name}: ", end="")
                speed(rt, load_png(paths[0]), Path(td), args.speed_blocks)


if __name__ == "__main__":
    sys.exit(main())
