"""Uncompressed BMP, 24-bit (BI_RGB) and 32-bit (BI_RGB, or BI_BITFIELDS with the usual byte
masks), and 8-bit whose colour table is the gray ramp (entry i is gray level i: how Pillow and
others write gray images), bottom-up or top-down. Everything before the pixel array (headers,
masks, colour table, profile, gaps) and after it is kept verbatim; so are the row padding bytes
when not all zero. A 32-bit file's fourth byte per pixel is handed out as alpha."""
from __future__ import annotations

import struct

import numpy as np

from archiver.codecs.image_files._side import SideReader, SideWriter
from archiver.errors import CorruptChunk

MAX_SAMPLES = 1 << 28
_BI_RGB, _BI_BITFIELDS = 0, 3
_BGR_MASKS = (0x00FF0000, 0x0000FF00, 0x000000FF)
_PAD_ZERO, _PAD_VERBATIM = 0, 1


def _gray_ramp(data: bytes, dib: int) -> bool:
    """The colour table (B, G, R, reserved per entry) says entry i is gray i for every entry."""
    (used,) = struct.unpack("<I", data[46:50])
    used = used or 256
    table = data[14 + dib:14 + dib + 4 * used]
    if used > 256 or len(table) != 4 * used:
        return False
    t = np.frombuffer(table, dtype=np.uint8).reshape(used, 4)[:, :3]
    return bool((t == np.arange(used, dtype=np.uint8)[:, None]).all())


def _parse(data: bytes):
    """(width, height, bottom_up, bytes per pixel, pixel offset, stride) or None."""
    if len(data) < 54 or data[:2] != b"BM":
        return None
    offset, dib = struct.unpack("<II", data[10:18])
    if dib < 40 or 14 + dib > len(data):
        return None
    width, height, planes, bits, compression = struct.unpack("<iiHHI", data[18:34])
    if planes != 1 or width < 1 or height == 0 or height == -(1 << 31):
        return None
    if bits == 24 and compression == _BI_RGB:
        pass
    elif bits == 8 and compression == _BI_RGB:
        if not _gray_ramp(data, dib):
            return None
    elif bits == 32 and compression == _BI_RGB:
        pass
    elif bits == 32 and compression == _BI_BITFIELDS and len(data) >= 66:
        if struct.unpack("<III", data[54:66]) != _BGR_MASKS:
            return None
    else:
        return None
    h = abs(height)
    if width * h * 4 > MAX_SAMPLES:
        return None
    stride = (width * bits + 31) // 32 * 4
    if offset < 14 + dib:
        return None
    return width, h, height > 0, bits // 8, offset, stride


def decompose(data: bytes):
    parsed = _parse(data)
    if parsed is None:
        return None
    width, h, bottom_up, bpp, offset, stride = parsed
    end = offset + stride * h
    if end > len(data):
        return None
    rows = np.frombuffer(data, dtype=np.uint8, count=stride * h, offset=offset).reshape(h, stride)
    if bottom_up:
        rows = rows[::-1]
    px = rows[:, :width * bpp].reshape(h, width, bpp)
    color = px[..., :1] if bpp == 1 else px[..., 2::-1]
    planes = np.ascontiguousarray(np.moveaxis(color, -1, 0))
    alpha = np.ascontiguousarray(px[..., 3]) if bpp == 4 else None
    pad = rows[:, width * bpp:]
    w = SideWriter().blob(data[:offset])
    if pad.any():
        w.u8(_PAD_VERBATIM).raw(pad.tobytes())
    else:
        w.u8(_PAD_ZERO)
    return planes, alpha, w.blob(data[end:]).getvalue()


def rebuild(planes: np.ndarray, alpha, body: bytes) -> bytes:
    r = SideReader(body)
    header = r.blob()
    parsed = _parse(header + b"\0" * max(0, 66 - len(header)))
    if parsed is None or parsed[4] != len(header):
        raise CorruptChunk("BMP side data holds no valid BMP header")
    width, h, bottom_up, bpp, _, stride = parsed
    if planes.shape != (1 if bpp == 1 else 3, h, width) or (alpha is not None) != (bpp == 4):
        raise CorruptChunk(f"image planes {planes.shape} do not match the BMP header")
    rows = np.zeros((h, stride), dtype=np.uint8)
    px = rows[:, :width * bpp].reshape(h, width, bpp)
    if bpp == 1:
        px[..., 0] = planes[0]
    else:
        px[..., 2::-1] = np.moveaxis(planes, 0, -1)
    if bpp == 4:
        px[..., 3] = alpha
    mode = r.u8()
    if mode == _PAD_VERBATIM:
        rows[:, width * bpp:] = np.frombuffer(r.raw(h * (stride - width * bpp)),
                                              dtype=np.uint8).reshape(h, -1)
    elif mode != _PAD_ZERO:
        raise CorruptChunk(f"BMP side data has unknown padding mode {mode}")
    trailing = r.blob()
    r.end()
    if bottom_up:
        rows = rows[::-1]
    return header + rows.tobytes() + trailing
