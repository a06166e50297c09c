"""PNG scanline filters (RFC 2083 section 6) applied to whole images at once with numpy, and
packing of samples into scanline bytes. Only the forward direction is needed: decompose takes
the unfiltered pixels from a PNG decoder and checks them by filtering them again, and rebuild
filters the pixels it is given."""
from __future__ import annotations

import threading

import numpy as np

NONE, SUB, UP, AVERAGE, PAETH = range(5)
_BAND_BYTES = 1 << 22     # filter this many scanline bytes at a time: bounded temporaries

# Adam7: (first row, first column, row step, column step) of each pass.
ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
         (1, 0, 2, 1))


def pack(samples: np.ndarray, depth: int) -> np.ndarray:
    """(h, n) samples of `depth` bits (n = width * channels) -> (h, stride) scanline bytes,
    the last byte of a row padded with zero bits."""
    if depth == 8:
        return np.ascontiguousarray(samples, dtype=np.uint8)
    h, n = samples.shape
    per = 8 // depth
    stride = (n + per - 1) // per
    padded = np.zeros((h, stride * per), dtype=np.uint8)
    padded[:, :n] = samples
    shifts = np.arange(8 - depth, -1, -depth, dtype=np.uint8)
    return np.bitwise_or.reduce(padded.reshape(h, stride, per) << shifts, axis=2).astype(np.uint8)


# The last result per thread: at create time the rebuild check filters the very rows that
# decompose has just filtered (same scanlines, types and bpp: compared in full, so any other
# input is filtered afresh). Read-only, as it is shared.
_last = threading.local()


def filter_rows(raw: np.ndarray, types: np.ndarray, bpp: int) -> np.ndarray:
    """Scanlines (h, stride) filtered with one type per row -> (h, 1 + stride) bytes with the
    type byte in front, exactly as inside a PNG's zlib stream. Types must be 0..4. The result
    is read-only."""
    key = getattr(_last, "key", None)
    if key is not None and key[2] == bpp and key[0].shape == raw.shape \
            and np.array_equal(key[1], types) and np.array_equal(key[0], raw):
        return _last.out
    out = _filter_rows(raw, types, bpp)
    out.setflags(write=False)
    _last.key, _last.out = (np.array(raw, copy=True), np.array(types, copy=True), bpp), out
    return out


def _filter_rows(raw: np.ndarray, types: np.ndarray, bpp: int) -> np.ndarray:
    h, stride = raw.shape
    out = np.empty((h, stride + 1), dtype=np.uint8)
    out[:, 0] = types
    band = max(1, _BAND_BYTES // max(1, stride))
    # One padded copy per band: a zero row above (or the previous band's last row) and bpp
    # zero columns on the left, so x, left, up and up-left are views of it.
    xp = np.zeros((min(h, band) + 1, stride + bpp), dtype=np.int16)
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        n = y1 - y0
        xp[0, bpp:] = raw[y0 - 1] if y0 > 0 else 0
        xp[1:n + 1, bpp:] = raw[y0:y1]
        x, a = xp[1:n + 1, bpp:], xp[1:n + 1, :-bpp]
        b, c = xp[:n, bpp:], xp[:n, :-bpp]
        t = types[y0:y1]
        dst = out[y0:y1, 1:]
        for ftype in np.unique(t):
            rows = np.flatnonzero(t == ftype)
            whole = len(rows) == n
            sel = (lambda v: v) if whole else (lambda v: v[rows])
            xr = sel(x)
            if ftype == NONE:
                res = xr
            elif ftype == SUB:
                res = xr - sel(a)
            elif ftype == UP:
                res = xr - sel(b)
            elif ftype == AVERAGE:
                res = xr - ((sel(a) + sel(b)) >> 1)
            else:
                ar, br, cr = sel(a), sel(b), sel(c)
                p = ar + br - cr
                pa, pb, pc = np.abs(p - ar), np.abs(p - br), np.abs(p - cr)
                res = xr - np.where((pa <= pb) & (pa <= pc), ar, np.where(pb <= pc, br, cr))
            if whole:
                dst[...] = res
            else:
                dst[rows] = res
    return out
