"""JPEG files made on the spot with Pillow, for the JPEG codec's tests and its robustness
benchmark: the kinds cameras and editors write (baseline, progressive, grayscale, CMYK,
restart markers, EXIF/ICC/XMP, odd sizes) and damaged ones (cut at every marker, bytes after
EOI, garbage)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def photo(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A photo-like picture: smooth shapes plus a little sensor noise (pure noise or flat
    colour would be nothing like a camera's JPEG)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for c in range(3):
        fx, fy, ph = rng.uniform(0.5, 4.0, 3)
        base = 128 + 60 * np.sin(x / max(width, 1) * fx * 6.28 + ph) * np.cos(y / max(height, 1) * fy * 6.28)
        planes.append(base + rng.normal(0, 6, (height, width)))
    rgb = np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").convert(mode)


def save(img: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", **options)
    return out.getvalue()


def exif_block() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "bbx test camera"      # Make
    exif[0x0110] = "Model 1"              # Model
    exif[0x0132] = "2026:01:02 03:04:05"  # DateTime
    return exif.tobytes()


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>')


def icc_profile() -> bytes:
    from PIL import ImageCms
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def valid_samples() -> dict[str, bytes]:
    """Well-formed JPEGs of every kind Pillow writes, small enough for unit tests."""
    img = photo(160, 120, seed=1)
    return {
        "baseline": save(img, quality=90),
        "baseline_q75_420": save(img, quality=75, subsampling=2),
        "baseline_444": save(img, quality=95, subsampling=0),
        "optimized": save(img, quality=85, optimize=True),
        "progressive": save(img, quality=90, progressive=True),
        "grayscale": save(photo(160, 120, seed=2, mode="L"), quality=90),
        "grayscale_progressive": save(photo(160, 120, seed=2, mode="L"), quality=90, progressive=True),
        "cmyk": save(photo(96, 64, seed=3, mode="CMYK"), quality=90),
        "restart_blocks": save(img, quality=90, restart_marker_blocks=4),
        "restart_rows": save(img, quality=90, restart_marker_rows=1),
        "exif_icc_xmp": save(img, quality=90, exif=exif_block(), icc_profile=icc_profile(), xmp=XMP),
        "one_pixel": save(photo(1, 1, seed=4), quality=90),
        "odd_size": save(photo(17, 9, seed=5), quality=90),
        "odd_size_progressive": save(photo(33, 7, seed=6), quality=80, progressive=True),
        "tall_thin": save(photo(3, 257, seed=7), quality=90),
    }


def markers(jpeg: bytes) -> list[int]:
    """Offsets of every marker (0xFF then a byte other than 0x00 and 0xFF) in a JPEG; entropy
    coded data stuffs 0xFF 0x00, so this finds SOI, segments, RSTn, SOS and EOI."""
    out, i = [], 0
    while True:
        i = jpeg.find(b"\xff", i)
        if i < 0 or i + 1 >= len(jpeg):
            return out
        if jpeg[i + 1] not in (0x00, 0xFF):
            out.append(i)
        i += 1


def malformed_samples() -> dict[str, bytes]:
    """Damaged JPEGs: the baseline and progressive samples cut at every marker (and in the
    middle of the scan), with bytes after EOI, and garbage behind a JPEG signature."""
    good = valid_samples()
    out: dict[str, bytes] = {}
    for name in ("baseline", "progressive", "restart_blocks"):
        data = good[name]
        for at in markers(data):
            if at > 0:
                out[f"{name}_cut_at_{at}"] = data[:at]
        out[f"{name}_cut_mid_scan"] = data[: len(data) * 2 // 3]
        out[f"{name}_trailing_bytes"] = data + b"trailing bytes after EOI" * 3
        out[f"{name}_trailing_jpeg"] = data + good["one_pixel"]
        out[f"{name}_trailing_zeros"] = data + bytes(1000)
    rng = np.random.default_rng(9)
    out["garbage_after_signature"] = b"\xff\xd8\xff" + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    out["soi_only"] = b"\xff\xd8\xff"
    flipped = bytearray(good["baseline"])
    flipped[len(flipped) // 2] ^= 0x55
    out["bit_flip_in_scan"] = bytes(flipped)
    return out
