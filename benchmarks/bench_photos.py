"""Photos as PNG files archived by `bbx create` (through the CLI) against optipng, WebP and
JPEG XL lossless on the same pixels, in one run: bits per subpixel, MP/s to create and to
extract, and the image model's code length beside the archive's size.

  PYTHONPATH=. .venv/bin/python benchmarks/bench_photos.py --val data/image/pixels/val

The photos are held-out pixels (archiver/train/image_data.py's validation split, never trained
on): whole validation images area-downsampled, and crops of several sizes (odd ones too) of
the full-resolution ones. Each is written as a PNG by Pillow (zlib level 6, the default).
Baselines (apt: optipng, webp, libjxl-tools): `optipng -o2`, `cwebp -lossless -z 9`,
`cjxl -d 0 -e 7`, `cjxl -d 0 -e 9`; their decoders (`dwebp`, `djxl`, to PPM/PAM) give the
extract speed. MP/s is 10^6 pixels per wall second, everything run one after another on the
same (shared) machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archiver.train.image_data import area_down2  # noqa: E402
from needs_data import MAKE_IMAGE, require  # noqa: E402

# (name, source .npy stem, 2^k area downsampling, crop (y, x, h, w) or None for the whole)
PHOTOS = [
    ("mountain-4", "e-Mountain@2", 1, None),
    ("maple-4", "e-Red-Maple@2", 1, None),
    ("fossa-4", "l-Fossa_by_Jasper_Roks@2", 1, None),
    ("autumn-4", "k-Autumn@2", 1, None),
    ("mountain-a", "e-Mountain@1", 0, (700, 1500, 600, 800)),
    ("mountain-b", "e-Mountain@1", 0, (1300, 300, 513, 511)),
    ("mountain-c", "e-Mountain@1", 0, (100, 2600, 769, 1023)),
    ("maple-a", "e-Red-Maple@1", 0, (900, 1700, 480, 640)),
    ("maple-b", "e-Red-Maple@1", 0, (200, 300, 701, 999)),
    ("fossa-a", "l-Fossa_by_Jasper_Roks@2", 0, (0, 0, 531, 707)),
    ("autumn-a", "k-Autumn@2", 0, (300, 400, 600, 600)),
    ("maple-grey", "e-Red-Maple@2", 0, (100, 900, 500, 700)),
]


def build_photos(val: Path, out: Path) -> dict[str, tuple[int, int, int]]:
    """Write the photos as PNG into out; returns {file name: (h, w, planes)}."""
    from PIL import Image
    out.mkdir(parents=True, exist_ok=True)
    shapes = {}
    for name, stem, down, crop in PHOTOS:
        img = np.load(val / f"{stem}.npy")
        for _ in range(down):
            img = area_down2(img)
        if crop is not None:
            y, x, h, w = crop
            img = img[y:y + h, x:x + w]
        if name.endswith("grey"):       # a grey photo: luma, as a one-plane PNG
            img = ((img.astype(np.int64) @ np.array([299, 587, 114]) + 500) // 1000)
            img = img.astype(np.uint8)
        img = np.ascontiguousarray(img)
        Image.fromarray(img).save(out / f"{name}.png")
        shapes[f"{name}.png"] = (img.shape[0], img.shape[1], 1 if img.ndim == 2 else 3)
    return shapes


class Clock:
    """Wall seconds and CPU seconds (user + system of the child processes) of commands: on a
    shared machine the CPU time is the fairer measure, the wall time what a user waits."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def run(self, cmd: list[str], **kw) -> None:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, **kw)
        self.wall += time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu += r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime


BASELINES = ("optipng -o2", "cwebp -z9", "cjxl -e7", "cjxl -e9")


def run_baseline(name: str, photos: Path, work: Path) -> tuple[int, Clock, Clock | None]:
    """(total bytes, encode clock, decode clock) of one baseline over all photos."""
    d = work / name.replace(" ", "_")
    d.mkdir(exist_ok=True)
    size, enc, dec = 0, Clock(), Clock()
    for png in sorted(photos.glob("*.png")):
        if name == "optipng -o2":
            dst = d / png.name
            shutil.copy(png, dst)
            enc.run(["optipng", "-quiet", "-o2", str(dst)])
            dec = None
        elif name == "cwebp -z9":
            dst = d / (png.stem + ".webp")
            enc.run(["cwebp", "-quiet", "-lossless", "-z", "9", str(png), "-o", str(dst)])
            dec.run(["dwebp", "-quiet", "-pam", str(dst), "-o", str(d / "x.pam")])
        else:
            effort = name.split("-e")[-1]
            dst = d / (png.stem + ".jxl")
            enc.run(["cjxl", "--quiet", "-d", "0", "-e", effort, str(png), str(dst)])
            dec.run(["djxl", "--quiet", str(dst), str(d / "x.ppm")])
        size += dst.stat().st_size
    return size, enc, dec


