"""Pure-Python twin of the integer forward filter in hmm_core.c (slow; for tests only).

Written from the arithmetic stated in hmm_core.h, with Python integers (no overflow, no numpy),
so that a test comparing the two checks the C code against the specification rather than
against itself.
"""
from __future__ import annotations

from archiver.models.hmm import HmmTables

ALPHA_BITS = 16


def _rescale(v: list[int]) -> list[int]:
    shift = max(v).bit_length() - ALPHA_BITS
    return [a >> shift for a in v] if shift >= 0 else [a << -shift for a in v]


def filter_first(m: HmmTables, x: int) -> list[int]:
    return _rescale([int(m.pi[j]) * int(m.e_freq[j, x]) for j in range(m.K)])


def filter_step(m: HmmTables, prev: list[int], x: int) -> list[int]:
    w = [0] * m.K
    for i in range(m.K):
        if prev[i]:
            for d in range(m.D):
                w[int(m.succ[i, d])] += prev[i] * int(m.a_freq[i, d])
    return _rescale([w[j] * int(m.e_freq[j, x]) for j in range(m.K)])


def filter_all(m: HmmTables, data: bytes) -> list[list[int]]:
    """alpha_t for every t (each a list of K ints)."""
    out = []
    for t, x in enumerate(data):
        out.append(filter_first(m, x) if t == 0 else filter_step(m, out[-1], x))
    return out


def posterior_weights(m: HmmTables, prev: list[int], j: int) -> tuple[list[int], list[int]]:
    """Q(z_t-1 | x_1..t-1, z_t = j) up to normalisation: (predecessor states, weights), in the
    canonical order (increasing source state)."""
    states, weights = [], []
    for i in range(m.K):
        for d in range(m.D):
            if int(m.succ[i, d]) == j:
                states.append(i)
                weights.append(prev[i] * int(m.a_freq[i, d]))
    return states, weights


class ContextCounts:
    """Twin of the adaptive emission counts (hmm_core.h): per order, context -> byte -> count."""

    def __init__(self, orders, weights):
        self.orders, self.weights = tuple(orders), tuple(weights)
        self.counts = [dict() for _ in orders]

    @staticmethod
    def _context(data, t: int, order: int) -> tuple:
        return tuple(data[t - k] if t - k >= 0 else 0 for k in range(1, order + 1))

    def score(self, data, t: int, x: int) -> int:
        return sum(w * table.get(self._context(data, t, o), {}).get(x, 0)
                   for o, w, table in zip(self.orders, self.weights, self.counts))

    def score_total(self, data, t: int) -> int:
        """sum_o B_o n_o: the weight of all counts in the contexts at t (the denominator)."""
        return sum(w * sum(table.get(self._context(data, t, o), {}).values())
                   for o, w, table in zip(self.orders, self.weights, self.counts))

    def update(self, data, t: int, x: int, delta: int = 1) -> None:
        for o, table in zip(self.orders, self.counts):
            row = table.setdefault(self._context(data, t, o), {})
            row[x] = row.get(x, 0) + delta

    def weights_for(self, data, t: int, e_row) -> list[int]:
        """Emission weights of one state: E(j, b) + sum_o B_o c_o(b), for every byte b."""
        w = [int(v) for v in e_row]
        for o, wt, table in zip(self.orders, self.weights, self.counts):
            for b, c in table.get(self._context(data, t, o), {}).items():
                w[b] += wt * c
        return w


class MatchModel:
    """Twin of the match model (hmm_match.h), written from format_spec/codec-text.md 3.3.

    next(data, t) must be called for t = 0, 1, 2, ... and returns (predicted byte or -1,
    weight) for x_t from data[:t]."""

    def __init__(self, minlen: int, weights, size: int, rweights=()):
        self.minlen, self.weights = minlen, tuple(int(w) for w in weights)
        self.rweights = tuple(int(w) for w in rweights)      # () = no recovery
        self.recovering = False
        self.bits = 12
        while self.bits < 22 and (1 << self.bits) < size:
            self.bits += 1
        self.table: dict[int, int] = {}      # hash -> position after the latest occurrence
        self.ptr, self.len = -1, 0

    def _hash(self, data, t: int) -> int:
        key = sum(data[t - k] << (8 * (k - 1)) for k in range(1, self.minlen + 1))
        return ((key * 0x9E3779B97F4A7C15) % (1 << 64)) >> (64 - self.bits)

    def next(self, data, t: int) -> tuple[int, int]:
        cap = len(self.weights) - 1
        if t > 0 and self.ptr >= 0:
            if data[self.ptr] == data[t - 1]:
                self.ptr, self.len = self.ptr + 1, min(cap, self.len + 1)
            elif self.rweights and not (self.recovering and self.len == 0):
                self.ptr, self.len, self.recovering = self.ptr + 1, 0, True
            else:
                self.ptr, self.len, self.recovering = -1, 0, False
        if t >= self.minlen:
            h = self._hash(data, t)
            q = self.table.get(h)
            if (self.ptr < 0 or (self.recovering and self.len < self.minlen)) and q is not None:
                n = 0
                while n < cap and q - n - 1 >= 0 and data[q - n - 1] == data[t - n - 1]:
                    n += 1
                if n >= self.minlen:
                    self.ptr, self.len, self.recovering = q, n, False
            self.table[h] = t
        if self.ptr < 0:
            return -1, 0
        return data[self.ptr], (self.rweights if self.recovering else self.weights)[self.len]


