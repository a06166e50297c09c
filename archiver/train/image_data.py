"""Training photos for the image model, rebuilt from Debian packages by name (see shared DATA.md).

`prepare(root)` downloads the packages with `apt-get download`, unpacks them with `dpkg-deb -x`,
decodes the photos and stores each as uint8 (H, W, 3) .npy under root/pixels/{train,val}/ and
the validation images also as PNG under root/val_png/ (what the benchmarks feed every coder).
Enlightenment backgrounds are clean 4K JPEGs (q~99): kept at full size and 2x area-downsampled.
Lomiri, Plasma and Palapeli photos are 1-1.6 bit/pixel JPEGs: 2x area-downsampled only, so their
block artefacts shrink below a pixel; GCompris photos are lossy WebPs (0.4-0.8 bit/pixel): 4x
down. Tux Paint stamps are photo cut-outs with alpha: the largest fully opaque rectangle of
each. Whole images are held out for validation, never crops.
"""
from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np

PACKAGES = ["enlightenment-data", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
            "plasma-workspace-wallpapers", "palapeli-data", "gcompris-qt-data",
            "tuxpaint-stamps-default"]
E_DIR = "usr/share/enlightenment/data/backgrounds"
E_DRAWINGS = {"Dunes", "Flat-Fan", "Sunset-Hills", "Squiggle", "Squiggle-Dark", "Squiggle-Light",
              "Squiggle-Mid"}
# Held-out whole images (validation and benchmark); never trained on. The Enlightenment, Lomiri
# and Plasma ones are the four the first models were held out on (the committed checkpoints
# trained on every other photo of those packages); from the packages added later, every
# VAL_EVERY-th image in name order.
VALIDATION = {"e-Mountain", "e-Red-Maple", "l-Fossa_by_Jasper_Roks", "k-Autumn"}
VAL_EVERY = {"p": 2, "g": 10, "t": 12}     # palapeli, gcompris, tuxpaint
GCOMPRIS_DIRS = ("erase", "explore_monuments", "explore_world_animals", "explore_farm_animals",
                 "explore_world_music", "categorization")
TUX_MIN = 48          # opaque rectangles smaller than this (either side) are dropped
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