def model_bits(photos: Path) -> dict[str, float]:
    """The model's code length of every photo's pixels (image_coder.code_length)."""
    from PIL import Image
    from archiver.codecs import image as image_codec
    from archiver.models.image import image_coder
    rt = image_codec.runtime()
    out = {}
    for png in sorted(photos.glob("*.png")):
        px = np.asarray(Image.open(png))
        planes = px[None] if px.ndim == 2 else px.transpose(2, 0, 1)
        out[png.name] = image_coder.code_length(rt, np.ascontiguousarray(planes),
                                                np.random.default_rng(0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--val", type=Path, default=REPO / "data/image/pixels/val",
                    help="prepared validation pixels (python -m archiver.train.image prepare)")
    ap.add_argument("--keep", type=Path, help="keep the photos and outputs here")
    ap.add_argument("--baselines", default=",".join(BASELINES),
                    help=f"comma-separated subset of {', '.join(BASELINES)} (cjxl -e9 alone "
                         "takes ~10x bbx's time)")
    args = ap.parse_args()
    require(args.val, MAKE_IMAGE)
    sys.stdout.reconfigure(line_buffering=True)
    work = Path(tempfile.mkdtemp(prefix="bench_photos_")) if args.keep is None else args.keep
    photos = work / "photos"
    shapes = build_photos(args.val, photos)
    pixels = sum(h * w for h, w, _ in shapes.values())
    subpixels = sum(h * w * c for h, w, c in shapes.values())
    png_bytes = sum((photos / n).stat().st_size for n in shapes)
    print(f"{len(shapes)} photos, {pixels / 1e6:.2f} MP, {subpixels} subpixels, "
          f"sizes {sorted(f'{w}x{h}' for h, w, _ in shapes.values())}")

    env = dict(os.environ, PYTHONPATH=str(REPO))
    bbx = [sys.executable, "-m", "archiver"]
    archive = work / "photos.bbx"
    enc, dec = Clock(), Clock()
    enc.run(bbx + ["create", "-q", "-f", "-o", str(archive), str(photos)], env=env, cwd=work)
    dec.run(bbx + ["extract", "-q", "-f", "-C", str(work / "out"), str(archive)], env=env,
            cwd=work)
    for n in shapes:
        if (work / "out" / "photos" / n).read_bytes() != (photos / n).read_bytes():
            raise SystemExit(f"extract gave back {n} changed")
    listed = subprocess.run(bbx + ["list", "--json", str(archive)], env=env, check=True,
                            capture_output=True, text=True).stdout
    listing = json.loads(listed)["entries"]
    codecs = sorted({r["codec"] for r in listing if r["type"] == "file"})
    rows = [("bbx create", archive.stat().st_size, enc, dec)]
    chosen = [b.strip() for b in args.baselines.split(",") if b.strip()]
    if any(b not in BASELINES for b in chosen):
        raise SystemExit(f"--baselines: choose from {', '.join(BASELINES)}")
    for name in chosen:
        rows.append((name, *run_baseline(name, photos, work)))

    # sizes relative to WebP when it ran, else to the PNG files
    webp = next((r[1] for r in rows if r[0] == "cwebp -z9"), png_bytes)
    mp = pixels / 1e6
    rel = "vs webp" if webp != png_bytes else "vs PNG"
    print(f"\n{'coder':14s} {'bits/subpx':>10s} {rel:>8s} {'create MP/s':>12s} "
          f"{'(per CPU s)':>11s} {'extract MP/s':>13s} {'(per CPU s)':>11s}")
    print(f"{'PNG (Pillow)':14s} {8 * png_bytes / subpixels:10.4f} {png_bytes / webp:8.3f}")
    for name, size, e, d in rows:
        ds = f"{mp / d.wall:13.3f} {mp / d.cpu:11.3f}" if d else f"{'-':>13s} {'-':>11s}"
        print(f"{name:14s} {8 * size / subpixels:10.4f} {size / webp:8.3f} "
              f"{mp / e.wall:12.3f} {mp / e.cpu:11.3f} {ds}")
    print(f"bbx codecs used: {', '.join(codecs)}")
    jxl = next((r for r in rows if r[0] == "cjxl -e7"), None)
    if jxl is not None:     # the speed target: create and extract at least as fast as cjxl -e7
        print(f"bbx / cjxl -e7 per CPU second: create {jxl[2].cpu / enc.cpu:.3f}, extract "
              f"(against cjxl -e7's encoder) {jxl[2].cpu / dec.cpu:.3f}")

    bits = model_bits(photos)
    total = sum(bits.values())
    print(f"\nmodel code length {total / subpixels:.4f} bits/subpx; archive "
          f"{8 * archive.stat().st_size / subpixels:.4f}: archive / model = "
          f"{8 * archive.stat().st_size / total:.4f} (initial bits, side bytes, container)")
    per_file = {r["path"].split("/")[-1]: r for r in listing if r["type"] == "file"}
    for n in sorted(shapes):
        h, w, c = shapes[n]
        r = per_file[n]
        print(f"  {n:18s} {w:5d}x{h:<5d} {r['codec']:6s} model "
              f"{bits[n] / (h * w * c):.4f}  payload {8 * r['compressed'] / (h * w * c):.4f} "
              f"bits/subpx  ratio {8 * r['compressed'] / bits[n]:.4f}")
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