MATCH_BETA = 256      # HMM_BLEND_MATCH_BETA


class Blend:
    """Twin of variant 2's blend (hmm_core.h): the counts of ContextCounts interpolated from
    the highest order down, the match model above them, the HMM emission at the bottom."""

    def __init__(self, orders, beta0, beta1, betad=None):
        self.ctx = ContextCounts(orders, (1,) * len(orders))
        self.beta0, self.beta1 = tuple(beta0), tuple(beta1)
        self.betad = tuple(betad) if betad else tuple(a + b for a, b in zip(beta0, beta1))

    def coefficients(self, data, t: int, pred: int, match: int):
        """(g, [coef_o per order], match weight): P(b) ~ g E(j, b) + sum coef_o c_o(b) + ..."""
        g, mw = 1 << 32, 0
        if pred >= 0 and match > 0:
            d = match + MATCH_BETA
            mw = ((g << 16) // d) * match
            g = g * MATCH_BETA // d
        coef = [0] * len(self.ctx.orders)
        for i in reversed(range(len(self.ctx.orders))):
            row = self.ctx.counts[i].get(self.ctx._context(data, t, self.ctx.orders[i]), {})
            total = sum(row.values())
            if total == 0:
                continue
            distinct = sum(1 for c in row.values() if c)
            beta = self.betad[i] if distinct == 1 else self.beta0[i] + self.beta1[i] * distinct
            d = 4 * total + beta
            coef[i] = (g << 18) // d
            g = g * beta // d
        return max(g, 1), coef, mw

    def terms(self, data, t: int, x: int, pred: int, match: int) -> tuple[int, int]:
        """(g, score of byte x) for the filter."""
        g, coef, mw = self.coefficients(data, t, pred, match)
        score = mw if x == pred else 0
        for i, o in enumerate(self.ctx.orders):
            row = self.ctx.counts[i].get(self.ctx._context(data, t, o), {})
            score += coef[i] * row.get(x, 0)
        return g, score

    def weights_for(self, data, t: int, e_row, pred: int, match: int) -> list[int]:
        """g E(j, b) + sum_o coef_o c_o(b) + [b == pred] match, for every byte b."""
        g, coef, mw = self.coefficients(data, t, pred, match)
        w = [g * int(v) for v in e_row]
        for i, o in enumerate(self.ctx.orders):
            for b, c in self.ctx.counts[i].get(self.ctx._context(data, t, o), {}).items():
                w[b] += coef[i] * c
        if pred >= 0:
            w[pred] += mw
        return w


def _emission(m: HmmTables, x: int, score: int, g: int = 1) -> list[int]:
    shift = max(0, (score + (g << 16)).bit_length() - 17)
    return [(g * int(m.e_freq[j, x]) + score) >> shift for j in range(m.K)]


def filter_all_adaptive(m: HmmTables, data: bytes, orders, weights, match_min: int = 0,
                        match_weights=(), blend=(), match_rweights=()) -> list[list[int]]:
    """alpha_t of the HMM with adaptive emissions: additive counts (weights) or, with
    blend = (beta0s, beta1s), variant 2's blend; with match_min, the match model too."""
    ctx = ContextCounts(orders, weights)
    mix = Blend(orders, *blend) if blend else None
    match = (MatchModel(match_min, match_weights, len(data), match_rweights) if match_min
             else None)
    out = []
    for t, x in enumerate(data):
        pred, mw = match.next(data, t) if match is not None else (-1, 0)
        if mix is not None:
            g, score = mix.terms(data, t, x, pred, mw)
            mix.ctx.update(data, t, x)
        else:
            g, score = 1, ctx.score(data, t, x) + (mw if pred == x else 0)
            ctx.update(data, t, x)
        e = _emission(m, x, score, g)
        if t == 0:
            out.append(_rescale([int(m.pi[j]) * e[j] for j in range(m.K)]))
            continue
        w = [0] * m.K
        prev = out[-1]
        for i in range(m.K):
            if prev[i]:
                for d in range(m.D):
                    w[int(m.succ[i, d])] += prev[i] * int(m.a_freq[i, d])
        out.append(_rescale([w[j] * e[j] for j in range(m.K)]))
    return out
