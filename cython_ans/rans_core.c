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

void rans_build_enc(const uint32_t *cdf, size_t k, size_t n, unsigned precision,
                    rans_enc_sym *enc)
{
    for (size_t t = 0; t < k; t++) {
        const uint32_t *c = cdf + t * (n + 1);
        for (size_t s = 0; s < n; s++)
            rans_enc_sym_init(enc + t * n + s, c[s], c[s + 1] - c[s], precision);
    }
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE int64_t sym_at(const void *symbols, int sym32, size_t i)
{
    return sym32 ? (int64_t)((const int32_t *)symbols)[i] : ((const int64_t *)symbols)[i];
}

/* Undo a push that stopped at a bad argument: pushes only append above the old top. */
static int rollback(rans_msg *m, uint64_t head, size_t len, size_t i, size_t *bad, int err)
{
    m->head = head;
    m->len = len;
    *bad = i;
    return err;
}

ALWAYS_INLINE int cat_push(rans_msg *m, const void *symbols, const int sym32, size_t count,
                           const rans_enc_sym *enc, const uint32_t *cdf, size_t n,
                           const int64_t *table_idx, size_t k, unsigned precision, size_t *bad)
{
    const uint64_t head = m->head;
    const size_t len = m->len;
    for (size_t i = count; i-- > 0;) {
        uint64_t s = (uint64_t)sym_at(symbols, sym32, i);
        uint64_t t = table_idx ? (uint64_t)table_idx[i] : 0;
        if (s >= n)
            return rollback(m, head, len, i, bad, RANS_EBADSYM);
        if (t >= k)
            return rollback(m, head, len, i, bad, RANS_EBADTABLE);
        if (enc) {
            rans_push_sym_unchecked(m, enc + t * n + s, precision);
        } else {
            const uint32_t *c = cdf + t * (n + 1) + s;
            rans_push_unchecked(m, c[0], (uint64_t)c[1] - c[0], precision);
        }
    }
    return RANS_OK;
}

int rans_categorical_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                          const rans_enc_sym *enc, const uint32_t *cdf, size_t n,
                          const int64_t *table_idx, size_t k, unsigned precision, size_t *bad)
{
    if (rans_reserve(m, count + 1) != RANS_OK)     /* + 1: the branch-free store */
        return RANS_ENOMEM;
    if (sym32)
        return cat_push(m, symbols, 1, count, enc, cdf, n, table_idx, k, precision, bad);
    return cat_push(m, symbols, 0, count, enc, cdf, n, table_idx, k, precision, bad);
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
        m->head = rans_renorm(m, x);
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

ALWAYS_INLINE int uni_push(rans_msg *m, const void *symbols, const int sym32, size_t count,
                           uint64_t nbins, size_t *bad)
{
    const uint64_t head = m->head;
    const size_t len = m->len;
    int k = uniform_log2(nbins);
    for (size_t i = count; i-- > 0;) {
        uint64_t s = (uint64_t)sym_at(symbols, sym32, i);
        if (s >= nbins)
            return rollback(m, head, len, i, bad, RANS_EBADSYM);
        if (k >= 0) {
            const unsigned sh = 32u - (unsigned)k;
            rans_push_unchecked(m, s << sh, 1ull << sh, 32);
        } else {
            uint64_t lo = (s << 32) / nbins, hi = ((s + 1u) << 32) / nbins;
            rans_push_unchecked(m, lo, hi - lo, 32);
        }
    }
    return RANS_OK;
}

int rans_uniform_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                      uint64_t nbins, size_t *bad)
{
    if (rans_reserve(m, count + 1) != RANS_OK)
        return RANS_ENOMEM;
    if (sym32)
        return uni_push(m, symbols, 1, count, nbins, bad);
    return uni_push(m, symbols, 0, count, nbins, bad);
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

/* A logistic symbol's checks (0, RANS_EBADSYM or RANS_EBADTABLE), and its push. */
static inline int logistic_bad(int64_t s, uint32_t j, uint64_t nbins)
{
    if ((uint64_t)s >= nbins)
        return RANS_EBADSYM;
    return j >= RANS_SCALE_IDX_LIMIT ? RANS_EBADTABLE : 0;
}

static inline void logistic_push_one(rans_msg *m, int64_t s, int64_t l, uint32_t j,
                                     uint64_t nbins, unsigned precision)
{
    uint64_t lo = rans_logistic_cum(s, l, j, nbins, precision);
    uint64_t hi = rans_logistic_cum(s + 1, l, j, nbins, precision);
    rans_push_unchecked(m, lo, hi - lo, precision);
}

ALWAYS_INLINE int log_push(rans_msg *m, const void *symbols, const int sym32, size_t count,
                           const int32_t *loc, const int32_t *scale_idx, uint64_t nbins,
                           unsigned precision, size_t *bad)
{
    const uint64_t head = m->head;
    const size_t len = m->len;
    for (size_t i = count; i-- > 0;) {
        int64_t s = sym_at(symbols, sym32, i);
        uint32_t j = (uint32_t)scale_idx[i];
        int err = logistic_bad(s, j, nbins);
        if (err)
            return rollback(m, head, len, i, bad, err);
        logistic_push_one(m, s, rans_clamp_loc(loc[i]), j, nbins, precision);
    }
    return RANS_OK;
}

int rans_logistic_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                       const int32_t *loc, const int32_t *scale_idx, uint64_t nbins,
                       unsigned precision, size_t *bad)
{
    if (rans_reserve(m, count + 1) != RANS_OK)
        return RANS_ENOMEM;
    if (sym32)
        return log_push(m, symbols, 1, count, loc, scale_idx, nbins, precision, bad);
    return log_push(m, symbols, 0, count, loc, scale_idx, nbins, precision, bad);
}