def rcc_files(data: bytes):
    """(path, bytes) of every file in a Qt resource bundle (rcc format 1-3: "qres" header, a
    big-endian tree of 14- or 22-byte nodes, names in UTF-16; payloads stored, zlib (flag 1,
    after a 4-byte size) or zstd (flag 4))."""
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    ver, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node = 22 if ver >= 2 else 14

    def name(off):
        n, = struct.unpack(">H", data[names + off:names + off + 2])
        return data[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        i, path = stack.pop()
        p = tree + i * node
        noff, flags = struct.unpack(">IH", data[p:p + 6])
        here = f"{path}/{name(noff)}" if i else ""
        if flags & 2:
            count, first = struct.unpack(">II", data[p + 6:p + 14])
            stack += [(c, here) for c in range(first, first + count)]
            continue
        off, = struct.unpack(">I", data[p + 10:p + 14])
        size, = struct.unpack(">I", data[payload + off:payload + off + 4])
        blob = data[payload + off + 4:payload + off + 4 + size]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        elif flags & 4:
            import zstandard
            blob = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
        yield here, blob


def decode_image(blob: bytes) -> np.ndarray:
    from PIL import Image
    with Image.open(io.BytesIO(blob)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def opaque_rect(path: Path) -> np.ndarray | None:
    """The largest fully opaque axis-aligned rectangle of an RGBA image (largest rectangle
    under a histogram, row by row), or None if it is smaller than TUX_MIN on a side."""
    from PIL import Image
    with Image.open(path) as im:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
    opaque = rgba[:, :, 3] == 255
    h, w = opaque.shape
    heights = np.zeros(w, np.int64)
    best = (0, 0, 0, 0, 0)                      # area, top, left, height, width
    for y in range(h):
        heights = np.where(opaque[y], heights + 1, 0)
        stack: list[int] = []
        for x in range(w + 1):
            cur = heights[x] if x < w else 0
            while stack and heights[stack[-1]] >= cur:
                hh = heights[stack.pop()]
                left = stack[-1] + 1 if stack else 0
                ww = x - left
                if hh >= TUX_MIN and ww >= TUX_MIN and hh * ww > best[0]:
                    best = (hh * ww, y - hh + 1, left, hh, ww)
            stack.append(x)
    if not best[0]:
        return None
    _, t, l, hh, ww = best
    return np.ascontiguousarray(rgba[t:t + hh, l:l + ww, :3])


def sources(tree: Path):
    """Yield (name, loader, scales, held_out) for every photo; scales lists the downsampling
    factors kept."""
    for edj in sorted((tree / E_DIR).glob("*.edj")):
        if edj.stem not in E_DRAWINGS:
            name = f"e-{edj.stem}"
            yield name, (lambda p=edj: decode_image(jpeg_in_eet(p))), (1, 2), name in VALIDATION
    for jpg in sorted((tree / "usr/share/backgrounds").glob("*_by_*.jpg")):
        if jpg.stem not in LOMIRI_SKIP:
            name = f"l-{jpg.stem}"
            yield name, (lambda p=jpg: decode_image(p.read_bytes())), (2,), name in VALIDATION
    for d in sorted((tree / "usr/share/wallpapers").iterdir()):
        imgs = sorted((d / "contents/images").glob("*.jpg"), key=lambda p: p.stat().st_size)
        if imgs and d.name in PLASMA_PHOTOS:
            name = f"k-{d.name}"
            yield name, (lambda p=imgs[-1]: decode_image(p.read_bytes())), (2,), name in VALIDATION
    for i, jpg in enumerate(sorted((tree / "usr/share/palapeli/collection").glob("*.jpg"))):
        yield (f"p-{jpg.stem}", (lambda p=jpg: decode_image(p.read_bytes())), (2,),
               i % VAL_EVERY["p"] == 1)
    webps = {}
    for d in GCOMPRIS_DIRS:
        rcc = tree / f"usr/share/gcompris-qt/rcc/{d}.rcc"
        for path, blob in rcc_files(rcc.read_bytes()):
            if path.endswith(".webp") and "/resource/" in path:
                webps.setdefault(f"g-{d}-{Path(path).stem}", blob)
    for i, (name, blob) in enumerate(sorted(webps.items())):
        yield name, (lambda b=blob: decode_image(b)), (4,), i % VAL_EVERY["g"] == 5
    stamps = sorted(p for p in (tree / "usr/share/tuxpaint/stamps").rglob("*.png")
                    if "cartoon" not in p.parts)        # drawings, not photos
    for i, png in enumerate(stamps):
        name = "t-" + "-".join(png.relative_to(tree / "usr/share/tuxpaint/stamps").with_suffix("").parts)
        yield name, (lambda p=png: opaque_rect(p)), (1,), i % VAL_EVERY["t"] == 6


def prepare(root: Path, log=print) -> None:
    tree = fetch_packages(root)
    from PIL import Image
    for split in ("train", "val"):
        (root / "pixels" / split).mkdir(parents=True, exist_ok=True)
    (root / "val_png").mkdir(parents=True, exist_ok=True)
    skipped = root / "pixels" / "skipped.txt"      # stamps without an opaque rectangle
    skip = set(skipped.read_text().split()) if skipped.exists() else set()
    for name, load, scales, held_out in sources(tree):
        split = "val" if held_out else "train"
        outs = [root / "pixels" / split / f"{name}@{s}.npy" for s in scales]
        if all(o.exists() for o in outs) or name in skip:
            continue
        img = load()
        if img is None:
            skip.add(name)
            skipped.write_text("\n".join(sorted(skip)) + "\n")
            continue
        for s, out in zip(scales, outs):
            x = img
            for _ in range(s.bit_length() - 1):
                x = area_down2(x)
            x = np.ascontiguousarray(x)
            if min(x.shape[:2]) < TUX_MIN:            # smaller than a training crop
                continue
            np.save(out, x)
            if held_out:
                Image.fromarray(x).save(root / "val_png" / f"{name}@{s}.png")
            log(f"{split:5s} {out.name:50s} {x.shape[1]}x{x.shape[0]}")


def load_split(root: Path, split: str) -> list[tuple[str, np.ndarray]]:
    files = sorted((root / "pixels" / split).glob("*.npy"))
    if not files:
        raise FileNotFoundError(f"no prepared pixels in {root / 'pixels' / split}; "
                                "run `python -m archiver.train.image prepare` first")
    return [(f.stem, np.load(f, mmap_mode="r")) for f in files]
