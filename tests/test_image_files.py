"""Image files taken apart into pixels + side bytes and rebuilt byte for byte
(archiver.codecs.image_files; format_spec/codec-image-files.md)."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from zlib_ng import zlib_ng

from archiver.codecs import image_files
from archiver.codecs.image_files import deflate_search
from archiver.errors import CorruptChunk

SIZES = [(1, 1), (31, 33), (1000, 3), (3, 1000)]      # (width, height)


def photo(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """Smooth-ish random pixels (h, w, c): deflate finds matches, as in real images."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(np.cumsum(rng.integers(-2, 3, size=(h, w, c)), axis=0), axis=1)
    return (walk % 256).astype(np.uint8)


def check_exact(data: bytes) -> image_files.Decomposed:
    d = image_files.decompose(data)
    assert d is not None
    assert d.planes.dtype == np.uint8 and d.planes.ndim == 3 and d.planes.shape[0] in (1, 3)
    assert d.alpha is None or d.alpha.shape == d.planes.shape[1:]
    assert image_files.rebuild(d.planes, d.alpha, d.side) == data
    # The side bytes alone do not carry the pixels: another picture gives another file.
    if d.planes.size > 8:
        other = d.planes.copy()
        other.flat[0] ^= 0x10 if d.planes.shape[0] == 3 else 0xFF
        try:
            assert image_files.rebuild(other, d.alpha, d.side) != data
        except CorruptChunk:       # palette images: a colour not in the palette
            pass
    return d


def pillow_png(a: np.ndarray, mode: str, **kw) -> bytes:
    b = io.BytesIO()
    Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a, mode).save(b, "PNG", **kw)
    return b.getvalue()


# A PNG writer of our own, independent of the one under test: any filter types, interlace,
# bit depth, deflate settings, IDAT split and extra chunks.

def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _filter_row(row: bytes, prev: bytes, ftype: int, bpp: int) -> bytes:
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == 0:
            p = 0
        elif ftype == 1:
            p = a
        elif ftype == 2:
            p = b
        elif ftype == 3:
            p = (a + b) // 2
        else:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out.append((x - p) & 255)
    return bytes(out)


def _pack_row(samples, depth: int) -> bytes:
    if depth == 8:
        return bytes(samples)
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        for j, s in enumerate(samples[i:i + per]):
            byte |= s << (8 - depth * (j + 1))
        out.append(byte)
    return bytes(out)


ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
         (1, 0, 2, 1))


def make_png(samples: np.ndarray, color: int, depth: int = 8, *, interlace: int = 0,
             filters=(0, 1, 2, 3, 4), compress=lambda raw, rows: zlib.compress(raw, 6),
             idat_sizes=None, before=(), after=(), trailing=b"") -> bytes:
    """samples: (h, w, channels) sample values."""
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    passes = ADAM7 if interlace else ((0, 0, 1, 1),)
    raw, k, row_sizes = bytearray(), 0, []
    for y0, x0, dy, dx in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = bytes(len(_pack_row(sub[0].reshape(-1).tolist(), depth)))
        for r in sub:
            row = _pack_row(r.reshape(-1).tolist(), depth)
            ftype = filters[k % len(filters)]
            k += 1
            raw += bytes((ftype,)) + _filter_row(row, prev, ftype, bpp)
            row_sizes.append(1 + len(row))
            prev = row
    z = compress(bytes(raw), row_sizes)
    idats, at = [], 0
    for n in (idat_sizes or []):
        idats.append(z[at:at + n])
        at += n
    idats.append(z[at:])
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(before)
            + b"".join(_chunk(b"IDAT", d) for d in idats) + b"".join(after)
            + _chunk(b"IEND", b"") + trailing)


def zlib_with(lib, level, wbits, mem, strategy, header=None):
    """Deflate as PNG writers do: one deflate() call per scanline."""
    def compress(raw, rows):
        c = lib.compressobj(level, zlib.DEFLATED, wbits, mem, strategy)
        pieces, at = [], 0
        for n in rows:
            pieces.append(c.compress(raw[at:at + n]))
            at += n
        z = b"".join(pieces) + c.flush()
        return z if header is None else header + z[2:]
    return compress


# --- PNG ---------------------------------------------------------------------------------

@pytest.mark.parametrize("w,h", SIZES)
@pytest.mark.parametrize("mode,channels", [("L", 1), ("RGB", 3), ("RGBA", 4), ("LA", 2)])
def test_pillow_png_odd_sizes(w, h, mode, channels):
    a = photo(h, w, channels, seed=w * h)
    d = check_exact(pillow_png(a, mode))
    color = 1 if channels <= 2 else 3
    assert np.array_equal(np.moveaxis(d.planes, 0, -1), a[..., :color])
    if channels in (2, 4):
        assert np.array_equal(d.alpha, a[..., -1])
    else:
        assert d.alpha is None


