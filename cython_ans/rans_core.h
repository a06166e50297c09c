/* bbx rANS core: a single-state stack rANS coder (64-bit state, 32-bit words).
 *
 * Everything a per-symbol coder needs is a static inline function here, so other Cython
 * modules (the HMM coder) can cimport cython_ans/rans.pxd and code symbol by symbol on the
 * same message without linking against the _rans extension. The bulk loops over arrays live
 * in rans_core.c. The bitstream is specified in format_spec/rans.md.
 *
 * Invariants: RANS_L <= head < 2^64 between operations; precision p in [1, 32] at this
 * level (the Python API allows 1..RANS_MAX_PRECISION); a symbol occupies the half-open
 * interval [start, start + freq) of [0, 2^p) with freq >= 1.
 */
#ifndef BBX_RANS_CORE_H
#define BBX_RANS_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rans_tables.h"

#define RANS_L (1ull << 32)            /* lower bound of the head */
#define RANS_MAX_PRECISION 31          /* largest precision the Python API accepts */
#define RANS_LOC_FRAC_BITS 8           /* logistic location: fixed point, 8 fractional bits */
#define RANS_SCALE_COUNT 128           /* logistic scale: SCALES[j] = 2^(-4 + j/8) bins */
/* scale_idx j + RANS_TAIL_FLAG (0 <= j < 128) selects the tailed logistic of scale j: the
 * mixture (1 - 2^-RANS_TAIL_SHIFT) logistic(SCALES[j - RANS_TAIL_NARROW]) + 2^-RANS_TAIL_SHIFT
 * logistic(SCALES[j + RANS_TAIL_WIDE]), indices clamped to 0..127: photo residuals have
 * heavier tails than one logistic (format_spec/rans.md 5.3) */
#define RANS_TAIL_FLAG 128
#define RANS_TAIL_SHIFT 5
#define RANS_TAIL_NARROW 1
#define RANS_TAIL_WIDE 13
#define RANS_SCALE_IDX_LIMIT 256       /* scale_idx in 0..255: j, or j + RANS_TAIL_FLAG */
#define RANS_LOC_LIMIT (1ll << 26)     /* loc is clamped to [-RANS_LOC_LIMIT, RANS_LOC_LIMIT] */
#define RANS_LOGISTIC_MAX_BINS (1u << 16)
#define RANS_UNIFORM_MAX_BINS (1ull << 31)
#define RANS_UNIFORM_PRECISION 32      /* uniform family codes at 32-bit precision */

/* Error codes returned by fallible functions (0 = success). */
#define RANS_OK 0
#define RANS_ENOMEM (-1)

typedef struct rans_msg {
    uint64_t head;      /* the rANS state */
    uint32_t *words;    /* the stack of emitted words; words[len - 1] is the top */
    size_t len;
    size_t cap;
    uint64_t seed;      /* seed of the source of initial bits */
    uint64_t drawn;     /* number of 32-bit words drawn from that source so far */
} rans_msg;

/* ---- message lifetime ------------------------------------------------------------------ */

static inline void rans_init(rans_msg *m, uint64_t seed)
{
    m->head = RANS_L;
    m->words = NULL;
    m->len = 0;
    m->cap = 0;
    m->seed = seed;
    m->drawn = 0;
}

static inline void rans_free(rans_msg *m)
{
    free(m->words);
    m->words = NULL;
    m->len = m->cap = 0;
}

/* Make room for `extra` more words; RANS_ENOMEM on failure (the message is unchanged). */
static inline int rans_reserve(rans_msg *m, size_t extra)
{
    if (extra <= m->cap - m->len)
        return RANS_OK;
    if (extra > (SIZE_MAX / sizeof(uint32_t)) / 2 - m->len)
        return RANS_ENOMEM;
    size_t need = m->len + extra;
    size_t cap = m->cap ? m->cap : 64;
    while (cap < need)
        cap *= 2;
    uint32_t *w = (uint32_t *)realloc(m->words, cap * sizeof(uint32_t));
    if (!w)
        return RANS_ENOMEM;
    m->words = w;
    m->cap = cap;
    return RANS_OK;
}

/* Exact length of the serialised message in bits: the stack plus the 64-bit head. */
static inline uint64_t rans_bit_length(const rans_msg *m)
{
    return 32u * (uint64_t)m->len + 64u;
}

