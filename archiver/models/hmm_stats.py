"""Measurements on the integer HMM (float64 is fine here: nothing below steers the coder).

information_content(tables, data) is h(x) = -log2 P(x) under the model the coder uses (the
integer tables read as probabilities), by the exact scaled forward algorithm; sample() draws a
sequence from that model. Both serve benchmarks (IconoCLaSM Figure 1) and tests.
"""
from __future__ import annotations

import numpy as np

from archiver.models.hmm import PREC, HmmTables


def _probs(t: HmmTables):
    scale = float(1 << PREC)
    A = np.zeros((t.K, t.K))
    np.put_along_axis(A, t.succ.astype(np.int64), t.a_freq / scale, axis=1)
    return t.pi / scale, A, t.e_freq / scale


def information_content(t: HmmTables, data: bytes, orders=(), weights=(), **variant2) -> float:
    """-log2 P(x_1..T) in bits (0 for empty data); with `orders`/`weights`, under the HMM with
    adaptive emissions P(b | j, x_<t) = (E(j, b) + sum_o B_o c_o(b)) / (2^16 + sum_o B_o n_o);
    with `blend` (and match_min, match_weights, match_rweights) too, under variant 2's blend
    (HmmCoder's keyword arguments)."""
    from archiver.models.hmm_reference import ContextCounts
    if not data:
        return 0.0
    if variant2.get("blend"):
        return _information_content_blend(t, data, orders, **variant2)
    pi, A, E = _probs(t)
    x = np.frombuffer(data, dtype=np.uint8)
    ctx = ContextCounts(orders, weights) if orders else None
    seq = list(data)
    bits = 0.0
    a = None
    for t_ in range(len(x)):
        e = E[:, x[t_]]
        if ctx is not None:
            score = ctx.score(seq, t_, int(x[t_]))
            total = ctx.score_total(seq, t_)
            e = (t.e_freq[:, x[t_]] + float(score)) / (float(1 << PREC) + float(total))
            ctx.update(seq, t_, int(x[t_]))
        a = pi * e if a is None else (a @ A) * e
        c = a.sum()
        bits -= np.log2(c)
        a /= c
    return float(bits)


def _information_content_blend(t: HmmTables, data: bytes, orders, blend, match_min=0,
                               match_weights=(), match_rweights=()) -> float:
    """Variant 2: P(b | j, x_<t) = W_t(j, b) / sum_b W_t(j, b) with the integer weights of the
    reference twin (format_spec/codec-text.md 3.3); the sum does not depend on j."""
    from archiver.models.hmm_reference import Blend, MatchModel
    pi, A, _ = _probs(t)
    mix = Blend(orders, *blend)
    match = MatchModel(match_min, match_weights, len(data), match_rweights) if match_min else None
    seq = list(data)
    bits, a = 0.0, None
    for t_, x in enumerate(seq):
        pred, mw = match.next(seq, t_) if match is not None else (-1, 0)
        g, coef, mwt = mix.coefficients(seq, t_, pred, mw)
        total = g * (1 << PREC) + mwt
        for i, o in enumerate(orders):
            total += coef[i] * sum(mix.ctx.counts[i].get(mix.ctx._context(seq, t_, o), {}).values())
        _, score = mix.terms(seq, t_, x, pred, mw)
        e = (g * t.e_freq[:, x].astype(np.float64) + float(score)) / float(total)
        mix.ctx.update(seq, t_, x)
        a = pi * e if a is None else (a @ A) * e
        c = a.sum()
        bits -= np.log2(c)
        a /= c
    return float(bits)


def information_content_mixed(t: HmmTables, data: bytes, coder) -> float:
    """Variant 3 (format_spec/codec-text.md 3.4): P(x_t | j) = (C_t(j, x_t + 1) - C_t(j, x_t))
    / 2^24 with the context-mixing model's masses (`coder`: an HmmCoder with cm_lambda), the
    very frequencies the coder uses."""
    from archiver.models.hmm_cm_reference import v3_cum
    if not data:
        return 0.0
    pi, A, _ = _probs(t)
    ecum = np.zeros((t.K, 257), dtype=np.int64)
    np.cumsum(t.e_freq, axis=1, out=ecum[:, 1:])
    qcum, q = coder.cm_masses(data)
    lam = coder.cm_lambda
    bits, a = 0.0, None
    for t_, x in enumerate(data):
        lo, hi = int(qcum[t_]), int(qcum[t_]) + int(q[t_])
        e = np.array([v3_cum(lam, int(ecum[j, x + 1]), hi, x + 1) -
                      v3_cum(lam, int(ecum[j, x]), lo, x) for j in range(t.K)],
                     dtype=np.float64) / float(1 << 24)
        a = pi * e if a is None else (a @ A) * e
        c = a.sum()
        bits -= np.log2(c)
        a /= c
    return float(bits)


def sample(t: HmmTables, length: int, seed: int = 0) -> bytes:
    pi, A, E = _probs(t)
    rng = np.random.default_rng(seed)
    out = np.empty(length, dtype=np.uint8)
    z = rng.choice(t.K, p=pi)
    for i in range(length):
        if i:
            z = rng.choice(t.K, p=A[z])
        out[i] = rng.choice(256, p=E[z])
    return out.tobytes()
