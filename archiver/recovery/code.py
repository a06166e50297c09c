"""The recovery record's Reed-Solomon code over GF(2^8): a systematic Cauchy code, so any K
of a group's K data and M parity blocks give back all K data blocks (MDS; every square
submatrix of a Cauchy matrix is invertible). Parity row j of a group is

    parity_j = sum over data blocks k of  C[j][k] * data_k,   C[j][k] = 1 / (j xor (255 - k))

with K + M <= 256, so j (< M) never equals 255 - k (> 255 - K). A block is a vector of
bytes; each byte position is its own codeword, so the code works on whole blocks at once.
The coefficient of data block k does not depend on the group's size (format_spec/
bbx_format.md, "Recovery record")."""
from __future__ import annotations

import numpy as np

from archiver.recovery import _gf256 as gf
from archiver.recovery.gf_reference import invert

MAX_SYMBOLS = 256       # K + M per group


def coefficient(j: int, k: int) -> int:
    return gf.inv(j ^ (255 - k))


def columns(m: int, k: int) -> np.ndarray:
    """cols[k] = the M coefficients data block k contributes to parity rows 0..M-1."""
    return np.array([[coefficient(j, i) for j in range(m)] for i in range(k)], np.uint8)


def decoder(erased: list[int], rows: list[int]) -> np.ndarray:
    """X with data_erased = X . s, where s_r = parity_r + sum of C[r][k] data_k over the
    surviving data blocks k, for the parity rows `rows` (as many as erased blocks)."""
    assert len(erased) == len(rows)
    a = np.array([[coefficient(r, k) for k in erased] for r in rows], np.uint8)
    return invert(a)


class Accumulator:
    """Rows of block-sized byte vectors (a uint8 array [row, byte]) that blocks are
    multiplied into."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows

    @classmethod
    def zeros(cls, rows: int, block_size: int) -> "Accumulator":
        return cls(np.zeros((rows, block_size), np.uint8))

    def add(self, coefs, block) -> None:
        gf.muladd_rows(self.rows, np.ascontiguousarray(coefs, np.uint8),
                       np.frombuffer(block, np.uint8))
