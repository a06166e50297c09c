"""The colour lattice of decoded JPEGs: which B values a JPEG decoder can give with a pixel's R
and G (format_spec/codec-image.md §3.2).

A JPEG stores Y, Cb, Cr; decoders turn them into RGB with JFIF's integer conversion (libjpeg's
jdcolor.c, also libjpeg-turbo, PIL, most browsers and viewers):

    R = clamp(Y + CRR[Cr]),   G = clamp(Y + ((CBG[Cb] + CRG[Cr]) >> 16)),   B = clamp(Y + CBB[Cb])

with 16-bit fixed-point tables below. The map stretches volume 4.23 times, so only 25.4% of
RGB triplets can come out of it: given R and G, B takes one of ~65 values. A photo that was a
JPEG once and was saved losslessly at its full size has every pixel on this lattice (the full-
size wallpapers of the validation set do). Coding B only among the allowed values (the masked
logistic, rans §5.4) then costs far fewer bits: measured on 256 blocks of e-Red-Maple@1 under
image-l4e, B from 1.67 to 0.69 bits per pixel.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

_ONE_HALF = 1 << 15


def _fix(x: float) -> int:
    return int(x * 65536 + 0.5)


def _tables():
    """libjpeg's conversion tables, indexed by Cb or Cr (0..255)."""
    x = np.arange(256, dtype=np.int64) - 128
    crr = (_fix(1.40200) * x + _ONE_HALF) >> 16
    cbb = (_fix(1.77200) * x + _ONE_HALF) >> 16
    crg = -_fix(0.71414) * x
    cbg = -_fix(0.34414) * x + _ONE_HALF
    return crr, cbb, crg, cbg


def ycc_to_rgb(y, cb, cr) -> np.ndarray:
    """The decoder's RGB (..., 3) uint8 of 8-bit Y, Cb, Cr arrays (broadcast)."""
    crr, cbb, crg, cbg = _tables()
    y, cb, cr = (np.asarray(v, np.int64) for v in (y, cb, cr))
    r = y + crr[cr]
    g = y + ((cbg[cb] + crg[cr]) >> 16)
    b = y + cbb[cb]
    return np.clip(np.stack(np.broadcast_arrays(r, g, b), -1), 0, 255).astype(np.uint8)


@lru_cache(maxsize=1)
def masks() -> np.ndarray:
    """(65536, 32) uint8, read-only: row R * 256 + G has bit B (bit B & 7 of byte B >> 3) set
    when the conversion gives (R, G, B) for some Y, Cb, Cr. Every row allows at least one B."""
    allowed = np.zeros((256, 256, 256), bool)
    cb, cr = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    for y in range(256):                 # one Y at a time: 65536 triplets, little memory
        rgb = ycc_to_rgb(y, cb, cr).reshape(-1, 3)
        allowed[rgb[:, 0], rgb[:, 1], rgb[:, 2]] = True
    out = np.packbits(allowed.reshape(65536, 256), axis=1, bitorder="little")
    out.flags.writeable = False
    return out


def on_lattice(rgb: np.ndarray) -> bool:
    """True when every pixel of rgb (H, W, 3) uint8 is a triplet the conversion can give."""
    m = masks()
    r, g, b = (np.asarray(rgb[..., c], np.int64).ravel() for c in range(3))
    return bool(np.all((m[r * 256 + g, b >> 3] >> (b & 7)) & 1))
