"""Training photos for the image model, rebuilt from Debian packages by name (see shared DATA.md).

`prepare(root)` downloads the packages with `apt-get download`, unpacks them with `dpkg-deb -x`,
decodes the photos and stores each as uint8 (H, W, 3) .npy under root/pixels/{train,val}/.
Enlightenment backgrounds are clean 4K JPEGs (q~99): kept at full size and 2x area-downsampled.
Lomiri and Plasma wallpapers are ~1 bit/pixel JPEGs: 2x area-downsampled only, so their block
artefacts shrink below a pixel. Whole images are held out for validation, never crops.
"""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np

PACKAGES = ["enlightenment-data", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
            "plasma-workspace-wallpapers"]
E_DIR = "usr/share/enlightenment/data/backgrounds"
E_DRAWINGS = {"Dunes", "Flat-Fan", "Sunset-Hills", "Squiggle", "Squiggle-Dark", "Squiggle-Light",
              "Squiggle-Mid"}
# Held-out whole images (validation and benchmark); never trained on.
VALIDATION = {"e-Mountain", "e-Red-Maple", "l-Fossa_by_Jasper_Roks", "k-Autumn"}
LOMIRI_SKIP = {"umang_by_Abhishek_Mudgal"}            # a synthetic gradient
PLASMA_PHOTOS = {"Autumn", "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                 "FallenLeaf", "OneStandsOut", "Path"}   # the rest are drawings or renders


def area_down2(img: np.ndarray) -> np.ndarray:
    """2x2 box average with round-half-up, on even-cropped uint8 pixels."""
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    x = img[:h, :w].astype(np.uint16)
    s = x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def jpeg_in_eet(path: Path) -> bytes:
    """The largest JPEG stored uncompressed inside an Eet container (found by its SOI marker)."""
    data = path.read_bytes()
    best = b""
    start = data.find(b"\xff\xd8\xff")
    while start >= 0:
        end = data.find(b"\xff\xd9", start)
        # a JPEG's EOI may be followed by more JPEG-looking data; take the longest decodable span
        nxt = data.find(b"\xff\xd8\xff", start + 3)
        stop = nxt if nxt >= 0 else len(data)
        if end >= 0 and stop - start > len(best):
            best = data[start:stop]
        start = nxt
    return best


def decode_jpeg(blob: bytes) -> np.ndarray:
    from PIL import Image
    with Image.open(io.BytesIO(blob)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def fetch_packages(root: Path) -> Path:
    debs, tree = root / "debs", root / "extract"
    debs.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        if not list(debs.glob(f"{name}_*.deb")):
            subprocess.run(["apt-get", "download", name], cwd=debs, check=True)
    marker = tree / ".done"
    if not marker.exists():
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        marker.touch()
    return tree


def sources(tree: Path):
    """Yield (name, loader, scales) for every photo; scales lists the downsampling factors kept."""
    for edj in sorted((tree / E_DIR).glob("*.edj")):
        if edj.stem not in E_DRAWINGS:
            yield f"e-{edj.stem}", (lambda p=edj: decode_jpeg(jpeg_in_eet(p))), (1, 2)
    for jpg in sorted((tree / "usr/share/backgrounds").glob("*_by_*.jpg")):
        if jpg.stem not in LOMIRI_SKIP:
            yield f"l-{jpg.stem}", (lambda p=jpg: decode_jpeg(p.read_bytes())), (2,)
    for d in sorted((tree / "usr/share/wallpapers").iterdir()):
        imgs = sorted((d / "contents/images").glob("*.jpg"), key=lambda p: p.stat().st_size)
        if imgs and d.name in PLASMA_PHOTOS:
            yield f"k-{d.name}", (lambda p=imgs[-1]: decode_jpeg(p.read_bytes())), (2,)


def prepare(root: Path, log=print) -> None:
    tree = fetch_packages(root)
    for split in ("train", "val"):
        (root / "pixels" / split).mkdir(parents=True, exist_ok=True)
    for name, load, scales in sources(tree):
        split = "val" if name in VALIDATION else "train"
        outs = [root / "pixels" / split / f"{name}@{s}.npy" for s in scales]
        if all(o.exists() for o in outs):
            continue
        img = load()
        for s, out in zip(scales, outs):
            x = img
            for _ in range(s.bit_length() - 1):
                x = area_down2(x)
            np.save(out, np.ascontiguousarray(x))
            log(f"{split:5s} {out.name:50s} {x.shape[1]}x{x.shape[0]}")


def load_split(root: Path, split: str) -> list[tuple[str, np.ndarray]]:
    files = sorted((root / "pixels" / split).glob("*.npy"))
    if not files:
        raise FileNotFoundError(f"no prepared pixels in {root / 'pixels' / split}; "
                                "run `python -m archiver.train.image prepare` first")
    return [(f.stem, np.load(f, mmap_mode="r")) for f in files]
