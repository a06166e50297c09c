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


def _emission(m: HmmTables, x: int, score: int) -> list[int]:
    shift = max(0, (score + (1 << 16)).bit_length() - 17)
    return [(int(m.e_freq[j, x]) + score) >> shift for j in range(m.K)]


def filter_all_adaptive(m: HmmTables, data: bytes, orders, weights) -> list[list[int]]:
    """alpha_t of the HMM with adaptive emissions (scores from counts of x_<t)."""
    ctx = ContextCounts(orders, weights)
    out = []
    for t, x in enumerate(data):
        e = _emission(m, x, ctx.score(data, t, x))
        ctx.update(data, t, x)
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
