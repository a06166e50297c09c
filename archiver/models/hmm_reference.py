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
