"""Binary PGM (P5) and PPM (P6) with maxval 255: the header (comments and all) and any bytes
after the raster kept verbatim."""
from __future__ import annotations

import re

import numpy as np

from archiver.codecs.image_files._side import SideReader, SideWriter
from archiver.errors import CorruptChunk

MAX_SAMPLES = 1 << 28
# Magic, then width, height and maxval, each after whitespace and/or comment lines, then the
# single whitespace byte that ends the header.
_HEADER = re.compile(rb"(P[56])((?:\s|#[^\n\r]*[\n\r])+)(\d+)((?:\s|#[^\n\r]*[\n\r])+)(\d+)"
                     rb"((?:\s|#[^\n\r]*[\n\r])+)(\d+)\s")


def _parse(head: bytes):
    """(channels, width, height, header length) or None."""
    m = _HEADER.match(head)
    if m is None or int(m.group(7)) != 255:
        return None
    channels = 3 if m.group(1) == b"P6" else 1
    width, height = int(m.group(3)), int(m.group(5))
    if width < 1 or height < 1 or width * height * channels > MAX_SAMPLES:
        return None
    return channels, width, height, m.end()


def decompose(data: bytes):
    parsed = _parse(data[:4096])
    if parsed is None:
        return None
    channels, width, height, start = parsed
    end = start + width * height * channels
    if end > len(data):
        return None
    pixels = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    planes = np.ascontiguousarray(np.moveaxis(pixels.reshape(height, width, channels), -1, 0))
    return planes, None, SideWriter().blob(data[:start]).blob(data[end:]).getvalue()


def rebuild(planes: np.ndarray, alpha, body: bytes) -> bytes:
    r = SideReader(body)
    header, trailing = r.blob(), r.blob()
    r.end()
    parsed = _parse(header)
    if parsed is None or parsed[3] != len(header):
        raise CorruptChunk("PNM side data holds no valid P5/P6 header")
    channels, width, height, _ = parsed
    if planes.shape != (channels, height, width) or alpha is not None:
        raise CorruptChunk(f"image planes {planes.shape} do not match the PNM header")
    return header + np.moveaxis(planes, 0, -1).tobytes() + trailing
