"""Pure-Python twin of cython_ans.Message: the same API, the identical words.

Written straight from format_spec/rans.md with Python integers and a symbol-by-symbol loop,
sharing no code with the C core (only the committed integer tables), so that tests comparing
the two catch a mistake in either. Slow by design; use it for tests and as a readable spec.
"""
from __future__ import annotations

import numpy as np

from cython_ans import tables

LOWER = 1 << 32                 # the head stays in [2**32, 2**64)
MASK32 = (1 << 32) - 1
MAX_PRECISION = 31
LOC_LIMIT = 1 << 26
SCALE_COUNT = 128
TAIL_FLAG = 128                 # scale_idx j + TAIL_FLAG: the tailed logistic of scale j
TAIL_SHIFT, TAIL_NARROW, TAIL_WIDE = 5, 1, 13
LOGISTIC_MAX_BINS = 1 << 16
UNIFORM_MAX_BINS = 1 << 31
UNIFORM_PRECISION = 32
_STEP = 16 - tables.SIGMOID_STEP_BITS


def source_word(seed: int, i: int) -> int:
    """Word i of the seeded source of initial bits (SplitMix64, high half)."""
    m = (1 << 64) - 1
    z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    return z >> 32


def _sigmoid(d: int, j: int) -> int:
    """F(d): 2**32 sigmoid(d / 256 / SCALES[j]) from the tables, 0 <= j < SCALE_COUNT."""
    t = (abs(d) * tables.SCALE_MANTISSA[j % 8]) >> (4 + j // 8)
    idx = t >> _STEP
    if idx >= tables.SIGMOID_ENTRIES - 1:
        g = tables.SIGMOID[-1]
    else:
        lo, hi = tables.SIGMOID[idx], tables.SIGMOID[idx + 1]
        g = lo + (((hi - lo) * (t & ((1 << _STEP) - 1))) >> _STEP)
    return g if d >= 0 else (1 << 32) - g


def _family(d: int, j: int) -> int:
    """F(d) of the logistic (j < TAIL_FLAG) or the tailed logistic of scale j - TAIL_FLAG."""
    if j < TAIL_FLAG:
        return _sigmoid(d, j)
    j -= TAIL_FLAG
    narrow = _sigmoid(d, max(j - TAIL_NARROW, 0))
    wide = _sigmoid(d, min(j + TAIL_WIDE, SCALE_COUNT - 1))
    return (((1 << TAIL_SHIFT) - 1) * narrow + wide) >> TAIL_SHIFT


def logistic_cum(k: int, loc: int, j: int, nbins: int, precision: int) -> int:
    """Cumulative frequency of edge k (0..nbins) of the discretised logistic (j < TAIL_FLAG)
    or tailed logistic (j >= TAIL_FLAG)."""
    if k <= 0:
        return 0
    if k >= nbins:
        return 1 << precision
    loc = max(-LOC_LIMIT, min(LOC_LIMIT, loc))
    f = _family(256 * k - 128 - loc, j)
    return k + ((f * ((1 << precision) - nbins)) >> 32)


def masked_cdf(mask_bits, loc: int, j: int, nbins: int, precision: int):
    """(cdf, bins) of the masked logistic: the allowed bins in order and the leaky quantiser's
    cumulative frequencies of their weights G(k + 1) - G(k) + 1 (format_spec/rans.md 5.4)."""
    loc = max(-LOC_LIMIT, min(LOC_LIMIT, loc))

    def g(k):
        if k <= 0:
            return 0
        if k >= nbins:
            return 1 << 32
        return _family(256 * k - 128 - loc, j)
    bins = [k for k in range(nbins) if mask_bits[k >> 3] >> (k & 7) & 1]
    w = [g(k + 1) - g(k) + 1 for k in bins]
    shift = 0
    while (sum(w) >> shift) > (1 << 32):
        shift += 1
    v = [x >> shift for x in w]
    m = (1 << precision) - len(bins)
    cdf, cum = [0], 0
    for i, x in enumerate(v):
        cum += x
        cdf.append(i + 1 + cum * m // sum(v))
    return cdf, bins


def _ints(name: str, values, count: int | None = None) -> list[int]:
    a = np.asarray(values)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise ValueError(f"{name} must be integers, got dtype {a.dtype}")
    if count is not None:
        if a.ndim == 0:
            a = np.broadcast_to(a, (count,))
        elif a.size != count:
            raise ValueError(f"{name} has {a.size} entries but there are {count} symbols")
    return [int(v) for v in a.reshape(-1)]


def _precision(precision) -> int:
    if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)) \
            or not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be an int in 1..{MAX_PRECISION}, got {precision!r}")
    return int(precision)


