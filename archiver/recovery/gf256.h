/* Arithmetic in GF(2^8) (polynomial x^8+x^4+x^3+x^2+1, 0x11D; generator 2) for the
 * recovery record's Reed-Solomon code (format_spec/bbx_format.md, "Recovery record"). */
#ifndef BBX_GF256_H
#define BBX_GF256_H
#include <stddef.h>
#include <stdint.h>

void gf256_init(void);
uint8_t gf256_mul(uint8_t a, uint8_t b);
uint8_t gf256_inv(uint8_t a);            /* a != 0 */
/* dst[i] ^= c * src[i] for i < n */
void gf256_muladd(uint8_t *dst, const uint8_t *src, size_t n, uint8_t c);
/* For r < m: row r of dst (dst + r * stride) ^= coefs[r] * src, over n bytes. The source
 * is walked in cache-sized pieces so each piece is read from memory once for all rows. */
void gf256_muladd_rows(uint8_t *dst, size_t stride, const uint8_t *coefs, size_t m,
                       const uint8_t *src, size_t n);
#endif
