"""Uncompressed 8-bit TIFF with chunky (interleaved) samples in strips: gray (with alpha as an
extra sample) and RGB (with alpha). The first image's strips are cut out of the file; every
other byte (headers, IFDs, tags, further pages, gaps) is kept verbatim, with where each strip
sat, so the file is the kept bytes with the strips put back at their offsets."""
from __future__ import annotations

import struct

import numpy as np

from archiver.codecs.image_files._side import SideReader, SideWriter
from archiver.errors import CorruptChunk

MAX_SAMPLES = 1 << 28
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 11: 4, 12: 8, 16: 8}
_SHORT, _LONG = 3, 4


def _ifd(data: bytes):
    """The first IFD's tags as {tag: tuple of integer values} (SHORT and LONG tags only)."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        return None
    (at,) = struct.unpack(order + "I", data[4:8])
    if at + 2 > len(data):
        return None
    (n,) = struct.unpack(order + "H", data[at:at + 2])
    if at + 2 + 12 * n > len(data):
        return None
    tags = {}
    for i in range(n):
        entry = at + 2 + 12 * i
        tag, typ, count, value = struct.unpack(order + "HHII", data[entry:entry + 12])
        if typ not in (_SHORT, _LONG):
            continue
        size = _TYPE_SIZES[typ] * count
        if size <= 4:
            raw = data[entry + 8:entry + 8 + size]
        elif value + size <= len(data):
            raw = data[value:value + size]
        else:
            return None
        tags[tag] = struct.unpack(order + ("H" if typ == _SHORT else "I") * count, raw)
    return tags


def decompose(data: bytes):
    try:
        tags = _ifd(data)
    except struct.error:
        return None
    if tags is None:
        return None
    one = lambda tag, default=None: tags.get(tag, (default,))[0]  # noqa: E731
    width, height, spp = one(256), one(257), one(277, 1)
    photometric = one(262)
    if (not width or not height or one(259, 1) != 1 or one(284, 1) != 1 or 322 in tags
            or 273 not in tags or 279 not in tags):
        return None
    if tags.get(258, (1,) * spp) != (8,) * spp:
        return None
    if not ((spp in (1, 2) and photometric in (0, 1)) or (spp in (3, 4) and photometric == 2)):
        return None
    if spp in (2, 4) and 338 not in tags:      # a fourth/second sample must be declared extra
        return None
    if width * height * spp > MAX_SAMPLES:
        return None
    offsets, counts = tags[273], tags[279]
    if len(offsets) != len(counts) or sum(counts) != width * height * spp:
        return None
    segments = sorted(zip(offsets, counts))
    end = 0
    for off, n in segments:
        if off < end or off + n > len(data):
            return None
        end = off + n
    pixels = np.frombuffer(b"".join(data[o:o + n] for o, n in zip(offsets, counts)), dtype=np.uint8)
    px = pixels.reshape(height, width, spp)
    color = 1 if spp <= 2 else 3
    planes = np.ascontiguousarray(np.moveaxis(px[..., :color], -1, 0))
    alpha = np.ascontiguousarray(px[..., color]) if spp in (2, 4) else None
    rest, at = [], 0
    for off, n in segments:
        rest.append(data[at:off])
        at = off + n
    rest.append(data[at:])
    w = SideWriter().uint(len(offsets))
    for off, n in zip(offsets, counts):
        w.uint(off).uint(n)
    return planes, alpha, w.blob(b"".join(rest)).getvalue()


def rebuild(planes: np.ndarray, alpha, body: bytes) -> bytes:
    r = SideReader(body)
    strips = [(r.uint(1 << 40), r.uint(1 << 40)) for _ in range(r.count(2))]
    rest = r.blob()
    r.end()
    px = np.moveaxis(planes, 0, -1)
    if alpha is not None:
        px = np.concatenate([px, alpha[..., None]], axis=-1)
    pixels = np.ascontiguousarray(px).tobytes()
    if sum(n for _, n in strips) != len(pixels):
        raise CorruptChunk("TIFF side data's strips do not match the image size")
    placed, at = [], 0
    for off, n in strips:
        placed.append((off, pixels[at:at + n]))
        at += n
    placed.sort(key=lambda s: s[0])
    out, taken, pos = [], 0, 0        # pos: file offset reached; taken: rest bytes used
    for off, piece in placed:
        gap = off - pos
        if gap < 0 or taken + gap > len(rest):
            raise CorruptChunk("TIFF side data's strips overlap or lie outside the file")
        out += [rest[taken:taken + gap], piece]
        taken += gap
        pos = off + len(piece)
    out.append(rest[taken:])
    return b"".join(out)
