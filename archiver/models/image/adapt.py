"""Scale adaptation of the ar decoder (Config.scale_adapt, rule in arch.py at ADAPT_*): the
scale index each pixel is coded with, from the errors of the earlier pixels of its block, and
with scale_adapt = 2 (XADAPT_*) from the errors of the pixel's earlier colours too.

`adapt_scales` is the encoder's view (whole known blocks, vectorised over blocks and pixels);
`ScaleState` the decoder's (one pixel at a time, updated after each pop). Both compute the
same integers as the C decoder (ar_core.c) and the plain-int reference (reference.py).
"""
from __future__ import annotations

import numpy as np

from archiver.models.image import arch

MAD = np.array(arch.ADAPT_MAD, np.int64)
STEPS = np.array(arch.ADAPT_STEPS, np.int64)
NBUCKETS = 128 >> arch.ADAPT_BUCKET_SHIFT
SCALE_MAX = 127
XSTEPS = np.array(arch.XADAPT_STEPS, np.int64)
XTABLE = np.array(arch.XADAPT_TABLE, np.int64)


def correction(a: np.ndarray, b: np.ndarray, j: np.ndarray) -> np.ndarray:
    """d in [-DMAX, DMAX] for bucket sums a (actual errors) and b (expected) at scale index j."""
    prior = arch.ADAPT_PRIOR * MAD[j]
    num = (a + prior) << 16
    den = b + prior
    d = np.full(np.shape(j), -arch.ADAPT_DMAX, np.int64)
    for step in STEPS:
        d += num >= step * den
    return d


def cross_shift(c: int, a: np.ndarray, b: np.ndarray, j: np.ndarray) -> np.ndarray:
    """XADAPT_TABLE's shift of colour c's index, given the summed clipped errors a and
    expected errors b of the pixel's earlier colours (ignored for c = 0) and the network's j."""
    q = np.zeros(np.shape(j), np.int64)
    if c > 0:
        num = (np.asarray(a, np.int64) + 1) << 16
        den = np.asarray(b, np.int64) + 1
        q += 1
        for step in XSTEPS:
            q += num >= step * den
    return XTABLE[(c * arch.XADAPT_BINS + q) * arch.XADAPT_JBUCKETS + (j >> arch.XADAPT_JSHIFT)]


def abs_error(x: np.ndarray, loc: np.ndarray) -> np.ndarray:
    """min(|256 x - loc|, CLIP): a pixel's error against the location it was coded with."""
    return np.minimum(np.abs(256 * np.asarray(x, np.int64) - loc), arch.ADAPT_CLIP)


def adapt_scales(x: np.ndarray, loc: np.ndarray, j: np.ndarray,
                 coded: np.ndarray | None = None, cross: bool = False) -> np.ndarray:
    """Scale indices to code the pixels x (B, 3, 32, 32) with, given their locations and the
    network's scale indices (same shape, int64): each pixel's bucket sums run over the coded
    pixels before it in raster order in its block and colour (exclusive prefix sums per
    bucket). coded (same shape, bool; default all): the pixels actually pushed (an image's
    edge padding and the copied colours of grey images are not, and do not count)."""
    shape = x.shape
    xs = np.asarray(x, np.int64).reshape(shape[0], shape[1], -1)
    ls = np.asarray(loc, np.int64).reshape(xs.shape)
    js = np.asarray(j, np.int64).reshape(xs.shape)
    keep = np.ones(xs.shape, bool) if coded is None else np.asarray(coded, bool).reshape(xs.shape)
    err = np.where(keep, abs_error(xs, ls), 0)
    mad = np.where(keep, MAD[js], 0)
    bucket = js >> arch.ADAPT_BUCKET_SHIFT
    a = np.zeros_like(err)
    b = np.zeros_like(err)
    for k in np.unique(bucket):
        m = bucket == k
        ek = np.where(m, err, 0)
        mk = np.where(m, mad, 0)
        a = np.where(m, np.cumsum(ek, axis=-1) - ek, a)
        b = np.where(m, np.cumsum(mk, axis=-1) - mk, b)
    out = np.clip(js + correction(a, b, js), 0, SCALE_MAX)
    if cross:
        for c in range(1, shape[1]):
            sa, sb = err[:, :c].sum(1), mad[:, :c].sum(1)
            out[:, c] = np.clip(out[:, c] + cross_shift(c, sa, sb, js[:, c]), 0, SCALE_MAX)
        out[:, 0] = np.clip(out[:, 0] + cross_shift(0, 0, 0, js[:, 0]), 0, SCALE_MAX)
    return out.reshape(shape)


class ScaleState:
    """Bucket sums of a batch of blocks while their pixels are decoded one at a time."""

    def __init__(self, nblocks: int, cross: bool = False):
        self.a = np.zeros((nblocks, 3, NBUCKETS), np.int64)
        self.b = np.zeros((nblocks, 3, NBUCKETS), np.int64)
        self.rows = np.arange(nblocks)
        self.cross = cross
        self.xa = np.zeros(nblocks, np.int64)      # the current pixel's earlier colours
        self.xb = np.zeros(nblocks, np.int64)

    def scale(self, c: int, j: np.ndarray) -> np.ndarray:
        """Scale indices (B,) to code colour c of the next pixel with, network's j (B,)."""
        k = j >> arch.ADAPT_BUCKET_SHIFT
        d = correction(self.a[self.rows, c, k], self.b[self.rows, c, k], j)
        out = np.clip(j + d, 0, SCALE_MAX)
        if self.cross:
            out = np.clip(out + cross_shift(c, self.xa, self.xb, j), 0, SCALE_MAX)
        return out

    def update(self, c: int, j: np.ndarray, x: np.ndarray, loc: np.ndarray) -> None:
        """After popping colour c: x (B,) decoded with location loc and network index j."""
        k = j >> arch.ADAPT_BUCKET_SHIFT
        e = abs_error(x, loc)
        self.a[self.rows, c, k] += e
        self.b[self.rows, c, k] += MAD[j]
        if c == 0:
            self.xa[:] = 0
            self.xb[:] = 0
        self.xa += e
        self.xb += MAD[j]
