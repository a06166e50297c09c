"""PNG files taken apart into pixels plus side data, and put back together byte for byte.

Every chunk other than IDAT is kept verbatim (CRC included); IDAT chunks are kept as their
lengths. The zlib stream they carry is kept as its 2-byte header, the deflate parameters that
reproduce its raw deflate stream (deflate_search), and its tail (Adler-32 and anything after).
The inflated data is the pixels packed into scanlines, each filtered with the type recorded
for it; bytes after the final IEND chunk are kept verbatim. 8-bit RGB, RGBA, gray and
gray+alpha, gray at 1/2/4 bits (scaled to 8 bits), palette images (expanded to RGB, plus alpha
when a tRNS chunk is present) and Adam7 interlacing; 16-bit samples are not taken."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from archiver.codecs.image_files import deflate_search, png_filters
from archiver.codecs.image_files._side import SideReader, SideWriter
from archiver.errors import CorruptChunk

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6
_CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 4}
_DEPTHS = {GRAY: (1, 2, 4, 8), RGB: (8,), PALETTE: (1, 2, 4, 8), GRAY_ALPHA: (8,), RGBA: (8,)}
MAX_SAMPLES = 1 << 28              # larger images go to the fallback (memory)
_ITEM_CHUNK, _ITEM_IDAT = 0, 1
_MODE_ZLIB, _MODE_STORED = deflate_search.MODE_ZLIB, deflate_search.MODE_STORED


class _Header:
    def __init__(self, ihdr: bytes) -> None:
        if len(ihdr) != 13:
            raise ValueError("IHDR is not 13 bytes")
        (self.width, self.height, self.depth, self.color, method, filter_method,
         self.interlace) = struct.unpack(">IIBBBBB", ihdr)
        if (self.color not in _CHANNELS or self.depth not in _DEPTHS[self.color] or method
                or filter_method or self.interlace not in (0, 1)):
            raise ValueError("unsupported IHDR")
        if not (1 <= self.width < 1 << 31 and 1 <= self.height < 1 << 31):
            raise ValueError("bad size")
        self.channels = _CHANNELS[self.color]
        if self.width * self.height * self.channels > MAX_SAMPLES:
            raise ValueError("too large")
        self.bpp = max(1, self.channels * self.depth // 8)

    def passes(self) -> list[tuple[int, int, int, int]]:
        """(first row, first column, row step, column step) of each non-empty pass."""
        if not self.interlace:
            return [(0, 0, 1, 1)]
        return [(y0, x0, dy, dx) for y0, x0, dy, dx in png_filters.ADAM7
                if self.height > y0 and self.width > x0]

    def rows(self) -> int:
        return sum(len(range(y0, self.height, dy)) for y0, _, dy, _ in self.passes())

    def row_runs(self) -> list[tuple[int, int]]:
        """(scanline bytes with the filter byte, count) per pass: how writers feed deflate."""
        runs = []
        for y0, x0, dy, dx in self.passes():
            w = len(range(x0, self.width, dx))
            stride = 1 + (w * self.channels * self.depth + 7) // 8
            runs.append((stride, len(range(y0, self.height, dy))))
        return runs

    def inflated_size(self) -> int:
        total = 0
        for y0, x0, dy, dx in self.passes():
            w = len(range(x0, self.width, dx))
            stride = 1 + (w * self.channels * self.depth + 7) // 8
            total += len(range(y0, self.height, dy)) * stride
        return total


def _chunks(data: bytes):
    """(type, whole chunk bytes, body) up to and including IEND, then the trailing bytes."""
    at, items = 8, []
    while True:
        if at + 12 > len(data):
            raise ValueError("no IEND")
        length, ctype = struct.unpack(">I4s", data[at:at + 8])
        if length >= 1 << 31 or at + 12 + length > len(data):
            raise ValueError("chunk overruns the file")
        whole = data[at:at + 12 + length]
        items.append((ctype, whole, whole[8:8 + length]))
        at += 12 + length
        if ctype == b"IEND":
            return items, data[at:]


def _samples(im, hdr: _Header) -> np.ndarray:
    """(h, w * channels) sample values as the PNG stores them, from a Pillow image."""
    a = np.asarray(im)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    a = a.astype(np.uint8, copy=False)
    if hdr.color == GRAY and hdr.depth < 8 and a.max(initial=0) > (1 << hdr.depth) - 1:
        a = a // (255 // ((1 << hdr.depth) - 1))        # Pillow scales low-depth gray to 8 bits
    return a.reshape(hdr.height, hdr.width * hdr.channels)


def _filtered(samples: np.ndarray, hdr: _Header, types: np.ndarray) -> np.ndarray:
    """The whole inflated stream: every pass's scanlines, filtered, type bytes in front."""
    parts, row = [], 0
    for y0, x0, dy, dx in hdr.passes():
        sub = samples.reshape(hdr.height, hdr.width, hdr.channels)[y0::dy, x0::dx]
        h = sub.shape[0]
        raw = png_filters.pack(sub.reshape(h, -1), hdr.depth)
        parts.append(png_filters.filter_rows(raw, types[row:row + h], hdr.bpp).reshape(-1))
        row += h
    return np.concatenate(parts)