/* A fast guess of log2(y) for y > 0 from the IEEE-754 bits (error < 1e-3). Only a starting
 * point for the search below: the decoded bin is defined by the integer C(k), which is
 * always checked, so this floating point can never change a result. */
static inline double guess_log2(double y)
{
    uint64_t b;
    memcpy(&b, &y, sizeof b);
    double e = (double)((int64_t)(b >> 52) - 1023);
    b = (b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
    double m;
    memcpy(&m, &b, sizeof m);      /* m in [1, 2) */
    return e - 1.7417939 + (2.8212026 + (-1.4699568 + (0.44717955 - 0.056570851 * m) * m) * m) * m;
}

/* SCALES[j] as a double, built from the integer mantissas with exact operations. */
static inline double scale_of(unsigned j)
{
    return (double)(1u << (j >> 3)) * (65536.0 / 16.0) / (double)RANS_SCALE_MANTISSA[j & 7u];
}

/* The bin k with C(k) <= cf < C(k + 1): guess from the inverse logistic, then gallop away
 * from the guess and bisect. At most ~4 log2(nbins) evaluations of C, typically 2-4. */
static inline int64_t logistic_find(uint64_t cf, int64_t l, unsigned j, uint64_t nbins,
                                    unsigned precision, uint64_t *start, uint64_t *freq)
{
    const uint64_t total = 1ull << precision;
    const int64_t nb = (int64_t)nbins;
    double odds = ((double)cf + 0.5) / ((double)total - (double)cf - 0.5);
    double kf = (double)l * (1.0 / 256.0) + 0.5     /* the tailed family: its main scale */
                + guess_log2(odds) * 0.6931471805599453 * scale_of(j & (RANS_SCALE_COUNT - 1));
    int64_t k = kf <= 0.0 ? 0 : (kf >= (double)(nb - 1) ? nb - 1 : (int64_t)kf);
    int64_t lo, hi;
    uint64_t clo, chi;
    uint64_t ck = rans_logistic_cum(k, l, j, nbins, precision);
    if (ck <= cf) {
        lo = k;
        clo = ck;
        for (int64_t step = 1;; step *= 2) {     /* C(lo) <= cf: move up */
            hi = lo + step;
            if (hi >= nb) {
                hi = nb;
                chi = total;
                break;
            }
            chi = rans_logistic_cum(hi, l, j, nbins, precision);
            if (chi > cf)
                break;
            lo = hi;
            clo = chi;
        }
    } else {
        hi = k;
        chi = ck;
        for (int64_t step = 1;; step *= 2) {     /* C(hi) > cf: move down */
            lo = hi - step;
            if (lo <= 0) {
                lo = 0;
                clo = 0;
                break;
            }
            clo = rans_logistic_cum(lo, l, j, nbins, precision);
            if (clo <= cf)
                break;
            hi = lo;
            chi = clo;
        }
    }
    while (hi - lo > 1) {                        /* C(lo) <= cf < C(hi) */
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
    *start = clo;
    *freq = chi - clo;
    return lo;
}

void rans_logistic_pop(rans_msg *m, int64_t *out, size_t count, const int32_t *loc,
                       const int32_t *scale_idx, uint64_t nbins, unsigned precision)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t start, freq;
        int64_t k = logistic_find(rans_peek(m, precision), rans_clamp_loc(loc[i]),
                                  (unsigned)scale_idx[i], nbins, precision, &start, &freq);
        rans_pop_advance(m, start, freq, precision);
        out[i] = k;
    }
}