/* ---- the seeded source of initial bits --------------------------------------------------- */

/* Word i of the source is the high half of SplitMix64's output for (seed, i). Counter based,
 * so a decoder can recompute any word to check that the initial bits came back. */
static inline uint32_t rans_source_word(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1u) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32);
}

/* Next word to move into the head: from the stack, or from the source once it is empty. */
static inline uint32_t rans_next_word(rans_msg *m)
{
    if (m->len)
        return m->words[--m->len];
    return rans_source_word(m->seed, m->drawn++);
}

/* ---- per-symbol primitives --------------------------------------------------------------- */

/* Push the symbol occupying [start, start + freq) of [0, 2^precision). Needs one free word
 * of capacity (rans_reserve(m, 1)); use rans_push for the checked version. */
static inline void rans_push_unchecked(rans_msg *m, uint64_t start, uint64_t freq,
                                       unsigned precision)
{
    uint64_t x = m->head;
    /* x >= freq 2^(64-p) would overflow: move the low word out. Branch-free: the word is
     * stored anyway (capacity is reserved) and kept only if needed. */
    unsigned r = (x >> (64 - precision)) >= freq;
    m->words[m->len] = (uint32_t)x;
    m->len += r;
    x >>= 32u * r;
    m->head = ((x / freq) << precision) + (x % freq) + start;
}

static inline int rans_push(rans_msg *m, uint64_t start, uint64_t freq, unsigned precision)
{
    if (m->len == m->cap && rans_reserve(m, 1) != RANS_OK)
        return RANS_ENOMEM;
    rans_push_unchecked(m, start, freq, precision);
    return RANS_OK;
}

/* The cumulative frequency the next pop decodes: a value in [0, 2^precision). Find the
 * symbol whose interval contains it, then call rans_pop_advance with that interval. */
static inline uint64_t rans_peek(const rans_msg *m, unsigned precision)
{
    return m->head & ((1ull << precision) - 1u);
}

/* Remove the symbol occupying [start, start + freq), which must contain rans_peek(). */
/* After a pop: refill the head from the stack (or the source) if it fell below RANS_L. */
static inline uint64_t rans_renorm(rans_msg *m, uint64_t x)
{
    if (__builtin_expect(m->len != 0, 1)) {
        /* branch-free while the stack lasts: read the top word, keep it only if needed */
        uint64_t r = x < RANS_L;
        uint64_t y = (x << 32) | m->words[m->len - 1];
        m->len -= r;
        return r ? y : x;
    }
    return x < RANS_L ? (x << 32) | rans_source_word(m->seed, m->drawn++) : x;
}

static inline void rans_pop_advance(rans_msg *m, uint64_t start, uint64_t freq,
                                    unsigned precision)
{
    uint64_t x = m->head;
    x = freq * (x >> precision) + (x & ((1ull << precision) - 1u)) - start;
    m->head = rans_renorm(m, x);
}

/* ---- push with a precomputed reciprocal (fixed tables) -----------------------------------
 * x / freq without a division: Granlund & Montgomery's round-up method, exact for every
 * 64-bit x. With l = ceil(log2 freq), rcp = floor(2^64 (2^l - freq) / freq) + 1,
 *   t = (x * rcp) >> 64,  q = (t + ((x - t) >> min(l, 1))) >> max(l - 1, 0) = floor(x / freq),
 * and the pushed state is q 2^p + (x - q freq) + start = x + start + q (2^p - freq). */

__extension__ typedef unsigned __int128 rans_u128;

typedef struct rans_enc_sym {
    uint64_t rcp;
    uint64_t bias;      /* start, plus cmpl when freq = 1 (then rcp = 2^64 - 1 gives x - 1) */
    uint64_t limit;     /* renormalise when x > limit = freq 2^(64-p) - 1 */
    uint32_t cmpl;      /* 2^precision - freq (precision <= 31 here) */
    uint32_t shift;     /* max(l - 1, 0) */
} rans_enc_sym;

