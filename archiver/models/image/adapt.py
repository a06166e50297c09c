"""Scale adaptation of the ar decoder (Config.scale_adapt, rule in arch.py at ADAPT_*): the
scale index each pixel is coded with, from the errors of the earlier pixels of its block.

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


def correction(a: np.ndarray, b: np.ndarray, j: np.ndarray) -> np.ndarray:
    """d in [-DMAX, DMAX] for bucket sums a (actual errors) and b (expected) at scale index j."""
    prior = arch.ADAPT_PRIOR * MAD[j]
    num = (a + prior) << 16
    den = b + prior
    d = np.full(np.shape(j), -arch.ADAPT_DMAX, np.int64)
    for step in STEPS:
        d += num >= step * den
    return d


def abs_error(x: np.ndarray, loc: np.ndarray) -> np.ndarray:
    """min(|256 x - loc|, CLIP): a pixel's error against the location it was coded with."""
    return np.minimum(np.abs(256 * np.asarray(x, np.int64) - loc), arch.ADAPT_CLIP)


def adapt_scales(x: np.ndarray, loc: np.ndarray, j: np.ndarray,
                 coded: np.ndarray | None = None) -> np.ndarray:
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
    return out.reshape(shape)


class ScaleState:
    """Bucket sums of a batch of blocks while their pixels are decoded one at a time."""

    def __init__(self, nblocks: int):
        self.a = np.zeros((nblocks, 3, NBUCKETS), np.int64)
        self.b = np.zeros((nblocks, 3, NBUCKETS), np.int64)
        self.rows = np.arange(nblocks)

    def scale(self, c: int, j: np.ndarray) -> np.ndarray:
        """Scale indices (B,) to code colour c of the next pixel with, network's j (B,)."""
        k = j >> arch.ADAPT_BUCKET_SHIFT
        d = correction(self.a[self.rows, c, k], self.b[self.rows, c, k], j)
        return np.clip(j + d, 0, SCALE_MAX)

    def update(self, c: int, j: np.ndarray, x: np.ndarray, loc: np.ndarray) -> None:
        """After popping colour c: x (B,) decoded with location loc and network index j."""
        k = j >> arch.ADAPT_BUCKET_SHIFT
        self.a[self.rows, c, k] += abs_error(x, loc)
        self.b[self.rows, c, k] += MAD[j]
