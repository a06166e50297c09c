"""Discretised logistic family, numpy side: the exact frequencies the rANS coder uses.

Mirrors `rans_logistic_cum` in cython_ans/rans_core.h with numpy integer arithmetic on the
committed tables (cython_ans/tables.py); tests check it against the coder word for word.
Bins 0..nbins-1, bin k centred at k, tails folded into the edge bins; `loc` in 1/256 bins
(int32, clamped to +-LOC_LIMIT); `scale_idx` j selects SCALES[j] = 2**(-4 + j/8) bins, and
j + TAIL_FLAG the tailed logistic of scale j (a 2^-TAIL_SHIFT share at scale index
j + TAIL_WIDE, the rest at j - TAIL_NARROW).
"""
from __future__ import annotations

import numpy as np

from archiver.entropy.quantize import _check_precision
from cython_ans import tables

LOC_FRAC_BITS = 8
SCALE_COUNT = 128
TAIL_FLAG = 128   # scale_idx j + TAIL_FLAG: the tailed logistic of scale j
TAIL_SHIFT, TAIL_NARROW, TAIL_WIDE = 5, 1, 13
LOC_LIMIT = 1 << 26
MAX_BINS = 1 << 16

_MANT = np.array(tables.SCALE_MANTISSA, dtype=np.int64)
_SIG = np.array(tables.SIGMOID, dtype=np.int64)
_STEP = 16 - tables.SIGMOID_STEP_BITS
_LAST = tables.SIGMOID_ENTRIES - 1


def _check_bins(where: str, nbins: int, p: int) -> int:
    if isinstance(nbins, bool) or not isinstance(nbins, (int, np.integer)) \
            or not 1 <= nbins <= MAX_BINS:
        raise ValueError(f"{where}: nbins must be an int in 1..{MAX_BINS}, got {nbins!r}")
    if nbins > (1 << p):
        raise ValueError(f"{where}: {nbins} bins cannot each get a frequency >= 1 at precision "
                         f"{p}; raise the precision")
    return int(nbins)


def _params(where: str, loc, scale_idx):
    loc = np.asarray(loc)
    j = np.asarray(scale_idx)
    for name, a in (("loc", loc), ("scale_idx", j)):
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{where}: {name} must be integers, got dtype {a.dtype}")
    if loc.size and (int(loc.min()) < -(1 << 31) or int(loc.max()) >= (1 << 31)):
        raise ValueError(f"{where}: loc must fit in int32")
    if j.size and (int(j.min()) < 0 or int(j.max()) >= SCALE_COUNT + TAIL_FLAG):
        raise ValueError(f"{where}: scale_idx must be in 0..{SCALE_COUNT + TAIL_FLAG - 1} "
                         f"(0..{SCALE_COUNT - 1}, plus {TAIL_FLAG} for the tailed logistic)")
    loc = np.clip(loc.astype(np.int64), -LOC_LIMIT, LOC_LIMIT)
    return loc, j.astype(np.int64)


def _sigmoid_q32(d: np.ndarray, j: np.ndarray) -> np.ndarray:
    """2**32 * sigmoid(d / 256 / SCALES[j]) from the integer tables (int64)."""
    a = np.abs(d)
    t = (a * _MANT[j & 7]) >> (4 + (j >> 3))
    idx = t >> _STEP
    inside = idx < _LAST
    i = np.where(inside, idx, 0)
    lo = _SIG[i]
    hi = _SIG[i + 1]
    g = np.where(inside, lo + (((hi - lo) * (t & ((1 << _STEP) - 1))) >> _STEP), _SIG[_LAST])
    return np.where(d < 0, (1 << 32) - g, g)


