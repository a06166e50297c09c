"""Spatial regression of the ar decoder's locations (Config.spatial_adapt = 1, rule in arch.py
at SREG_*): after the colour regression, each colour of a pixel is moved by the block's own
regression of its errors on the errors of the same colour at the pixel's W neighbour, then of
what remains on the N neighbour's, learnt from the earlier pixels of the block.

`spatial_locs` is the encoder's view (whole known blocks, vectorised by exclusive prefix sums);
`SpatialState` the decoder's (one pixel at a time, one row of errors per block and colour).
Both compute the same integers as the C decoder (ar_core.c) and the plain-int reference
(reference.spatial_locs).
"""
from __future__ import annotations

import numpy as np

from archiver.models.image import arch, colour_regress
from archiver.models.image.colour_regress import LOC_LIMIT, excl

BLOCK = 32


def err(x: np.ndarray, loc: np.ndarray) -> np.ndarray:
    """256 x - loc clipped to +-SREG_CLIP (1/256 pixel)."""
    return colour_regress.err(x, loc, arch.SREG_CLIP)


def shift(sxy: np.ndarray, sxx: np.ndarray, j: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The colour regression's rounded shift with this rule's prior, SREG_PRIOR."""
    return colour_regress.shift(sxy, sxx, j, e, arch.SREG_PRIOR)


def spatial_locs(x: np.ndarray, loc: np.ndarray, j: np.ndarray,
                 coded: np.ndarray | None = None) -> np.ndarray:
    """Locations to code blocks x (B, 3, 32, 32) with, given their locations after the colour
    regression and the network's scale indices (same shape, int64); coded (bool, same shape;
    default all): the colours pushed (others keep their locations, count as error 0 and add
    nothing to the sums)."""
    xs = np.asarray(x, np.int64)
    l1 = np.asarray(loc, np.int64)
    js = np.asarray(j, np.int64)
    keep = np.ones(xs.shape, bool) if coded is None else np.asarray(coded, bool)
    u = np.where(keep, err(xs, l1), 0)
    w = np.zeros_like(u)
    w[..., 1:] = u[..., :-1]
    n = np.zeros_like(u)
    n[..., 1:, :] = u[..., :-1, :]
    flat = xs.shape[:2] + (-1,)
    uf, wf, nf, kf = (v.reshape(flat) for v in (u, w, n, keep))
    jf = js.reshape(flat)
    l2 = l1.reshape(flat) + shift(excl(uf * wf), excl(np.where(kf, wf * wf, 0)), jf, wf)
    v = np.where(kf, err(xs.reshape(flat), l2), 0)
    out = np.clip(l2 + shift(excl(v * nf), excl(np.where(kf, nf * nf, 0)), jf, nf),
                  -LOC_LIMIT, LOC_LIMIT)
    return np.where(keep, out.reshape(xs.shape), l1)


class SpatialState:
    """The four sums per colour of a batch of blocks and their last row of errors while their
    pixels are decoded one at a time in raster order: call loc(c, ...) before popping colour
    c of the pixel at column xx, popped(c, ...) after."""

    def __init__(self, nblocks: int):
        self.s = np.zeros((3, 4, nblocks), np.int64)          # WW, UW, NN, VN per colour
        self.row = np.zeros((3, BLOCK, nblocks), np.int64)    # u of the row above, then this
        self.l2 = np.zeros((3, nblocks), np.int64)

    def _wn(self, c: int, xx: int) -> tuple[np.ndarray, np.ndarray]:
        w = self.row[c, xx - 1] if xx > 0 else np.zeros_like(self.row[c, 0])
        return w, self.row[c, xx]

    def loc(self, c: int, l1: np.ndarray, j: np.ndarray, xx: int) -> np.ndarray:
        """Colour c's location (B,) to code with, from its location after the colour
        regression; j (B,) the network's index of the colour."""
        s = self.s[c]
        w, n = self._wn(c, xx)
        self.l2[c] = np.asarray(l1, np.int64) + shift(s[1], s[0], j, w)
        return np.clip(self.l2[c] + shift(s[3], s[2], j, n), -LOC_LIMIT, LOC_LIMIT)

    def popped(self, c: int, x: np.ndarray, l1: np.ndarray, xx: int) -> None:
        """After popping colour c: x (B,), l1 the location before loc() moved it."""
        s = self.s[c]
        w, n = self._wn(c, xx)
        u = err(x, np.asarray(l1, np.int64))
        v = err(x, self.l2[c])
        s[0] += w * w
        s[1] += u * w
        s[2] += n * n
        s[3] += v * n
        self.row[c, xx] = u
