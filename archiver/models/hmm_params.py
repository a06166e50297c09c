"""Turn float HMM parameters (from training, or sampled) into the integer tables of hmm.py.

Every table goes through THE leaky quantiser (archiver.entropy.quantize_freqs), so all entries
are >= 1 and each row sums to 2**PREC. Sparse transitions keep the D largest entries of each
row of A (the trainer's pruned rows have exactly D nonzeros).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from archiver.models.hmm import PREC, HmmTables

_SCALE = float(1 << 40)     # probabilities -> uint64 weights for the quantiser


def _weights(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum(-1, keepdims=True)
    return np.round(p * _SCALE).astype(np.uint64)


def tables_from_probs(pi: np.ndarray, A: np.ndarray, E: np.ndarray,
                      degree: int | None = None) -> HmmTables:
    from archiver.entropy import quantize_freqs
    K = A.shape[0]
    D = degree or int(max(1, (A > 0).sum(1).max()))
    D = min(D, K)
    if D == K:
        succ = np.tile(np.arange(K, dtype=np.uint16), (K, 1))
    else:
        # the D largest entries, listed in increasing state order (canonical)
        succ = np.sort(np.argsort(-A, axis=1, kind="stable")[:, :D], axis=1).astype(np.uint16)
    a_rows = np.take_along_axis(A, succ.astype(np.int64), axis=1)
    return HmmTables(pi=quantize_freqs(_weights(pi), PREC).astype(np.uint32),
                     succ=succ,
                     a_freq=quantize_freqs(_weights(a_rows), PREC).astype(np.uint32),
                     e_freq=quantize_freqs(_weights(E), PREC).astype(np.uint32))


def export_npz(pi, A, E, out: Path, degree: int | None = None) -> HmmTables:
    tables = tables_from_probs(pi, A, E, degree)
    tables.save(out)
    return tables


def random_tables(K: int, D: int, seed: int = 0, n_symbols: int = 256,
                  concentration: float = 1.0) -> HmmTables:
    """Dirichlet-sampled model (as in the paper's first experiment); bytes >= n_symbols get only
    the leaky minimum so that samples stay within the first n_symbols byte values."""
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.full(K, concentration))
    A = np.zeros((K, K))
    for i in range(K):
        cols = rng.choice(K, size=D, replace=False)
        A[i, cols] = rng.dirichlet(np.full(D, concentration))
    E = np.zeros((K, 256))
    E[:, :n_symbols] = rng.dirichlet(np.full(n_symbols, concentration), size=K)
    return tables_from_probs(pi, A + 0.0, E, degree=D)