def _palette(chunks) -> tuple[np.ndarray, np.ndarray | None]:
    """(256, 3) palette colours and (256,) alphas (None without tRNS)."""
    plte = next((body for t, _, body in chunks if t == b"PLTE"), None)
    if plte is None or len(plte) % 3 or not 3 <= len(plte) <= 768:
        raise ValueError("bad PLTE")
    rgb = np.zeros((256, 3), dtype=np.uint8)
    rgb[:len(plte) // 3] = np.frombuffer(plte, dtype=np.uint8).reshape(-1, 3)
    trns = next((body for t, _, body in chunks if t == b"tRNS"), None)
    if trns is None:
        return rgb, None
    alpha = np.full(256, 255, dtype=np.uint8)
    alpha[:min(256, len(trns))] = np.frombuffer(trns[:256], dtype=np.uint8)
    return rgb, alpha


def _keys(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    k = (rgb[..., 0].astype(np.uint32) << 24) | (rgb[..., 1].astype(np.uint32) << 16) \
        | (rgb[..., 2].astype(np.uint32) << 8)
    return k | alpha.astype(np.uint32) if alpha is not None else k


def _reindex(planes: np.ndarray, alpha_plane, pal_rgb, pal_alpha) -> np.ndarray:
    """Palette indices back from expanded colours: each colour maps to its first palette entry."""
    keys = _keys(np.moveaxis(planes, 0, -1), alpha_plane if pal_alpha is not None else None)
    table = _keys(pal_rgb, pal_alpha)
    uniq, first = np.unique(table, return_index=True)
    pos = np.searchsorted(uniq, keys)
    pos = np.minimum(pos, len(uniq) - 1)
    if not np.array_equal(uniq[pos], keys):
        raise CorruptChunk("image pixels hold a colour that is not in the PNG palette")
    return first[pos].astype(np.uint8)


def _split_planes(samples: np.ndarray, hdr: _Header, chunks):
    s = samples.reshape(hdr.height, hdr.width, hdr.channels)
    if hdr.color == PALETTE:
        rgb, alpha = _palette(chunks)
        idx = s[..., 0]
        planes = np.ascontiguousarray(np.moveaxis(rgb[idx], -1, 0))
        return planes, (alpha[idx] if alpha is not None else None)
    if hdr.color == GRAY:
        scale = 255 // ((1 << hdr.depth) - 1)
        return (s[..., 0] * scale).astype(np.uint8)[None], None
    color = 1 if hdr.color == GRAY_ALPHA else 3
    planes = np.ascontiguousarray(np.moveaxis(s[..., :color], -1, 0))
    alpha = np.ascontiguousarray(s[..., color]) if hdr.channels in (2, 4) else None
    return planes, alpha


def _join_planes(planes: np.ndarray, alpha, hdr: _Header, chunks) -> np.ndarray:
    """(h, w * channels) samples from planes and alpha; CorruptChunk when they do not fit."""
    want_c = 1 if hdr.color in (GRAY, GRAY_ALPHA) else 3
    has_alpha = hdr.color in (GRAY_ALPHA, RGBA)
    if hdr.color == PALETTE:
        try:
            pal_rgb, pal_alpha = _palette(chunks)
        except ValueError:
            raise CorruptChunk("PNG side data has no usable palette") from None
        has_alpha = pal_alpha is not None
    if planes.shape != (want_c, hdr.height, hdr.width) or planes.dtype != np.uint8:
        raise CorruptChunk(f"image planes {planes.shape} do not match the PNG header")
    if has_alpha != (alpha is not None) or (alpha is not None and (
            alpha.shape != (hdr.height, hdr.width) or alpha.dtype != np.uint8)):
        raise CorruptChunk("image alpha does not match the PNG header")
    if hdr.color == PALETTE:
        s = _reindex(planes, alpha, pal_rgb, pal_alpha)[..., None]
    elif hdr.color == GRAY:
        s = (planes[0] // (255 // ((1 << hdr.depth) - 1)))[..., None]
    else:
        s = np.moveaxis(planes, 0, -1)
        if alpha is not None:
            s = np.concatenate([s, alpha[..., None]], axis=-1)
    return np.ascontiguousarray(s, dtype=np.uint8).reshape(hdr.height, hdr.width * hdr.channels)


def _decode_pixels(chunks, hdr: _Header) -> np.ndarray | None:
    """The samples, decoded by Pillow from a PNG of only the chunks the pixels depend on, so
    ancillary chunks Pillow would refuse (bad CRC, animation, unknown) do not matter."""
    from PIL import Image
    # Above Pillow's decompression-bomb limit it would warn (or refuse): such files are left
    # to the fallback rather than silencing warnings, which is not thread-safe.
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and hdr.width * hdr.height > limit:
        return None
    needed = (b"IHDR", b"PLTE", b"IDAT", b"IEND")
    data = SIGNATURE + b"".join(whole for t, whole, _ in chunks if t in needed)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            im.load()
            if im.size != (hdr.width, hdr.height):
                return None
            return _samples(im, hdr)
    except Exception:           # any decoder complaint: not a file we can rebuild
        return None


def decompose(data: bytes, stats=None):
    """(planes, alpha, side body) or None; `stats` (deflate_search.SearchStats) gets the search
    cost and, on None, the reason."""
    stats = stats if stats is not None else deflate_search.SearchStats()
    try:
        return _decompose(data, stats)
    except _Refused as e:
        stats.reason = str(e)
        return None


class _Refused(Exception):
    pass


def _decompose(data: bytes, stats):
    if not data.startswith(SIGNATURE):
        raise _Refused("not PNG")
    try:
        chunks, trailing = _chunks(data)
        if chunks[0][0] != b"IHDR":
            raise _Refused("no IHDR first")
        hdr = _Header(chunks[0][2])
    except (ValueError, struct.error) as e:
        raise _Refused(f"header: {e}") from None
    idats = [(whole, body) for t, whole, body in chunks if t == b"IDAT"]
    if not idats or any(zlib.crc32(w[4:-4]) != int.from_bytes(w[-4:], "big") for w, _ in idats):
        raise _Refused("IDAT missing or CRC wrong")
    zdata = b"".join(body for _, body in idats)
    if (len(zdata) < 2 or zdata[0] & 0x0F != 8 or zdata[1] & 0x20  # deflate, no preset dictionary
            or ((zdata[0] << 8) | zdata[1]) % 31):
        raise _Refused("bad zlib header")
    size = hdr.inflated_size()
    d = zlib.decompressobj(-15)
    try:
        inflated = d.decompress(zdata[2:], size + 1)
    except zlib.error:
        raise _Refused("IDAT does not inflate") from None
    if len(inflated) != size or not d.eof:
        raise _Refused("IDAT inflates to the wrong size")
    tail = d.unused_data
    stream = zdata[2:len(zdata) - len(tail)]
    samples = _decode_pixels(chunks, hdr)
    if samples is None:
        raise _Refused("Pillow cannot decode it")
    flat = np.frombuffer(inflated, dtype=np.uint8)
    types, at = [], 0
    for y0, x0, dy, dx in hdr.passes():
        w = len(range(x0, hdr.width, dx))
        stride = 1 + (w * hdr.channels * hdr.depth + 7) // 8
        h = len(range(y0, hdr.height, dy))
        types.append(flat[at:at + h * stride:stride])
        at += h * stride
    types = np.concatenate(types)
    if types.max(initial=0) > 4 or not np.array_equal(_filtered(samples, hdr, types), flat):
        raise _Refused("pixels do not filter back to the IDAT data")
    params = deflate_search.find(inflated, stream, stats=stats, header=zdata[:2],
                                 rows=hdr.row_runs())
    if params is None:
        raise _Refused("no deflate parameters found" + (" (gave up)" if stats.gave_up else ""))
    try:
        planes, alpha = _split_planes(samples, hdr, chunks)
    except ValueError as e:
        raise _Refused(str(e)) from None

    w = SideWriter()
    w.uint(len(chunks))
    for ctype, whole, body in chunks:
        if ctype == b"IDAT":
            w.u8(_ITEM_IDAT).uint(len(body))
        else:
            w.u8(_ITEM_CHUNK).blob(whole)
    w.blob(trailing).raw(zdata[:2]).blob(tail).blob(types.tobytes())
    if isinstance(params, deflate_search.StoredParams):
        w.u8(_MODE_STORED).uint(len(params.lengths))
        for n in params.lengths:
            w.uint(n)
    else:
        w.u8(_MODE_ZLIB).u8(params.lib).u8(params.level).u8(params.wbits).u8(params.mem_level)
        w.u8(params.strategy)
    return planes, alpha, w.getvalue()


def rebuild(planes: np.ndarray, alpha, body: bytes) -> bytes:
    r = SideReader(body)
    items = []
    for _ in range(r.count(2)):
        kind = r.u8()
        if kind == _ITEM_CHUNK:
            whole = r.blob()
            if len(whole) < 12:
                raise CorruptChunk("PNG side data holds a chunk shorter than 12 bytes")
            items.append((whole[4:8], whole))
        elif kind == _ITEM_IDAT:
            items.append((b"IDAT", r.uint((1 << 31) - 1)))
        else:
            raise CorruptChunk(f"PNG side data has unknown item kind {kind}")
    trailing, zhead, tail, types = r.blob(), r.raw(2), r.blob(), r.blob()
    mode = r.u8()
    if mode == _MODE_STORED:
        lengths = tuple(r.uint(0xFFFF) for _ in range(r.count(1)))
        if not lengths:
            raise CorruptChunk("PNG side data has an empty stored-block list")
        params = deflate_search.StoredParams(lengths)
    elif mode == _MODE_ZLIB:
        params = deflate_search.ZlibParams(r.u8(), r.u8(), r.u8(), r.u8(), r.u8())
        if not deflate_search.valid(params):
            raise CorruptChunk(f"PNG side data has invalid deflate parameters {params}")
    else:
        raise CorruptChunk(f"PNG side data has unknown deflate mode {mode}")
    r.end()

    if not items or items[0][0] != b"IHDR" or isinstance(items[0][1], int):
        raise CorruptChunk("PNG side data does not start with an IHDR chunk")
    try:
        hdr = _Header(items[0][1][8:-4])
    except ValueError as e:
        raise CorruptChunk(f"PNG side data has an unusable IHDR ({e})") from None
    chunk_list = [(t, whole, whole[8:-4]) for t, whole in items if not isinstance(whole, int)]
    samples = _join_planes(planes, alpha, hdr, chunk_list)
    types_arr = np.frombuffer(types, dtype=np.uint8)
    if len(types_arr) != hdr.rows() or types_arr.max(initial=0) > 4:
        raise CorruptChunk("PNG side data has the wrong filter types for its image")
    inflated = _filtered(samples, hdr, types_arr).tobytes()
    if isinstance(params, deflate_search.StoredParams) and sum(params.lengths) != len(inflated):
        raise CorruptChunk("PNG side data's stored blocks do not cover the image")
    zdata = zhead + deflate_search.deflate(params, inflated, hdr.row_runs()) + tail
    if sum(n for t, n in items if isinstance(n, int)) != len(zdata):
        raise CorruptChunk("PNG side data's IDAT lengths do not match the rebuilt stream")
    out, at = [SIGNATURE], 0
    for ctype, item in items:
        if isinstance(item, int):
            body = zdata[at:at + item]
            at += item
            out.append(struct.pack(">I", item) + b"IDAT" + body
                       + struct.pack(">I", zlib.crc32(b"IDAT" + body)))
        else:
            out.append(item)
    out.append(trailing)
    return b"".join(out)