def _family_q32(d: np.ndarray, j: np.ndarray) -> np.ndarray:
    """F(d) of the logistic (j < TAIL_FLAG) or the tailed logistic (j >= TAIL_FLAG)."""
    if not np.any(j >= TAIL_FLAG):
        return _sigmoid_q32(d, j)
    tail = j >= TAIL_FLAG
    base = np.where(tail, j - TAIL_FLAG, j)
    narrow = _sigmoid_q32(d, np.where(tail, np.maximum(base - TAIL_NARROW, 0), base))
    wide = _sigmoid_q32(d, np.minimum(base + TAIL_WIDE, SCALE_COUNT - 1))
    mixed = (((1 << TAIL_SHIFT) - 1) * narrow + wide) >> TAIL_SHIFT
    return np.where(tail, mixed, narrow)


def _cum(k: np.ndarray, loc: np.ndarray, j: np.ndarray, nbins: int, p: int) -> np.ndarray:
    """Cumulative frequency of bin edge k in 0..nbins (broadcasting), as int64."""
    m = (1 << p) - nbins
    f = _family_q32(256 * k - 128 - loc, j)
    # f < 2**32 and m < 2**31: the product fits in uint64 (not always in int64)
    c = k + ((f.astype(np.uint64) * np.uint64(m)) >> np.uint64(32)).astype(np.int64)
    c = np.where(k <= 0, 0, c)
    return np.where(k >= nbins, 1 << p, c)


def logistic_cdf(loc, scale_idx, nbins: int, precision: int) -> np.ndarray:
    """Cumulative frequencies (..., nbins + 1), int64, for broadcast loc and scale_idx."""
    where = "logistic_cdf"
    p = _check_precision(where, precision)
    nb = _check_bins(where, nbins, p)
    loc, j = _params(where, loc, scale_idx)
    k = np.arange(nb + 1, dtype=np.int64)
    return _cum(k, loc[..., None], j[..., None], nb, p)


def logistic_freqs(loc, scale_idx, nbins: int, precision: int) -> np.ndarray:
    """Frequencies uint32 (..., nbins) the coder uses: all >= 1, summing to 2**precision."""
    return np.diff(logistic_cdf(loc, scale_idx, nbins, precision), axis=-1).astype(np.uint32)


def logistic_codelength(symbols, loc, scale_idx, nbins: int, precision: int) -> float:
    """Information content in bits of `symbols` under the coder's exact frequencies:
    sum of precision - log2(freq). The message grows by this plus < 1e-4 bits/symbol."""
    where = "logistic_codelength"
    p = _check_precision(where, precision)
    nb = _check_bins(where, nbins, p)
    s = np.asarray(symbols)
    if s.dtype == np.bool_ or not (np.issubdtype(s.dtype, np.integer) or s.size == 0):
        raise ValueError(f"{where}: symbols must be integers, got dtype {s.dtype}")
    s = s.astype(np.int64)
    if s.size and (int(s.min()) < 0 or int(s.max()) >= nb):
        raise ValueError(f"{where}: symbols must be in 0..{nb - 1}")
    loc, j = _params(where, loc, scale_idx)
    s, loc, j = np.broadcast_arrays(s, loc, j)
    freq = _cum(s + 1, loc, j, nb, p) - _cum(s, loc, j, nb, p)
    return float(np.sum(p - np.log2(freq.astype(np.float64))))


def masked_logistic_codelength(symbols, loc, scale_idx, mask_idx, masks, nbins: int,
                               precision: int) -> float:
    """logistic_codelength of the masked logistic (format_spec/rans.md 5.4, the coder's
    push_logistic_masked): symbols with mask_idx >= 0 are coded among the bins their row of
    `masks` (uint8, bit k & 7 of byte k >> 3) allows, the rest with the plain logistic. The
    frequencies come from the coder itself (cython_ans._rans.masked_freqs)."""
    from cython_ans._rans import masked_freqs
    where = "masked_logistic_codelength"
    s, loc, j, mi = (np.ravel(a) for a in np.broadcast_arrays(
        np.asarray(symbols, np.int64), loc, scale_idx, mask_idx))
    f = masked_freqs(s, loc, j, mi, masks, nbins, precision)
    if f.size and not f.all():
        raise ValueError(f"{where}: symbol at index {int(np.argmin(f))} is not allowed by "
                         "its mask")
    return float(np.sum(precision - np.log2(f.astype(np.float64))))