static inline void rans_enc_sym_init(rans_enc_sym *e, uint32_t start, uint32_t freq,
                                     unsigned precision)
{
    unsigned l = 0;
    while ((1ull << l) < freq)
        l++;
    e->cmpl = (uint32_t)((1ull << precision) - freq);
    e->shift = l > 1 ? l - 1 : 0;
    e->limit = (uint64_t)(((rans_u128)freq << (64 - precision)) - 1u);
    if (freq == 1) {
        e->rcp = ~0ull;         /* t = x - 1, q = x - 1: one cmpl short, added to the bias */
        e->bias = start + e->cmpl;
    } else {
        e->rcp = (uint64_t)((((rans_u128)((1ull << l) - freq)) << 64) / freq) + 1u;
        e->bias = start;
    }
}

static inline void rans_push_sym_unchecked(rans_msg *m, const rans_enc_sym *e,
                                           unsigned precision)
{
    uint64_t x = m->head;
    /* branch-free renormalisation: the word is stored anyway (capacity is reserved) and
     * kept only if needed; a mispredicted branch here costs more than the store */
    (void)precision;
    unsigned r = x > e->limit;
    m->words[m->len] = (uint32_t)x;
    m->len += r;
    x = r ? x >> 32 : x;
    uint64_t t = (uint64_t)(((rans_u128)x * e->rcp) >> 64);
    uint64_t q = (t + ((x - t) >> 1)) >> e->shift;
    m->head = x + e->bias + q * (uint64_t)e->cmpl;
}

/* ---- categorical by cumulative table -------------------------------------------------------
 * cdf has n + 1 nondecreasing entries, cdf[0] = 0, cdf[n] = 2^precision, and every symbol
 * that is coded has cdf[s + 1] > cdf[s]. */

static inline int rans_push_cdf(rans_msg *m, const uint32_t *cdf, size_t symbol,
                                unsigned precision)
{
    return rans_push(m, cdf[symbol], (uint64_t)cdf[symbol + 1] - cdf[symbol], precision);
}

/* Binary search: the symbol s with cdf[s] <= cf < cdf[s + 1]; O(log n), never loops. */
static inline size_t rans_cdf_find(const uint32_t *cdf, size_t n, uint64_t cf)
{
    size_t lo = 0, hi = n;      /* cdf[lo] <= cf < cdf[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] <= cf)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static inline size_t rans_pop_cdf(rans_msg *m, const uint32_t *cdf, size_t n,
                                  unsigned precision)
{
    size_t s = rans_cdf_find(cdf, n, rans_peek(m, precision));
    rans_pop_advance(m, cdf[s], (uint64_t)cdf[s + 1] - cdf[s], precision);
    return s;
}

/* ---- the leaky quantiser -------------------------------------------------------------------
 * Turns n >= 1 nonnegative integer weights (not all zero, each at most (2^64 - 1) / n) into
 * frequencies that are all >= 1 and sum to exactly 2^precision (n <= 2^precision):
 *   s = max(0, bitlength(sum w) - 32);  v_i = w_i >> s;  V = sum v_i;  M = 2^p - n
 *   C(k) = k + floor((v_0 + ... + v_{k-1}) * M / V),   freq_i = C(i + 1) - C(i).
 * C(n) = n + M = 2^p. All products stay below 2^63. Returns 0, or -1 if the weights are
 * all zero (after the shift they cannot be: the largest keeps >= 2^31 / n). */
static inline int rans_quantize_cdf(const uint64_t *w, size_t n, unsigned precision,
                                    uint32_t *cdf_out /* n + 1 entries */)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    if (total == 0)
        return -1;
    unsigned shift = 0;
    while ((total >> shift) > (1ull << 32))
        shift++;
    uint64_t v_total = 0;
    for (size_t i = 0; i < n; i++)
        v_total += w[i] >> shift;
    uint64_t M = (1ull << precision) - n;
    uint64_t cum = 0;
    cdf_out[0] = 0;
    for (size_t k = 1; k <= n; k++) {
        cum += w[k - 1] >> shift;
        cdf_out[k] = (uint32_t)(k + (cum * M) / v_total);
    }
    return 0;
}