@pytest.mark.parametrize("kw", [dict(compress_level=n) for n in range(10)] + [dict(optimize=True)])
def test_pillow_png_levels(kw):
    check_exact(pillow_png(photo(40, 57, 3, seed=3), "RGB", **kw))


@pytest.mark.parametrize("w,h", SIZES)
def test_palette_png(w, h):
    idx = (photo(h, w, 1, seed=5)[..., 0] % 23).astype(np.uint8)
    im = Image.fromarray(idx, "P")
    rng = np.random.default_rng(1)
    im.putpalette(rng.integers(0, 256, 23 * 3, dtype=np.uint8).tobytes())
    b = io.BytesIO()
    im.save(b, "PNG", transparency=bytes(range(0, 230, 10)))
    d = check_exact(b.getvalue())
    assert d.planes.shape == (3, h, w) and d.alpha is not None


def test_palette_low_depth_and_duplicates():
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 4, size=(9, 13, 1), dtype=np.uint8)
    plte = _chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]))
    for depth in (2, 4, 8):
        check_exact(make_png(idx, 3, depth, before=[plte]))
        check_exact(make_png(idx, 3, depth, interlace=1, before=[plte]))
    # Entry 3 repeats entry 0: pixels using 3 cannot be told from pixels using 0.
    dup = _chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 0]))
    data = make_png(idx, 3, 8, before=[dup])
    d = image_files.decompose(data)
    assert d is None or image_files.rebuild(d.planes, d.alpha, d.side) == data


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_gray_depths(depth):
    s = (photo(17, 21, 1, seed=depth).astype(np.int32) % (1 << depth)).astype(np.uint8)
    d = check_exact(make_png(s, 0, depth))
    assert np.array_equal(d.planes[0], s[..., 0] * (255 // ((1 << depth) - 1)))


@pytest.mark.parametrize("color,channels", [(0, 1), (2, 3), (4, 2), (6, 4)])
@pytest.mark.parametrize("w,h", [(1, 1), (31, 33), (9, 2)])
def test_interlaced(color, channels, w, h):
    data = make_png(photo(h, w, channels, seed=7), color, interlace=1)
    d = image_files.decompose(data)
    assert d is None or image_files.rebuild(d.planes, d.alpha, d.side) == data
    assert d is not None                   # we do take Adam7


def test_sixteen_bit_goes_to_fallback_or_is_exact():
    b = io.BytesIO()
    Image.fromarray(photo(20, 30, 1)[..., 0].astype(np.uint16) * 257).save(b, "PNG")
    assert b.getvalue()[24] == 16                        # IHDR bit depth
    d = image_files.decompose(b.getvalue())
    assert d is None or image_files.rebuild(d.planes, d.alpha, d.side) == b.getvalue()
    rgb16 = make_png(photo(5, 6, 3), 2, 8).replace(
        struct.pack(">IIBB", 6, 5, 8, 2), struct.pack(">IIBB", 6, 5, 16, 2))
    assert image_files.decompose(rgb16) is None


@pytest.mark.parametrize("lib,level,wbits,mem,strategy", [
    (zlib, 1, 15, 8, 0), (zlib, 6, 15, 8, 1), (zlib, 9, 15, 9, 0), (zlib, 9, 10, 8, 1),
    (zlib, 4, 15, 3, 0), (zlib, 6, 15, 8, 2), (zlib, 6, 15, 8, 3), (zlib, 6, 15, 8, 4),
    (zlib, 0, 15, 8, 0), (zlib_ng, 1, 15, 8, 0), (zlib_ng, 6, 15, 8, 0), (zlib_ng, 9, 15, 9, 0),
    (zlib_ng, 3, 15, 8, 1)])
def test_zlib_settings(lib, level, wbits, mem, strategy):
    s = photo(61, 97, 3, seed=level)
    check_exact(make_png(s, 2, compress=zlib_with(lib, level, wbits, mem, strategy)))


def test_unknown_chunks_idat_split_and_trailing_bytes():
    s = photo(50, 40, 4, seed=9)
    data = make_png(s, 6, before=[_chunk(b"tEXt", b"Comment\0hello"), _chunk(b"prVt", b"\1\2\3")],
                    after=[_chunk(b"zzZz", bytes(100))], idat_sizes=[1, 7, 333, 2],
                    trailing=b"trailing bytes after IEND\n")
    check_exact(data)
    # A chunk with a wrong CRC outside the pixels is kept as it is.
    bad = _chunk(b"tEXt", b"a\0b")[:-1] + b"\0"
    check_exact(make_png(s, 6, before=[bad]))


def test_header_window_field_lowered_as_libpng_does():
    s = photo(8, 8, 3)
    # CINFO 1 (512-byte window) in front of a stream written with a 32 KB window: the data
    # fits both windows, so the stream is the same.
    check_exact(make_png(s, 2, compress=zlib_with(zlib, 6, 15, 8, 0, header=b"\x18\x95")))


def test_flushed_stream_is_refused_or_exact():
    def flushed(raw, rows):
        c = zlib.compressobj(6)
        return b"".join(c.compress(raw[i:i + 100]) + c.flush(zlib.Z_SYNC_FLUSH)
                        for i in range(0, len(raw), 100)) + c.flush()
    data = make_png(photo(30, 30, 3), 2, compress=flushed)
    d = image_files.decompose(data)
    assert d is None or image_files.rebuild(d.planes, d.alpha, d.side) == data


def test_deflate_search_finds_settings_or_nothing():
    raw = photo(80, 120, 3, seed=11).tobytes()
    for lib, level, mem, strategy in [(zlib, 5, 7, 0), (zlib_ng, 4, 9, 0), (zlib, 8, 2, 1)]:
        c = lib.compressobj(level, zlib.DEFLATED, -15, mem, strategy)
        stream = c.compress(raw) + c.flush()
        params = deflate_search.find(raw, stream, max_tries=10_000)
        assert params is not None and deflate_search.deflate(params, raw) == stream
    assert deflate_search.find(raw, b"\x03\x00") is None


# --- PPM / PGM, BMP, TIFF ------------------------------------------------------------------

@pytest.mark.parametrize("w,h", SIZES)
def test_pnm(w, h):
    rgb, gray = photo(h, w, 3), photo(h, w, 1)
    d = check_exact(b"P6\n# a comment\n# another\n%d %d\n255\n" % (w, h) + rgb.tobytes())
    assert np.array_equal(np.moveaxis(d.planes, 0, -1), rgb)
    check_exact(b"P5 %d\t%d #c\n255\r" % (w, h) + gray.tobytes() + b"P5 next image")
    assert image_files.decompose(b"P5 %d %d 65535\n" % (w, h) + bytes(2 * w * h)) is None
    assert image_files.decompose(b"P6 %d %d 255\n" % (w, h) + rgb.tobytes()[:-1]) is None


@pytest.mark.parametrize("w,h", SIZES)
@pytest.mark.parametrize("mode,channels", [("RGB", 3), ("RGBA", 4), ("L", 1)])
def test_bmp_both_orientations(w, h, mode, channels):
    a = photo(h, w, channels, seed=2)
    b = io.BytesIO()
    Image.fromarray(a[..., 0] if channels == 1 else a, mode).save(b, "BMP")
    data = b.getvalue()
    d = check_exact(data)
    assert np.array_equal(np.moveaxis(d.planes, 0, -1), a[..., :3])
    # Top-down: negative height, rows in the other order.
    off = struct.unpack("<I", data[10:14])[0]
    bits = struct.unpack("<H", data[28:30])[0]
    stride = (w * bits + 31) // 32 * 4
    rows = [data[off + i * stride:off + (i + 1) * stride] for i in range(h)]
    top_down = data[:22] + struct.pack("<i", -h) + data[26:off] + b"".join(rows[::-1])
    d2 = check_exact(top_down)
    assert np.array_equal(d2.planes, d.planes)


def test_bmp_nonzero_padding_and_trailing():
    a = photo(5, 7, 3)
    b = io.BytesIO()
    Image.fromarray(a, "RGB").save(b, "BMP")
    data = bytearray(b.getvalue())
    off, stride = struct.unpack("<I", data[10:14])[0], (7 * 24 + 31) // 32 * 4
    for r in range(5):
        data[off + r * stride + 21:off + (r + 1) * stride] = bytes([r + 1] * (stride - 21))
    check_exact(bytes(data) + b"junk")


@pytest.mark.parametrize("mode,channels", [("RGB", 3), ("L", 1), ("RGBA", 4), ("LA", 2)])
@pytest.mark.parametrize("w,h", SIZES)
def test_tiff(mode, channels, w, h):
    a = photo(h, w, channels, seed=4)
    b = io.BytesIO()
    Image.fromarray(a[..., 0] if channels == 1 else a, mode).save(b, "TIFF")
    d = check_exact(b.getvalue())
    assert np.array_equal(np.moveaxis(d.planes, 0, -1), a[..., :1 if channels <= 2 else 3])


def test_tiff_many_strips_and_compressed_refused():
    a = photo(100, 30, 3)
    b = io.BytesIO()
    Image.fromarray(a, "RGB").save(b, "TIFF", strip_size=900)   # 10 rows per strip
    check_exact(b.getvalue())
    b = io.BytesIO()
    Image.fromarray(a, "RGB").save(b, "TIFF", compression="tiff_lzw")
    assert image_files.decompose(b.getvalue()) is None


# --- hostile input ---------------------------------------------------------------------------

def test_truncated_and_garbage_inputs():
    rng = np.random.default_rng(0)
    png = pillow_png(photo(20, 20, 3), "RGB")
    for cut in (0, 4, 8, 20, 33, 50, len(png) - 13, len(png) - 1):
        assert image_files.decompose(png[:cut]) is None
    bad_crc = bytearray(png)
    bad_crc[41] ^= 1                                    # inside the IDAT data
    assert image_files.decompose(bytes(bad_crc)) is None
    for head in (b"", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*", b"P6", b"P5 1 1 255 "):
        for _ in range(20):
            junk = head + rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
            d = image_files.decompose(junk)
            assert d is None or image_files.rebuild(d.planes, d.alpha, d.side) == junk


_SAMPLES = {
    "png": pillow_png(photo(9, 11, 4), "RGBA"),
    "png-palette": make_png(np.arange(12, dtype=np.uint8).reshape(3, 4, 1) % 3, 3, 2,
                            before=[_chunk(b"PLTE", bytes(range(9)))]),
    "ppm": b"P6 4 3 255\n" + bytes(range(36)),
    "bmp": (lambda b: (Image.fromarray(photo(3, 5, 3), "RGB").save(b, "BMP"), b.getvalue())[1])(
        io.BytesIO()),
    "tiff": (lambda b: (Image.fromarray(photo(3, 5, 3), "RGB").save(b, "TIFF"), b.getvalue())[1])(
        io.BytesIO()),
}
_DECOMPOSED = {k: image_files.decompose(v) for k, v in _SAMPLES.items()}


def test_samples_decompose():
    assert all(d is not None for d in _DECOMPOSED.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(_SAMPLES)), edits=st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 10_000), raw=st.booleans())
def test_damaged_side_raises_corrupt_chunk(kind, edits, cut, raw):
    d = _DECOMPOSED[kind]
    side = bytearray(d.side)
    if raw and side[2] == 1:          # damage inside the zstd body, not just its frame
        from archiver.codecs.image_files import _side
        fmt, body = _side.unseal(bytes(side))
        side = bytearray(bytes((1, fmt, 0)) + body)
    for at, value in edits:
        side[at % len(side)] = value
    side = bytes(side[:max(1, cut % (len(side) + 1))]) if cut % 3 == 0 else bytes(side)
    try:
        out = image_files.rebuild(d.planes, d.alpha, side)
    except CorruptChunk:
        return
    assert isinstance(out, bytes)     # damage the checks cannot see: the SHA-256 catches it


def test_wrong_planes_raise_corrupt_chunk():
    for d in _DECOMPOSED.values():
        c, h, w = d.planes.shape
        with pytest.raises(CorruptChunk):
            image_files.rebuild(np.zeros((c, h + 1, w), np.uint8), d.alpha, d.side)
        with pytest.raises(CorruptChunk):
            image_files.rebuild(np.zeros((4 - c, h, w), np.uint8), d.alpha, d.side)
    with pytest.raises(CorruptChunk):
        image_files.rebuild(_DECOMPOSED["png"].planes, None, _DECOMPOSED["png"].side)
    with pytest.raises(CorruptChunk):
        image_files.rebuild(_DECOMPOSED["ppm"].planes, None, b"\x02\x02\x00")


def test_stock_zlib_settings_refused_where_zlib_is_zlib_ng(monkeypatch):
    """Where Python's zlib is zlib-ng's compat build, a stock-zlib recipe would rebuild other
    bytes: it is neither found nor followed."""
    from archiver.errors import MissingLibrary
    data = make_png(photo(30, 40, 3), 2, compress=zlib_with(zlib, 6, 15, 8, 1))
    d = image_files.decompose(data)
    assert d is not None
    monkeypatch.setattr(deflate_search, "STOCK_ZLIB", False)
    with pytest.raises(MissingLibrary):
        image_files.rebuild(d.planes, d.alpha, d.side)
    again = image_files.decompose(data)
    assert again is None or image_files.rebuild(again.planes, again.alpha, again.side) == data


@pytest.mark.parametrize("level", [1, 6])
def test_zlib_ng_fed_by_scanline_many_blocks(level):
    """zlib-ng's output depends on how its input is cut (stock zlib's does not): a PNG writer
    feeds one scanline per call, and so does the rebuild."""
    s = (photo(260, 400, 3, seed=level) // 8).astype(np.uint8)
    check_exact(make_png(s, 2, filters=(1, 2, 4), compress=zlib_with(zlib_ng, level, 15, 9, 0)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(_SAMPLES)), edits=st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
    cut=st.integers(0, 10_000))
def test_damaged_files_are_refused_or_exact(kind, edits, cut):
    data = bytearray(_SAMPLES[kind])
    for at, value in edits:
        data[at % len(data)] = value
    data = bytes(data[:cut]) if cut < len(data) else bytes(data)
    d = image_files.decompose(data)
    assert d is None or image_files.rebuild(d.planes, d.alpha, d.side) == data


def test_side_bytes_do_not_depend_on_earlier_files():
    """No state carries over between files (the archive must not depend on file order or the
    number of workers): the same file gives the same side bytes whatever came before."""
    a = make_png(photo(40, 50, 3), 2, compress=zlib_with(zlib, 4, 15, 7, 0))
    first = image_files.decompose(a).side
    for other in (pillow_png(photo(30, 30, 4), "RGBA", compress_level=9),
                  make_png(photo(20, 20, 1), 0, compress=zlib_with(zlib_ng, 6, 15, 9, 0))):
        assert image_files.decompose(other) is not None
    assert image_files.decompose(a).side == first


def test_search_hands_its_proved_stream_to_the_rebuild_check():
    """The create-time rebuild check reuses the stream the search compressed with deflate()'s
    own calls (no second compression), and only for the very same params, rows and data."""
    data = make_png(photo(30, 40, 3), 2, compress=zlib_with(zlib, 6, 15, 9, 1))
    assert image_files.decompose(data) is not None
    params, rows, raw, stream = deflate_search._proved.entry
    assert deflate_search.deflate(params, raw, rows) is stream
    other = bytes([raw[0] ^ 1]) + raw[1:]
    c = zlib.compressobj(6, zlib.DEFLATED, -15, 9, 1)
    assert deflate_search.deflate(params, other, rows) == c.compress(other) + c.flush()


def test_compiled_first_block_reader_equals_the_python_one():
    """_probe.first_block (C) answers as deflate_probe.first_block_py on streams of every
    zlib setting, cut short, with flipped bits, and on random bytes."""
    from archiver.codecs.image_files import deflate_probe
    rng = np.random.default_rng(3)
    data = photo(60, 80, 3).tobytes() + bytes(range(256)) * 8
    streams = []
    for lib in (zlib, zlib_ng):
        for level in (0, 1, 6, 9):
            for strategy in (0, 1, 2, 3, 4):
                for mem in (1, 9):
                    c = lib.compressobj(level, zlib.DEFLATED, -15, mem, strategy)
                    streams.append(c.compress(data) + c.flush())
    for s in list(streams):
        streams += [s[:cut] for cut in (0, 1, 2, 5, 40, len(s) // 2)]
        for _ in range(3):
            b = bytearray(s)
            b[rng.integers(0, len(b))] ^= 1 << int(rng.integers(0, 8))
            streams.append(bytes(b))
    streams += [rng.integers(0, 256, size=int(n), dtype=np.uint8).tobytes()
                for n in rng.integers(0, 200, size=500)]
    for s in streams:
        for most in (1 << 16, 50):
            assert deflate_probe.first_block(s, most) == deflate_probe.first_block_py(s, most)


def test_filter_rows_reuses_only_an_identical_input():
    from archiver.codecs.image_files import png_filters
    rng = np.random.default_rng(4)
    raw = rng.integers(0, 256, size=(9, 30), dtype=np.uint8)
    types = rng.integers(0, 5, size=9).astype(np.uint8)
    a = png_filters.filter_rows(raw, types, 3)
    assert png_filters.filter_rows(raw.copy(), types.copy(), 3) is a and not a.flags.writeable
    other = raw.copy()
    other[4, 7] ^= 1
    for args in ((other, types, 3), (raw, (types + 1) % 5, 3), (raw, types, 1)):
        b = png_filters.filter_rows(*args)
        assert b is not a and np.array_equal(b, png_filters._filter_rows(*args))
