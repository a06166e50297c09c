"""The byte-level HMM of the text codec as integer tables (no float anywhere after loading).

A model is K hidden states; state i has D successor slots (succ[i, d], a_freq[i, d]) and an
emission table e_freq[i, 0..255]. Each table (pi, every a_freq row, every e_freq row) holds
integers >= 1 that sum to exactly 2**PREC, so every byte and every allowed transition has mass
and the same tables serve the forward filter and the rANS coder. Derived arrays (the emission
table transposed for the filter, predecessor lists for the bits-back posterior) are built here
once, at load time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PREC = 16                  # must equal HMM_PREC in hmm_core.h
WEIGHTS_NAME = "text-hmm.npz"


class ModelFormatError(ValueError):
    """The HMM tables are malformed (wrong shapes, zero or non-normalised frequencies)."""


@dataclass(frozen=True)
class HmmTables:
    pi: np.ndarray         # (K,) uint32
    succ: np.ndarray       # (K, D) uint16
    a_freq: np.ndarray     # (K, D) uint32
    e_freq: np.ndarray     # (K, 256) uint32
    # derived
    e_col: np.ndarray = field(init=False, repr=False)       # (256, K) uint32, e_freq transposed
    pred_start: np.ndarray = field(init=False, repr=False)  # (K+1,) int32: CSR over target state
    pred_state: np.ndarray = field(init=False, repr=False)  # (nnz,) int32: source state i
    pred_slot: np.ndarray = field(init=False, repr=False)   # (nnz,) int32: slot d, succ[i,d]==j

    @property
    def K(self) -> int:
        return int(self.pi.shape[0])

    @property
    def D(self) -> int:
        return int(self.succ.shape[1])

    def __post_init__(self):
        K = self.pi.shape[0]
        _check(self.pi.ndim == 1 and 1 <= K <= 4096, f"pi has shape {self.pi.shape} (K <= 4096)")
        _check(self.succ.ndim == 2 and self.succ.shape[0] == K and 1 <= self.succ.shape[1] <= K,
               f"succ has shape {self.succ.shape} for K={K}")
        _check(self.a_freq.shape == self.succ.shape, "a_freq and succ differ in shape")
        _check(self.e_freq.shape == (K, 256), f"e_freq has shape {self.e_freq.shape}")
        for name, table in (("pi", self.pi[None]), ("a_freq", self.a_freq), ("e_freq", self.e_freq)):
            _check(table.min() >= 1, f"{name} has a zero frequency (tables must be leaky)")
            _check(bool(np.all(table.astype(np.uint64).sum(-1) == (1 << PREC))),
                   f"{name} rows do not sum to 2**{PREC}")
        _check(int(self.succ.max()) < K, "succ names a state >= K")
        for i in range(K):
            _check(len(np.unique(self.succ[i])) == self.succ.shape[1],
                   f"state {i} lists a successor twice")
        object.__setattr__(self, "e_col", np.ascontiguousarray(self.e_freq.T))
        src = np.repeat(np.arange(K, dtype=np.int32), self.D)
        slot = np.tile(np.arange(self.D, dtype=np.int32), K)
        dst = self.succ.reshape(-1).astype(np.int64)
        order = np.argsort(dst * K + src, kind="stable")   # by target, then source: canonical
        object.__setattr__(self, "pred_state", np.ascontiguousarray(src[order]))
        object.__setattr__(self, "pred_slot", np.ascontiguousarray(slot[order]))
        start = np.zeros(K + 1, dtype=np.int32)
        np.cumsum(np.bincount(dst, minlength=K), out=start[1:])
        object.__setattr__(self, "pred_start", start)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, pi=self.pi, succ=self.succ, a_freq=self.a_freq,
                            e_freq=self.e_freq, prec=np.int32(PREC))

    @staticmethod
    def load(path: Path) -> "HmmTables":
        with np.load(path, allow_pickle=False) as z:
            _check(int(z["prec"]) == PREC, f"{path}: precision {int(z['prec'])}, expected {PREC}")
            return HmmTables(pi=z["pi"].astype(np.uint32), succ=z["succ"].astype(np.uint16),
                             a_freq=z["a_freq"].astype(np.uint32),
                             e_freq=z["e_freq"].astype(np.uint32))


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ModelFormatError(f"invalid HMM tables: {what}")


_cache: dict[str, tuple[HmmTables, str]] = {}


def load_shipped(name: str = WEIGHTS_NAME) -> tuple[HmmTables, str]:
    """The shipped tables (hash-checked) and their SHA-256; loaded once per process."""
    from archiver.models.weights import verified_path
    path, digest = verified_path(name)
    hit = _cache.get(name)
    if hit is None or hit[1] != digest:
        hit = _cache[name] = (HmmTables.load(path), digest)
    return hit