static inline int rans_quantize(const uint64_t *w, size_t n, unsigned precision,
                                uint32_t *freq_out /* n entries */, uint32_t *scratch /* n+1 */)
{
    if (rans_quantize_cdf(w, n, precision, scratch) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        freq_out[i] = scratch[i + 1] - scratch[i];
    return 0;
}

/* ---- discretised logistic ----------------------------------------------------------------
 * Bins 0..nbins-1, bin k centred at k; the edge between bins k-1 and k sits at k - 1/2.
 * F(d) approximates 2^32 * sigmoid(d / 256 / SCALES[j]) for d = edge - loc in 1/256 bins,
 * from the committed integer tables only. C(k) = k + floor(F(256k - 128 - loc) * M / 2^32)
 * with M = 2^p - nbins, C(0) = 0, C(nbins) = 2^p: every bin has frequency >= 1. */

static inline uint64_t rans_logistic_f(int64_t d, unsigned scale_idx)
{
    uint64_t a = (uint64_t)(d < 0 ? -d : d);
    uint64_t t = (a * RANS_SCALE_MANTISSA[scale_idx & 7u]) >> (4u + (scale_idx >> 3));
    uint64_t g;
    uint64_t idx = t >> (16 - RANS_SIGMOID_STEP_BITS);
    if (idx >= RANS_SIGMOID_ENTRIES - 1) {
        g = RANS_SIGMOID[RANS_SIGMOID_ENTRIES - 1];
    } else {
        uint64_t frac = t & ((1u << (16 - RANS_SIGMOID_STEP_BITS)) - 1u);
        uint64_t lo = RANS_SIGMOID[idx], hi = RANS_SIGMOID[idx + 1];
        g = lo + (((hi - lo) * frac) >> (16 - RANS_SIGMOID_STEP_BITS));
    }
    return d < 0 ? RANS_L - g : g;
}

/* The scale index of the tailed family's wide component (the plain logistic's own index). */
static inline unsigned rans_family_wide(unsigned scale_idx)
{
    if (scale_idx < RANS_TAIL_FLAG)
        return scale_idx;
    const unsigned jw = scale_idx - RANS_TAIL_FLAG + RANS_TAIL_WIDE;
    return jw > RANS_SCALE_COUNT - 1 ? RANS_SCALE_COUNT - 1 : jw;
}

/* F of either family: scale_idx j < 128 the logistic, j >= 128 the tailed logistic. The
 * mixture of two nondecreasing F stays nondecreasing, so C below stays strictly increasing. */
static inline uint64_t rans_family_f(int64_t d, unsigned scale_idx)
{
    if (scale_idx < RANS_TAIL_FLAG)
        return rans_logistic_f(d, scale_idx);
    const unsigned j = scale_idx - RANS_TAIL_FLAG;
    const unsigned jn = j < RANS_TAIL_NARROW ? 0u : j - RANS_TAIL_NARROW;
    const uint64_t fn = rans_logistic_f(d, jn);
    const uint64_t fw = rans_logistic_f(d, rans_family_wide(scale_idx));
    return (((1ull << RANS_TAIL_SHIFT) - 1u) * fn + fw) >> RANS_TAIL_SHIFT;
}

static inline int64_t rans_clamp_loc(int64_t loc)
{
    return loc < -RANS_LOC_LIMIT ? -RANS_LOC_LIMIT : (loc > RANS_LOC_LIMIT ? RANS_LOC_LIMIT : loc);
}

/* Cumulative frequency of bin k (0 <= k <= nbins) for a clamped loc. */
static inline uint64_t rans_logistic_cum(int64_t k, int64_t loc, unsigned scale_idx,
                                         uint64_t nbins, unsigned precision)
{
    if (k <= 0)
        return 0;
    if ((uint64_t)k >= nbins)
        return 1ull << precision;
    uint64_t M = (1ull << precision) - nbins;
    uint64_t f = rans_family_f(256 * k - 128 - loc, scale_idx);
    return (uint64_t)k + ((f * M) >> 32);
}

/* ---- masked logistic (format_spec/rans.md 5.4) ---------------------------------------------
 * The discretised logistic (either family) restricted to the allowed bins of a mask (bit k of
 * byte k >> 3, least significant first): weights w_k = G(k + 1) - G(k) + 1 for each allowed k,
 * with G(k) = 0 for k <= 0, 2^32 for k >= nbins, else F(256 k - 128 - L); then the leaky
 * quantiser over the allowed bins in increasing order. nbins <= RANS_MASKED_MAX_BINS.
 *
 * Speed: F is nondecreasing and reaches its extremes (2^32 - SIG[last], SIG[last]) 24 scales
 * from the location, so G is constant outside that window and evaluated only inside it;
 * cumulative frequencies are computed only where a push or pop needs them. The
 * integers are those of the definition above (tests compare with the reference). */
#define RANS_MASKED_MAX_BINS 256

typedef struct {
    size_t n;                                   /* allowed bins */
    uint16_t bins[RANS_MASKED_MAX_BINS];        /* in increasing order */
    uint64_t pre[RANS_MASKED_MAX_BINS + 1];     /* pre[i] = v_0 + ... + v_{i-1}; pre[n] = V */
    uint64_t M;                                 /* 2^p - n */
} rans_masked_dist;

/* The smallest |d| at which F of scale index j reads the sigmoid table's last entry (F is at
 * its extreme from there on): t = (|d| MANT[j & 7]) >> (4 + (j >> 3)) >= last << STEP. The wide
 * component of the tailed family has the larger one. */
static inline int64_t rans_logistic_sat(unsigned j)
{
    const uint64_t t = (uint64_t)(RANS_SIGMOID_ENTRIES - 1) << (16 - RANS_SIGMOID_STEP_BITS);
    const uint64_t mant = RANS_SCALE_MANTISSA[j & 7u];
    return (int64_t)(((t << (4u + (j >> 3))) + mant - 1u) / mant);
}

static inline int64_t floor_div256(int64_t x)
{
    return x >= 0 ? x / 256 : -((-x + 255) / 256);
}

/* G at edge e (0..nbins) given the window: constant at or below e_lo, at or above e_hi. */
static inline uint64_t masked_g(int64_t e, int64_t e_lo, int64_t e_hi, int64_t loc,
                                unsigned scale_idx, uint64_t nbins)
{
    if (e <= 0)
        return 0;
    if ((uint64_t)e >= nbins)
        return RANS_L;
    if (e <= e_lo)
        return RANS_L - RANS_SIGMOID[RANS_SIGMOID_ENTRIES - 1];
    if (e >= e_hi)
        return RANS_SIGMOID[RANS_SIGMOID_ENTRIES - 1];
    return rans_family_f(256 * e - 128 - loc, scale_idx);
}

/* Fills d for the mask; returns n (0 for an empty mask, d then unusable). */
static inline size_t rans_masked_prepare(rans_masked_dist *d, const uint8_t *mask, int64_t loc,
                                         unsigned scale_idx, uint64_t nbins, unsigned precision)
{
    size_t n = 0;
    for (uint64_t at = 0; at < nbins; at += 8) {          /* the set bits, byte by byte */
        unsigned byte = mask[at >> 3];
        if (nbins - at < 8)
            byte &= (1u << (nbins - at)) - 1u;
        while (byte) {
            d->bins[n++] = (uint16_t)(at + (unsigned)__builtin_ctz(byte));
            byte &= byte - 1u;
        }
    }
    d->n = n;
    if (!n)
        return 0;
    /* G is at its top from edge e_hi on and at its bottom up to edge e_lo: where the edge's
     * distance from the location reaches the table's end for every component (a window at
     * least as wide as where F really is constant, so G is exact everywhere) */
    const int64_t sat = rans_logistic_sat(rans_family_wide(scale_idx));
    const int64_t e_hi = floor_div256(sat + 128 + loc + 255);
    const int64_t e_lo = floor_div256(loc + 128 - sat);
    uint64_t w[RANS_MASKED_MAX_BINS], total = 0;
    uint64_t g_prev = 0;
    int64_t e_prev = -1;
    for (size_t i = 0; i < n; i++) {
        const int64_t k = d->bins[i];
        uint64_t g0 = e_prev == k ? g_prev : masked_g(k, e_lo, e_hi, loc, scale_idx, nbins);
        uint64_t g1 = masked_g(k + 1, e_lo, e_hi, loc, scale_idx, nbins);
        w[i] = g1 - g0 + 1u;
        total += w[i];
        g_prev = g1;
        e_prev = k + 1;
    }
    unsigned shift = 0;
    while ((total >> shift) > (1ull << 32))
        shift++;
    d->pre[0] = 0;
    for (size_t i = 0; i < n; i++)
        d->pre[i + 1] = d->pre[i] + (w[i] >> shift);
    d->M = (1ull << precision) - n;
    return n;
}

/* C(r) of the leaky quantiser: r + floor(pre[r] * M / V), C(n) = 2^p. */
static inline uint64_t rans_masked_cum(const rans_masked_dist *d, size_t r)
{
    return (uint64_t)r + (d->pre[r] * d->M) / d->pre[d->n];
}

/* The rank r with C(r) <= cf < C(r + 1). */
static inline size_t rans_masked_find(const rans_masked_dist *d, uint64_t cf)
{
    size_t lo = 0, hi = d->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (rans_masked_cum(d, mid) <= cf) lo = mid; else hi = mid;
    }
    return lo;
}