int rans_masked_push(rans_msg *m, const int64_t *symbols, size_t count, const int32_t *loc,
                     const int32_t *scale_idx, const int32_t *mask_idx, const uint8_t *masks,
                     size_t nmasks, uint64_t nbins, unsigned precision, size_t *bad)
{
    if (rans_reserve(m, count + 1) != RANS_OK)
        return RANS_ENOMEM;
    const uint64_t head = m->head;
    const size_t len = m->len;
    const size_t mb = (size_t)((nbins + 7) / 8);
    rans_masked_dist d;
    for (size_t i = count; i-- > 0;) {
        int64_t s = symbols[i];
        uint32_t j = (uint32_t)scale_idx[i];
        int err = logistic_bad(s, j, nbins);
        if (err)
            return rollback(m, head, len, i, bad, err);
        int64_t l = rans_clamp_loc(loc[i]);
        if (mask_idx[i] < 0) {
            logistic_push_one(m, s, l, j, nbins, precision);
            continue;
        }
        if ((size_t)mask_idx[i] >= nmasks
            || !rans_masked_prepare(&d, masks + (size_t)mask_idx[i] * mb, l, j, nbins, precision))
            return rollback(m, head, len, i, bad, RANS_EBADTABLE);
        size_t r = rans_masked_rank(&d, s);
        if (r == d.n)
            return rollback(m, head, len, i, bad, RANS_EBADSYM);
        uint64_t c0 = rans_masked_cum(&d, r);
        rans_push_unchecked(m, c0, rans_masked_cum(&d, r + 1) - c0, precision);
    }
    return RANS_OK;
}

void rans_masked_pop(rans_msg *m, int64_t *out, size_t count, const int32_t *loc,
                     const int32_t *scale_idx, const int32_t *mask_idx, const uint8_t *masks,
                     uint64_t nbins, unsigned precision)
{
    const size_t mb = (size_t)((nbins + 7) / 8);
    rans_masked_dist d;
    for (size_t i = 0; i < count; i++) {
        if (mask_idx[i] < 0) {
            rans_logistic_pop(m, out + i, 1, loc + i, scale_idx + i, nbins, precision);
            continue;
        }
        rans_masked_prepare(&d, masks + (size_t)mask_idx[i] * mb, rans_clamp_loc(loc[i]),
                            (unsigned)scale_idx[i], nbins, precision);
        size_t r = rans_masked_find(&d, rans_peek(m, precision));
        uint64_t c0 = rans_masked_cum(&d, r);
        rans_pop_advance(m, c0, rans_masked_cum(&d, r + 1) - c0, precision);
        out[i] = d.bins[r];
    }
}
