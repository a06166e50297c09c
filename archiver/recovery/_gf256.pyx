# distutils: sources = archiver/recovery/gf256_core.c
# distutils: include_dirs = archiver/recovery
"""Python face of the GF(2^8) core (gf256_core.c) used by the recovery record's Reed-Solomon code.
archiver/recovery/gf_reference.py is its pure numpy twin (tests compare the two)."""
from libc.stdint cimport uint8_t

cdef extern from "gf256.h" nogil:
    void gf256_init()
    uint8_t gf256_mul(uint8_t a, uint8_t b)
    uint8_t gf256_inv(uint8_t a)
    void gf256_muladd_rows(uint8_t *dst, size_t stride, const uint8_t *coefs, size_t m,
                           const uint8_t *src, size_t n)

gf256_init()


def mul(int a, int b) -> int:
    return gf256_mul(<uint8_t>a, <uint8_t>b)


def inv(int a) -> int:
    if not 0 < a < 256:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return gf256_inv(<uint8_t>a)


def muladd_rows(uint8_t[:, ::1] dst, const uint8_t[::1] coefs, const uint8_t[::1] src) -> None:
    """dst[r, :len(src)] ^= coefs[r] * src for every row r (bytes past len(src) untouched:
    a short source is a block zero-padded to the row length)."""
    if coefs.shape[0] != dst.shape[0]:
        raise ValueError("one coefficient per row")
    if src.shape[0] > dst.shape[1]:
        raise ValueError("source longer than the rows")
    if dst.shape[0] == 0 or src.shape[0] == 0:
        return
    with nogil:
        gf256_muladd_rows(&dst[0, 0], dst.shape[1], &coefs[0], dst.shape[0], &src[0],
                          src.shape[0])