/* The rank of bin s among the allowed bins, or n if s is not allowed. */
static inline size_t rans_masked_rank(const rans_masked_dist *d, int64_t s)
{
    size_t lo = 0, hi = d->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->bins[mid] <= s) lo = mid; else hi = mid;
    }
    return d->n && d->bins[lo] == s ? lo : d->n;
}

/* ---- bulk loops over arrays (rans_core.c) ----------------------------------------------------
 * Pushes code the array from its last element to its first, so the matching pop returns the
 * elements in order. They check every symbol (and table index / scale index) as they go; on
 * a bad one they restore the message exactly (pushes only append above the old top) and
 * report its index in *bad. Symbols are int32 (sym32 != 0) or int64. */

#define RANS_EBADSYM (-2)       /* a symbol outside the support */
#define RANS_EBADTABLE (-3)     /* a table index or scale index outside its range */

/* Cumulative tables from k frequency rows of n entries: cdf gets k rows of n + 1 entries.
 * Returns 0, 1 (a zero frequency at *row, *col) or 2 (row *row does not sum to 2^p). */
int rans_build_cdf(const uint32_t *freqs, size_t k, size_t n, unsigned precision,
                   uint32_t *cdf, size_t *row, size_t *col);
/* Decode table: lut[t * 2^bits + j] = the symbol of table t holding cf = j << (p - bits). */
void rans_build_lut(const uint32_t *cdf, size_t k, size_t n, unsigned precision,
                    unsigned bits, uint16_t *lut);
