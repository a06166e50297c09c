/* Bulk loops of the bbx rANS core: one call codes a whole array, no Python per symbol.
 * Arguments are validated by the Python wrapper (cython_ans/_rans.pyx) before any of these
 * runs, so a push either completes or (out of memory) leaves the message unchanged. */
#include "rans_core.h"

int rans_build_cdf(const uint32_t *freqs, size_t k, size_t n, unsigned precision,
                   uint32_t *cdf, size_t *row, size_t *col)
{
    const uint64_t total = 1ull << precision;
    for (size_t t = 0; t < k; t++) {
        const uint32_t *f = freqs + t * n;
        uint32_t *c = cdf + t * (n + 1);
        uint64_t acc = 0;
        c[0] = 0;
        for (size_t s = 0; s < n; s++) {
            if (f[s] == 0) {
                *row = t;
                *col = s;
                return 1;
            }
            acc += f[s];
            if (acc > total) {      /* also keeps the uint32 entries exact */
                *row = t;
                return 2;
            }
            c[s + 1] = (uint32_t)acc;
        }
        if (acc != total) {
            *row = t;
            return 2;
        }
    }
    return 0;
}

void rans_build_lut(const uint32_t *cdf, size_t k, size_t n, unsigned precision,
                    unsigned bits, uint16_t *lut)
{
    const size_t size = (size_t)1 << bits;
    const unsigned shift = precision - bits;
    for (size_t t = 0; t < k; t++) {
        const uint32_t *c = cdf + t * (n + 1);
        uint16_t *l = lut + t * size;
        size_t s = 0;
        for (size_t j = 0; j < size; j++) {
            uint64_t cf = (uint64_t)j << shift;
            while (c[s + 1] <= cf)
                s++;
            l[j] = (uint16_t)s;
        }
    }
}

int rans_categorical_push(rans_msg *m, const int64_t *symbols, size_t count,
                          const uint32_t *cdf, size_t n, const int64_t *table_idx,
                          unsigned precision)
{
    if (rans_reserve(m, count) != RANS_OK)
        return RANS_ENOMEM;
    if (table_idx) {
        for (size_t i = count; i-- > 0;) {
            const uint32_t *c = cdf + (size_t)table_idx[i] * (n + 1) + symbols[i];
            rans_push_unchecked(m, c[0], (uint64_t)c[1] - c[0], precision);
        }
    } else {
        for (size_t i = count; i-- > 0;) {
            const uint32_t *c = cdf + symbols[i];
            rans_push_unchecked(m, c[0], (uint64_t)c[1] - c[0], precision);
        }
    }
    return RANS_OK;
}

void rans_categorical_pop(rans_msg *m, int64_t *out, size_t count, const uint32_t *cdf,
                          size_t n, const int64_t *table_idx, unsigned precision,
                          const uint16_t *lut, unsigned lut_bits)
{
    const uint64_t mask = (1ull << precision) - 1u;
    const unsigned shift = precision - lut_bits;
    for (size_t i = 0; i < count; i++) {
        size_t t = table_idx ? (size_t)table_idx[i] : 0;
        const uint32_t *c = cdf + t * (n + 1);
        uint64_t x = m->head;
        uint64_t cf = x & mask;
        size_t s;
        if (lut) {
            /* the table gives the symbol at the bucket's first cf; at most a short scan on */
            s = lut[(t << lut_bits) + (cf >> shift)];
            while (c[s + 1] <= cf)
                s++;
        } else {
            s = rans_cdf_find(c, n, cf);
        }
        x = (uint64_t)(c[s + 1] - c[s]) * (x >> precision) + cf - c[s];
        if (x < RANS_L)
            x = (x << 32) | rans_next_word(m);
        m->head = x;
        out[i] = (int64_t)s;
    }
}

/* Uniform over nbins <= 2^31 at precision 32: bin s holds [floor(s 2^32 / N),
 * floor((s + 1) 2^32 / N)). Exact log2(N) bits when N is a power of two. */
static inline int uniform_log2(uint64_t nbins)
{
    if (nbins & (nbins - 1u))
        return -1;
    int k = 0;
    while ((1ull << k) < nbins)
        k++;
    return k;
}

int rans_uniform_push(rans_msg *m, const int64_t *symbols, size_t count, uint64_t nbins)
{
    if (rans_reserve(m, count) != RANS_OK)
        return RANS_ENOMEM;
    int k = uniform_log2(nbins);
    if (k >= 0) {
        const unsigned sh = 32u - (unsigned)k;
        for (size_t i = count; i-- > 0;)
            rans_push_unchecked(m, (uint64_t)symbols[i] << sh, 1ull << sh, 32);
    } else {
        for (size_t i = count; i-- > 0;) {
            uint64_t s = (uint64_t)symbols[i];
            uint64_t lo = (s << 32) / nbins, hi = ((s + 1u) << 32) / nbins;
            rans_push_unchecked(m, lo, hi - lo, 32);
        }
    }
    return RANS_OK;
}

void rans_uniform_pop(rans_msg *m, int64_t *out, size_t count, uint64_t nbins)
{
    int k = uniform_log2(nbins);
    for (size_t i = 0; i < count; i++) {
        uint64_t cf = rans_peek(m, 32);
        uint64_t s, lo, hi;
        if (k >= 0) {
            const unsigned sh = 32u - (unsigned)k;
            s = cf >> sh;
            lo = s << sh;
            hi = lo + (1ull << sh);
        } else {
            /* the s with floor(s 2^32 / N) <= cf < floor((s + 1) 2^32 / N) */
            s = ((cf + 1u) * nbins - 1u) >> 32;
            lo = (s << 32) / nbins;
            hi = ((s + 1u) << 32) / nbins;
        }
        rans_pop_advance(m, lo, hi - lo, 32);
        out[i] = (int64_t)s;
    }
}

int rans_logistic_push(rans_msg *m, const int64_t *symbols, size_t count, const int32_t *loc,
                       const int32_t *scale_idx, uint64_t nbins, unsigned precision)
{
    if (rans_reserve(m, count) != RANS_OK)
        return RANS_ENOMEM;
    for (size_t i = count; i-- > 0;) {
        int64_t l = rans_clamp_loc(loc[i]);
        unsigned j = (unsigned)scale_idx[i];
        int64_t s = symbols[i];
        uint64_t lo = rans_logistic_cum(s, l, j, nbins, precision);
        uint64_t hi = rans_logistic_cum(s + 1, l, j, nbins, precision);
        rans_push_unchecked(m, lo, hi - lo, precision);
    }
    return RANS_OK;
}

void rans_logistic_pop(rans_msg *m, int64_t *out, size_t count, const int32_t *loc,
                       const int32_t *scale_idx, uint64_t nbins, unsigned precision)
{
    for (size_t i = 0; i < count; i++) {
        int64_t l = rans_clamp_loc(loc[i]);
        unsigned j = (unsigned)scale_idx[i];
        uint64_t cf = rans_peek(m, precision);
        /* binary search for C(lo) <= cf < C(hi) with hi = lo + 1 */
        int64_t lo = 0, hi = (int64_t)nbins;
        uint64_t clo = 0, chi = 1ull << precision;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            uint64_t c = rans_logistic_cum(mid, l, j, nbins, precision);
            if (c <= cf) {
                lo = mid;
                clo = c;
            } else {
                hi = mid;
                chi = c;
            }
        }
        rans_pop_advance(m, clo, chi - clo, precision);
        out[i] = lo;
    }
}
