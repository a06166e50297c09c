"""Image files as (pixels the model codes, alpha, side bytes) and back, byte for byte.

One module per format (png, netpbm, bmp, tiff); each gives `decompose(data)` -> (planes, alpha,
side body) or None and `rebuild(planes, alpha, body)` -> bytes. This module puts the format id
and the envelope around the body (_side.seal) and checks every decomposition by rebuilding it
before handing it out. The side bytes are part of the archive format:
format_spec/codec-image-files.md."""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from archiver.codecs.image_files import _side, bmp, netpbm, png, tiff
from archiver.errors import CorruptChunk

PNG, NETPBM, BMP, TIFF = 1, 2, 3, 4
_FORMATS = {PNG: png, NETPBM: netpbm, BMP: bmp, TIFF: tiff}


@dataclass
class Decomposed:
    planes: np.ndarray          # uint8 (C, H, W), C in {1, 3}: the pixels the model codes
    alpha: np.ndarray | None    # uint8 (H, W) or None: coded by the caller (zstd)
    side: bytes                 # everything else (format_spec/codec-image-files.md)


def _sniff(data: bytes) -> int | None:
    if data.startswith(png.SIGNATURE):
        return PNG
    if data[:2] in (b"P5", b"P6"):
        return NETPBM
    if data[:2] == b"BM":
        return BMP
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    return None


def decompose(data: bytes, stats=None) -> Decomposed | None:
    """None when this file cannot be rebuilt exactly (the caller then falls back to zstd).
    A result is always checked: rebuild(result) == data. `stats` (a
    deflate_search.SearchStats) receives the PNG search cost and the reason for a None."""
    data = bytes(data)
    fmt = _sniff(data)
    if fmt is None:
        return None
    try:
        got = png.decompose(data, stats=stats) if fmt == PNG else _FORMATS[fmt].decompose(data)
    except (ValueError, IndexError, OverflowError, struct.error) as e:
        # A file malformed in a way no check above foresaw: not one to take, never a reason
        # to stop the archive.
        if stats is not None:
            stats.reason = f"malformed: {type(e).__name__}: {e}"
        return None
    if got is None:
        return None
    planes, alpha, body = got
    result = Decomposed(planes, alpha, _side.seal(fmt, body))
    try:
        if rebuild(result.planes, result.alpha, result.side) != data:
            if stats is not None:
                stats.reason = "rebuild differs"
            return None
    except CorruptChunk as e:
        if stats is not None:
            stats.reason = f"rebuild failed: {e}"
        return None
    return result


def rebuild(planes: np.ndarray, alpha: np.ndarray | None, side: bytes) -> bytes:
    """Exactly the original bytes; CorruptChunk on inconsistent or hostile side data."""
    fmt, body = _side.unseal(bytes(side))
    if fmt not in _FORMATS:
        raise CorruptChunk(f"image side data names unknown file format {fmt}")
    planes = np.asarray(planes)
    if planes.ndim != 3 or planes.dtype != np.uint8 or planes.shape[0] not in (1, 3):
        raise CorruptChunk(f"image planes have shape {planes.shape} and type {planes.dtype}")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != planes.shape[1:] or alpha.dtype != np.uint8:
            raise CorruptChunk(f"image alpha has shape {alpha.shape}, the planes {planes.shape}")
    return _FORMATS[fmt].rebuild(planes, alpha, body)
