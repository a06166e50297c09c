"""THE leaky quantiser: integer weights -> integer frequencies for the rANS coder.

Every model that feeds the coder turns its distribution into frequencies here (or through
the identical C routine `rans_quantize_cdf` in cython_ans/rans_core.h), so that every symbol
keeps a frequency >= 1 and every table sums to exactly 2**precision. The rule
(format_spec/rans.md, "Leaky quantiser") uses integers only:

    s    = the smallest shift with (sum w) >> s <= 2**32
    v_i  = w_i >> s,  V = sum v_i,  M = 2**precision - n
    C(k) = k + floor((v_0 + ... + v_{k-1}) * M / V),  freq_i = C(i + 1) - C(i)
"""
from __future__ import annotations

import numpy as np

MAX_PRECISION = 31
_U64_MAX = (1 << 64) - 1


def _check_precision(where: str, precision: int) -> int:
    if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
        raise ValueError(f"{where}: precision must be an int, got {type(precision).__name__}")
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"{where}: precision {precision} is outside 1..{MAX_PRECISION}")
    return int(precision)


def quantize_cdf(weights, precision: int) -> np.ndarray:
    """Cumulative frequencies (..., n + 1) as uint64: C(0) = 0 ... C(n) = 2**precision."""
    where = "quantize_freqs"
    p = _check_precision(where, precision)
    w = np.asarray(weights)
    if w.ndim == 0 or w.shape[-1] == 0:
        raise ValueError(f"{where}: weights must have shape (..., n) with n >= 1, got {w.shape}")
    if w.dtype == np.bool_ or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"{where}: weights must be integers (uint64), got dtype {w.dtype}; "
                         "scale float probabilities to integers first")
    n = w.shape[-1]
    if w.size and np.issubdtype(w.dtype, np.signedinteger) and int(w.min()) < 0:
        raise ValueError(f"{where}: weights must be nonnegative, got {int(w.min())}")
    if n > (1 << p):
        raise ValueError(f"{where}: {n} symbols cannot each get a frequency >= 1 at precision "
                         f"{p}; raise the precision")
    w = w.astype(np.uint64)
    if w.size and int(w.max()) > _U64_MAX // n:
        raise ValueError(f"{where}: weight {int(w.max())} is too large; each weight must be "
                         f"at most (2**64 - 1) // n = {_U64_MAX // n}")
    total = w.sum(axis=-1, dtype=np.uint64)
    if w.size and (total == 0).any():
        raise ValueError(f"{where}: a row of weights is all zero; give at least one positive "
                         "weight per row")
    limit = np.uint64(1 << 32)
    shift = np.zeros(total.shape, dtype=np.uint64)
    while True:
        over = (total >> shift) > limit
        if not over.any():
            break
        shift += over.astype(np.uint64)
    v = w >> shift[..., None]
    cum = np.cumsum(v, axis=-1, dtype=np.uint64)
    v_total = cum[..., -1:]
    m = np.uint64((1 << p) - n)
    k = np.arange(1, n + 1, dtype=np.uint64)
    c = np.zeros(w.shape[:-1] + (n + 1,), dtype=np.uint64)
    c[..., 1:] = k + (cum * m) // v_total
    return c


def quantize_freqs(weights, precision: int) -> np.ndarray:
    """Frequencies uint32 (..., n) from nonnegative integer weights (..., n) (uint64; not all
    zero per row; each <= (2**64 - 1) // n; n <= 2**precision): every entry >= 1, each row
    sums to exactly 2**precision. Integer-exact and identical to the C quantiser."""
    return np.diff(quantize_cdf(weights, precision), axis=-1).astype(np.uint32)