/* Encode table: enc[t * n + s] for every symbol s of every table t. */
void rans_build_enc(const uint32_t *cdf, size_t k, size_t n, unsigned precision,
                    rans_enc_sym *enc);
/* With enc (rans_build_enc) when given, else by division from the cdf rows. */
int rans_categorical_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                          const rans_enc_sym *enc, const uint32_t *cdf, size_t n,
                          const int64_t *table_idx, size_t k, unsigned precision, size_t *bad);
void rans_categorical_pop(rans_msg *m, int64_t *out, size_t count, const uint32_t *cdf,
                          size_t n, const int64_t *table_idx, unsigned precision,
                          const uint16_t *lut, unsigned lut_bits);
int rans_uniform_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                      uint64_t nbins, size_t *bad);
void rans_uniform_pop(rans_msg *m, int64_t *out, size_t count, uint64_t nbins);
int rans_logistic_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                       const int32_t *loc, const int32_t *scale_idx, uint64_t nbins,
                       unsigned precision, size_t *bad);
void rans_logistic_pop(rans_msg *m, int64_t *out, size_t count, const int32_t *loc,
                       const int32_t *scale_idx, uint64_t nbins, unsigned precision);
/* Logistics where mask_idx[i] >= 0 restricts symbol i to the allowed bins of
 * masks[mask_idx[i] * mask_bytes ...] (mask_bytes = (nbins + 7) / 8), the plain logistic where
 * mask_idx[i] < 0. A symbol outside its mask is RANS_EBADSYM; a mask index >= nmasks or an
 * empty mask RANS_EBADTABLE. The pop trusts its arguments (checked by the caller). */
int rans_masked_push(rans_msg *m, const int64_t *symbols, size_t count, const int32_t *loc,
                     const int32_t *scale_idx, const int32_t *mask_idx, const uint8_t *masks,
                     size_t nmasks, uint64_t nbins, unsigned precision, size_t *bad);
void rans_masked_pop(rans_msg *m, int64_t *out, size_t count, const int32_t *loc,
                     const int32_t *scale_idx, const int32_t *mask_idx, const uint8_t *masks,
                     uint64_t nbins, unsigned precision);

#endif