def _cdfs(freqs, precision: int) -> list[list[int]]:
    f = np.asarray(freqs)
    if f.ndim not in (1, 2) or f.size == 0:
        raise ValueError(f"freqs must have shape (n,) or (k, n), got {f.shape}")
    rows = f.reshape(-1, f.shape[-1]).tolist()
    if len(rows[0]) > (1 << precision):
        raise ValueError("more symbols than 2**precision")
    cdfs = []
    for t, row in enumerate(rows):
        if min(row) <= 0:
            raise ValueError(f"frequency of symbol {row.index(min(row))} in table {t} is zero")
        if sum(row) != 1 << precision:
            raise ValueError(f"frequencies of table {t} sum to {sum(row)}, not 2**{precision}")
        c = [0]
        for v in row:
            c.append(c[-1] + int(v))
        cdfs.append(c)
    return cdfs


class Message:
    """Same contract as cython_ans.Message (see there), in pure Python."""

    def __init__(self, seed: int = 0):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
                or not 0 <= seed < (1 << 64):
            raise ValueError(f"seed must be an int in 0..2**64-1, got {seed!r}")
        self.seed = int(seed)
        self.head = LOWER
        self.words: list[int] = []
        self._drawn = 0

    # ---- the coder -----------------------------------------------------------------------

    def _push(self, start: int, freq: int, precision: int) -> None:
        x = self.head
        if x >= freq << (64 - precision):
            self.words.append(x & MASK32)
            x >>= 32
        self.head = (x // freq << precision) + x % freq + start

    def _peek(self, precision: int) -> int:
        return self.head & ((1 << precision) - 1)

    def _advance(self, start: int, freq: int, precision: int) -> None:
        x = freq * (self.head >> precision) + self._peek(precision) - start
        if x < LOWER:
            if self.words:
                w = self.words.pop()
            else:
                w = source_word(self.seed, self._drawn)
                self._drawn += 1
            x = (x << 32) | w
        self.head = x

    # ---- state ---------------------------------------------------------------------------

    @property
    def initial_bits_drawn(self) -> int:
        return 32 * self._drawn

    def bit_length(self) -> int:
        return 32 * len(self.words) + 64

    def copy(self) -> "Message":
        c = Message(self.seed)
        c.head, c.words, c._drawn = self.head, list(self.words), self._drawn
        return c

    def to_bytes(self) -> bytes:
        out = bytearray()
        for w in self.words + [self.head & MASK32, self.head >> 32]:
            out += w.to_bytes(4, "little")
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes, seed: int = 0) -> "Message":
        data = bytes(data)
        if len(data) % 4 or len(data) < 8:
            raise ValueError(f"a rANS message is a whole number of 4-byte words, at least 2; "
                             f"got {len(data)} bytes")
        words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
        head = words[-2] | (words[-1] << 32)
        if head < LOWER:
            raise ValueError("a rANS message's head must be >= 2**32")
        m = cls(seed)
        m.words, m.head = words[:-2], head
        return m

    def is_initial(self) -> bool:
        return self.head == LOWER and all(
            w == source_word(self.seed, i) for i, w in enumerate(reversed(self.words)))

    # ---- categorical ---------------------------------------------------------------------

    def push_categorical(self, symbols, freqs, precision, table_idx=None) -> None:
        p = _precision(precision)
        cdfs = _cdfs(freqs, p)
        syms = _ints("symbols", symbols)
        tids = self._tables(table_idx, len(syms), len(cdfs))
        for s, t in zip(reversed(syms), reversed(tids)):
            c = cdfs[t]
            if not 0 <= s < len(c) - 1:
                raise ValueError(f"symbol {s} is outside 0..{len(c) - 2}")
        for s, t in zip(reversed(syms), reversed(tids)):
            c = cdfs[t]
            self._push(c[s], c[s + 1] - c[s], p)

    def pop_categorical(self, count, freqs, precision, table_idx=None) -> np.ndarray:
        p = _precision(precision)
        cdfs = _cdfs(freqs, p)
        out = []
        for t in self._tables(table_idx, int(count), len(cdfs)):
            c = cdfs[t]
            cf = self._peek(p)
            lo, hi = 0, len(c) - 1          # binary search: c[lo] <= cf < c[hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if c[mid] <= cf:
                    lo = mid
                else:
                    hi = mid
            self._advance(c[lo], c[lo + 1] - c[lo], p)
            out.append(lo)
        return np.array(out, dtype=np.int64)

    @staticmethod
    def _tables(table_idx, count: int, k: int) -> list[int]:
        if table_idx is None:
            if k != 1:
                raise ValueError(f"freqs has {k} tables; give table_idx")
            return [0] * count
        t = _ints("table_idx", table_idx, count)
        if any(not 0 <= v < k for v in t):
            raise ValueError(f"table index outside 0..{k - 1}")
        return t

    # ---- uniform -------------------------------------------------------------------------

    @staticmethod
    def _nbins(nbins, limit: int) -> int:
        if isinstance(nbins, bool) or not isinstance(nbins, (int, np.integer)) \
                or not 1 <= nbins <= limit:
            raise ValueError(f"nbins must be an int in 1..{limit}, got {nbins!r}")
        return int(nbins)

    def push_uniform(self, symbols, nbins) -> None:
        n = self._nbins(nbins, UNIFORM_MAX_BINS)
        syms = _ints("symbols", symbols)
        if any(not 0 <= s < n for s in syms):
            raise ValueError(f"symbol outside 0..{n - 1}")
        for s in reversed(syms):
            lo, hi = (s << 32) // n, ((s + 1) << 32) // n
            self._push(lo, hi - lo, UNIFORM_PRECISION)

    def pop_uniform(self, count, nbins) -> np.ndarray:
        n = self._nbins(nbins, UNIFORM_MAX_BINS)
        out = []
        for _ in range(int(count)):
            cf = self._peek(UNIFORM_PRECISION)
            s = ((cf + 1) * n - 1) >> 32
            lo, hi = (s << 32) // n, ((s + 1) << 32) // n
            self._advance(lo, hi - lo, UNIFORM_PRECISION)
            out.append(s)
        return np.array(out, dtype=np.int64)

    # ---- discretised logistic ------------------------------------------------------------

    def _logistic_args(self, count, loc, scale_idx, nbins, precision):
        p = _precision(precision)
        n = self._nbins(nbins, LOGISTIC_MAX_BINS)
        if n > (1 << p):
            raise ValueError("more bins than 2**precision")
        locs = _ints("loc", loc, count)
        js = _ints("scale_idx", scale_idx, count)
        if any(not -(1 << 31) <= v < (1 << 31) for v in locs):
            raise ValueError("loc must fit in int32")
        if any(not 0 <= j < SCALE_COUNT + TAIL_FLAG for j in js):
            raise ValueError(f"scale_idx outside 0..{SCALE_COUNT + TAIL_FLAG - 1}")
        return p, n, locs, js

    def push_logistic(self, symbols, loc, scale_idx, nbins, precision) -> None:
        syms = _ints("symbols", symbols)
        p, n, locs, js = self._logistic_args(len(syms), loc, scale_idx, nbins, precision)
        if any(not 0 <= s < n for s in syms):
            raise ValueError(f"symbol outside 0..{n - 1}")
        for s, l, j in zip(reversed(syms), reversed(locs), reversed(js)):
            lo, hi = logistic_cum(s, l, j, n, p), logistic_cum(s + 1, l, j, n, p)
            self._push(lo, hi - lo, p)

    def push_logistic_masked(self, symbols, loc, scale_idx, mask_idx, masks, nbins,
                             precision) -> None:
        syms = _ints("symbols", symbols)
        p, n, locs, js = self._logistic_args(len(syms), loc, scale_idx, nbins, precision)
        idx = _ints("mask_idx", mask_idx, len(syms))
        rows = np.asarray(masks).tolist()
        for s, l, j, i in zip(reversed(syms), reversed(locs), reversed(js), reversed(idx)):
            if i < 0:
                lo, hi = logistic_cum(s, l, j, n, p), logistic_cum(s + 1, l, j, n, p)
            else:
                cdf, bins = masked_cdf(rows[i], l, j, n, p)
                if s not in bins:
                    raise ValueError(f"symbol {s} is not allowed by mask {i}")
                r = bins.index(s)
                lo, hi = cdf[r], cdf[r + 1]
            self._push(lo, hi - lo, p)

    def pop_logistic_masked(self, count, loc, scale_idx, mask_idx, masks, nbins,
                            precision) -> np.ndarray:
        p, n, locs, js = self._logistic_args(int(count), loc, scale_idx, nbins, precision)
        idx = _ints("mask_idx", mask_idx, int(count))
        rows = np.asarray(masks).tolist()
        out = []
        for l, j, i in zip(locs, js, idx):
            if i < 0:
                out.append(int(self.pop_logistic(1, [l], [j], n, p)[0]))
                continue
            cdf, bins = masked_cdf(rows[i], l, j, n, p)
            cf = self._peek(p)
            r = max(k for k in range(len(bins)) if cdf[k] <= cf)
            self._advance(cdf[r], cdf[r + 1] - cdf[r], p)
            out.append(bins[r])
        return np.array(out, dtype=np.int64)

    def pop_logistic(self, count, loc, scale_idx, nbins, precision) -> np.ndarray:
        p, n, locs, js = self._logistic_args(int(count), loc, scale_idx, nbins, precision)
        out = []
        for l, j in zip(locs, js):
            cf = self._peek(p)
            lo, hi = 0, n                  # C(lo) <= cf < C(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if logistic_cum(mid, l, j, n, p) <= cf:
                    lo = mid
                else:
                    hi = mid
            c0, c1 = logistic_cum(lo, l, j, n, p), logistic_cum(lo + 1, l, j, n, p)
            self._advance(c0, c1 - c0, p)
            out.append(lo)
        return np.array(out, dtype=np.int64)
