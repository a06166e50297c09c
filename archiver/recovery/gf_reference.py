"""Pure numpy twin of the C GF(2^8) core (_gf256): the same field (polynomial 0x11D,
generator 2) built independently, for tests and for the small matrix work of decoding."""
from __future__ import annotations

import numpy as np

POLY = 0x11D


def _tables() -> tuple[np.ndarray, np.ndarray]:
    exp = np.zeros(512, np.uint8)
    log = np.zeros(256, np.int64)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= POLY
    exp[255:510] = exp[:255]
    return exp, log


EXP, LOG = _tables()
# MUL[a, b] = a * b: the whole multiplication table (64 KiB), so products of arrays are lookups.
_A, _B = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
MUL = np.where((_A > 0) & (_B > 0), EXP[(LOG[_A] + LOG[_B]) % 255], 0).astype(np.uint8)
del _A, _B


def mul(a: int, b: int) -> int:
    return int(MUL[a, b])


def inv(a: int) -> int:
    if not 0 < a < 256:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return int(EXP[255 - LOG[a]])


def muladd_rows(dst: np.ndarray, coefs, src) -> None:
    """dst[r, :len(src)] ^= coefs[r] * src, as _gf256.muladd_rows."""
    src = np.frombuffer(bytes(src), np.uint8)
    for r, c in enumerate(np.asarray(coefs, np.uint8)):
        dst[r, :len(src)] ^= MUL[c][src]


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a square matrix over GF(2^8) by Gauss-Jordan elimination; ValueError when
    singular (never for a square submatrix of a Cauchy matrix)."""
    n = len(matrix)
    a = np.concatenate([np.asarray(matrix, np.uint8), np.eye(n, dtype=np.uint8)], axis=1)
    for col in range(n):
        pivots = np.nonzero(a[col:, col])[0]
        if not len(pivots):
            raise ValueError("singular matrix")
        p = col + pivots[0]
        a[[col, p]] = a[[p, col]]
        a[col] = MUL[inv(int(a[col, col]))][a[col]]
        for r in range(n):
            if r != col and a[r, col]:
                a[r] ^= MUL[a[r, col]][a[col]]
    return a[:, n:]
