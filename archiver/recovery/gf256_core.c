/* GF(2^8) multiply-accumulate over byte regions. A product c*x is looked up in two 16-entry
 * tables, one per nibble of x (c*x = c*(x & 15) ^ c*(x & 240)), so that SSSE3/AVX2 byte
 * shuffles do 16 or 32 products per instruction; the scalar loop uses the full 256-entry row.
 * The vector paths are chosen at run time and give the same bytes as the scalar one. */
#include "gf256.h"

static uint8_t EXP[512], LOG[256];
static uint8_t MUL[256][256];
static uint8_t NIB_LO[256][16], NIB_HI[256][16];
static int ready;

void gf256_init(void) {
    if (ready)
        return;
    unsigned x = 1;
    for (int i = 0; i < 255; i++) {
        EXP[i] = (uint8_t)x;
        LOG[x] = (uint8_t)i;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11D;
    }
    for (int i = 255; i < 512; i++)
        EXP[i] = EXP[i - 255];
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            MUL[a][b] = (a && b) ? EXP[LOG[a] + LOG[b]] : 0;
    for (int c = 0; c < 256; c++)
        for (int n = 0; n < 16; n++) {
            NIB_LO[c][n] = MUL[c][n];
            NIB_HI[c][n] = MUL[c][n << 4];
        }
    ready = 1;
}

uint8_t gf256_mul(uint8_t a, uint8_t b) { return MUL[a][b]; }

uint8_t gf256_inv(uint8_t a) { return EXP[255 - LOG[a]]; }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1

__attribute__((target("avx2")))
static size_t muladd_avx2(uint8_t *dst, const uint8_t *src, size_t n, uint8_t c) {
    const __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)NIB_LO[c]));
    const __m256i hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)NIB_HI[c]));
    const __m256i mask = _mm256_set1_epi8(0x0f);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i s = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i p = _mm256_xor_si256(
            _mm256_shuffle_epi8(lo, _mm256_and_si256(s, mask)),
            _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi64(s, 4), mask)));
        __m256i d = _mm256_loadu_si256((const __m256i *)(dst + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(d, p));
    }
    return i;
}

__attribute__((target("ssse3")))
static size_t muladd_ssse3(uint8_t *dst, const uint8_t *src, size_t n, uint8_t c) {
    const __m128i lo = _mm_loadu_si128((const __m128i *)NIB_LO[c]);
    const __m128i hi = _mm_loadu_si128((const __m128i *)NIB_HI[c]);
    const __m128i mask = _mm_set1_epi8(0x0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i s = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i p = _mm_xor_si128(_mm_shuffle_epi8(lo, _mm_and_si128(s, mask)),
                                  _mm_shuffle_epi8(hi, _mm_and_si128(_mm_srli_epi64(s, 4), mask)));
        __m128i d = _mm_loadu_si128((const __m128i *)(dst + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(d, p));
    }
    return i;
}

static int simd_level(void) {       /* 2 AVX2, 1 SSSE3, 0 neither; asked once */
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx2") ? 2 : __builtin_cpu_supports("ssse3") ? 1 : 0;
    }
    return level;
}
#endif

void gf256_muladd(uint8_t *dst, const uint8_t *src, size_t n, uint8_t c) {
    size_t i = 0;
    if (c == 0)
        return;
#ifdef HAVE_X86
    int level = simd_level();
    if (level == 2)
        i = muladd_avx2(dst, src, n, c);
    else if (level == 1)
        i = muladd_ssse3(dst, src, n, c);
#endif
    const uint8_t *row = MUL[c];
    for (; i < n; i++)
        dst[i] ^= row[src[i]];
}

#define PIECE 4096

void gf256_muladd_rows(uint8_t *dst, size_t stride, const uint8_t *coefs, size_t m,
                       const uint8_t *src, size_t n) {
    for (size_t start = 0; start < n; start += PIECE) {
        size_t len = n - start < PIECE ? n - start : PIECE;
        for (size_t r = 0; r < m; r++)
            gf256_muladd(dst + r * stride + start, src + start, len, coefs[r]);
    }
}
