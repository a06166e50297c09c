"""Colour regression of the ar decoder's locations (Config.colour_adapt = 1, rule in arch.py at
CREG_*): G and B of a pixel are moved by the block's own regression of their errors on the
errors of the pixel's earlier colours, learnt from the earlier pixels of the block.

`regress_locs` is the encoder's view (whole known blocks, vectorised by exclusive prefix
sums); `RegressState` the decoder's (one pixel at a time). Both compute the same integers as
the C decoder (ar_core.c) and the plain-int reference (reference.regress_locs).
"""
from __future__ import annotations

import numpy as np

from archiver.models.image import arch

MAD = np.array(arch.ADAPT_MAD, np.int64)
LOC_LIMIT = 1 << 26


def err(x: np.ndarray, loc: np.ndarray, clip: int = arch.CREG_CLIP) -> np.ndarray:
    """256 x - loc clipped to +-clip (1/256 pixel)."""
    return np.clip(256 * np.asarray(x, np.int64) - loc, -clip, clip)


def shift(sxy: np.ndarray, sxx: np.ndarray, j: np.ndarray, e: np.ndarray,
          prior: int = arch.CREG_PRIOR) -> np.ndarray:
    """round(sxy * e / (sxx + prior * MAD[j]^2)), halves up (floor division, den > 0)."""
    den = sxx + prior * MAD[j] * MAD[j]
    return (2 * sxy * e + den) // (2 * den)


def excl(v: np.ndarray) -> np.ndarray:
    """Exclusive prefix sums along the last axis (raster order)."""
    return np.cumsum(v, axis=-1) - v


def regress_locs(x: np.ndarray, loc: np.ndarray, j: np.ndarray,
                 coded: np.ndarray | None = None) -> np.ndarray:
    """Locations to code blocks x (B, 3, 32, 32) with, given the chained locations and the
    network's scale indices (same shape, int64); coded (bool, same shape; default all): the
    pixels pushed (only whole RGB pixels enter the sums; others keep their locations)."""
    shape = x.shape
    xs = np.asarray(x, np.int64).reshape(shape[0], 3, -1)
    ls = np.asarray(loc, np.int64).reshape(xs.shape).copy()
    js = np.asarray(j, np.int64).reshape(xs.shape)
    keep = np.ones(xs.shape[::2], bool) if coded is None else \
        np.asarray(coded, bool).reshape(xs.shape).all(1)
    r0, g0, b0 = (np.where(keep, err(xs[:, c], ls[:, c]), 0) for c in range(3))
    srr = excl(r0 * r0)
    g_shift = shift(excl(g0 * r0), srr, js[:, 0], r0)
    b1_loc = ls[:, 2] + shift(excl(b0 * r0), srr, js[:, 0], r0)
    g_loc = np.clip(ls[:, 1] + g_shift, -LOC_LIMIT, LOC_LIMIT)
    g1 = np.where(keep, err(xs[:, 1], g_loc), 0)
    b1 = np.where(keep, err(xs[:, 2], b1_loc), 0)
    b_loc = np.clip(b1_loc + shift(excl(b1 * g1), excl(g1 * g1), js[:, 1], g1),
                    -LOC_LIMIT, LOC_LIMIT)
    ls[:, 1] = np.where(keep, g_loc, ls[:, 1])
    ls[:, 2] = np.where(keep, b_loc, ls[:, 2])
    return ls.reshape(shape)


class RegressState:
    """The five sums of a batch of blocks while their pixels are decoded one at a time:
    call loc(c, ...) before popping colour c of a pixel, popped(c, ...) after."""

    def __init__(self, nblocks: int):
        self.s = np.zeros((5, nblocks), np.int64)     # RR, GR, BR, GG, BG
        self.e = np.zeros((4, nblocks), np.int64)     # r, g (corrected), g0, b0 of the pixel
        self.b1 = np.zeros(nblocks, np.int64)         # B's location after the R shift

    def loc(self, c: int, loc: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Colour c's location (B,) to code with, from the chained one; j (B, 3) the
        network's indices of the pixel."""
        loc = np.asarray(loc, np.int64)
        s, e = self.s, self.e
        if c == 1:
            return np.clip(loc + shift(s[1], s[0], j[:, 0], e[0]), -LOC_LIMIT, LOC_LIMIT)
        if c == 2:
            self.b1 = loc + shift(s[2], s[0], j[:, 0], e[0])
            return np.clip(self.b1 + shift(s[4], s[3], j[:, 1], e[1]), -LOC_LIMIT, LOC_LIMIT)
        return loc

    def popped(self, c: int, x: np.ndarray, chained: np.ndarray, coded: np.ndarray) -> None:
        """After popping colour c: x (B,), chained the location before loc() moved it,
        coded the location it was popped with. After B the block's sums gain the pixel."""
        s, e = self.s, self.e
        if c == 0:
            e[0] = err(x, coded)
        elif c == 1:
            e[1], e[2] = err(x, coded), err(x, chained)
        else:
            b0, b1 = err(x, chained), err(x, self.b1)
            s[0] += e[0] * e[0]
            s[1] += e[2] * e[0]
            s[2] += b0 * e[0]
            s[3] += e[1] * e[1]
            s[4] += b1 * e[1]
