/* Integer-exact HMM forward filter; see hmm_core.h for the arithmetic and its bounds. */
#include <stdlib.h>
#include <string.h>

#include "hmm_core.h"

static inline int bitlen64(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

/* Rescale v (K entries, maximum mx > 0) into alpha with max in [2^15, 2^16); returns the
 * nonzero count. */
static int32_t rescale_max(const uint64_t *restrict v, int32_t K, uint64_t mx,
                           uint32_t *restrict alpha)
{
    int shift = bitlen64(mx) - HMM_ALPHA_BITS;
    int32_t nz = 0;
    if (shift >= 0) {
        for (int32_t j = 0; j < K; j++) {
            uint32_t a = (uint32_t)(v[j] >> shift);
            alpha[j] = a;
            nz += a != 0;
        }
    } else {
        for (int32_t j = 0; j < K; j++) {
            uint32_t a = (uint32_t)(v[j] << -shift);
            alpha[j] = a;
            nz += a != 0;
        }
    }
    return nz;
}

static int32_t rescale(const uint64_t *v, int32_t K, uint32_t *alpha)
{
    uint64_t mx = 0;
    for (int32_t j = 0; j < K; j++) mx = v[j] > mx ? v[j] : mx;
    return rescale_max(v, K, mx, alpha);
}

/* Shift that keeps (g E + score) >> s below 2^17 (0 for the plain HMM: g = 1, score = 0). */
static inline int score_shift(uint64_t escale, uint64_t score)
{
    int s = bitlen64(score + (escale << HMM_PREC)) - (HMM_PREC + 1);
    return s > 0 ? s : 0;
}

int32_t hmm_filter_first_scored(const hmm_model *m, int32_t x, uint64_t escale, uint64_t score,
                                uint32_t *alpha)
{
    const int32_t K = m->K;
    const uint32_t *e = m->e_col + (int64_t)x * K;
    const int s = score_shift(escale, score);
    uint64_t v[K];
    for (int32_t j = 0; j < K; j++) v[j] = (uint64_t)m->pi[j] * ((escale * e[j] + score) >> s);
    return rescale(v, K, alpha);
}

int32_t hmm_filter_first(const hmm_model *m, int32_t x, uint32_t *alpha)
{
    return hmm_filter_first_scored(m, x, 1, 0, alpha);
}

int32_t hmm_filter_step(const hmm_model *m, const uint32_t *prev, int32_t x,
                        uint32_t *alpha, uint64_t *work)
{
    return hmm_filter_step_scored(m, prev, x, 1, 0, alpha, work);
}

/* The filter step is the hot loop: on x86-64 also build an AVX2 version (hardware gathers),
 * picked at load time when the CPU has it. Integer results are identical. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define HMM_HOT __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef HMM_HOT
#define HMM_HOT
#endif

/* ---- the pull form over 8 target states at a time (m->ell_*, see hmm_core.h) -------------
 * acc[l] = sum over the rows of group g of prev(ell_from) * ell_a, in 64 bits; each product is
 * below 2^32 (alpha < 2^16, A <= 2^16), as in the one-state-at-a-time loop. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ELL_AVX2 1
#define ELL_AVX2_FN __attribute__((target("avx2")))

/* 64-bit products of acc (< 2^44) and f (< 2^17): the 32 x 32 -> 64 multiply twice. */
ELL_AVX2_FN static inline __m256i mul_acc_factor(__m256i acc, __m256i f)
{
    const __m256i lo = _mm256_mul_epu32(acc, f);
    const __m256i hi = _mm256_mul_epu32(_mm256_srli_epi64(acc, 32), f);
    return _mm256_add_epi64(lo, _mm256_slli_epi64(hi, 32));
}

/* The whole step over the groups, 8 states per vector: the 8 alphas of a row are loaded one by
 * one (hardware gathers are slow on some CPUs) and multiplied 32 x 32 -> 64 in the even and
 * odd lanes; then the emission factors, the maximum and the rescale, as in the scalar code. */
ELL_AVX2_FN static int32_t filter_step_ell_avx2(const hmm_model *m,
                                                const uint32_t *restrict prev, int32_t x,
                                                uint64_t escale, uint64_t score, int s,
                                                uint32_t *restrict alpha)
{
    const int32_t L = m->ell_groups * 8;
    const uint32_t *restrict e = m->ell_e + (int64_t)x * L;
    uint64_t fac[L], v[L];
    if (escale >> 32) {
        for (int32_t l = 0; l < L; l++) fac[l] = (((uint64_t)e[l] << 32) + score) >> s;
    } else {
        const uint32_t g = (uint32_t)escale;
        for (int32_t l = 0; l < L; l++) fac[l] = ((uint64_t)g * e[l] + score) >> s;
    }
    __m256i vmax = _mm256_setzero_si256();        /* every v < 2^61: signed compares work */
    for (int32_t g = 0; g < m->ell_groups; g++) {
        __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
        for (int32_t r = m->ell_off[g], end = m->ell_off[g + 1]; r < end; r++) {
            const int32_t *f = m->ell_from + (int64_t)r * 8;
            const __m256i a = _mm256_loadu_si256((const __m256i *)(m->ell_a + (int64_t)r * 8));
            const __m256i p = _mm256_setr_epi32((int)prev[f[0]], (int)prev[f[1]],
                                                (int)prev[f[2]], (int)prev[f[3]],
                                                (int)prev[f[4]], (int)prev[f[5]],
                                                (int)prev[f[6]], (int)prev[f[7]]);
            even = _mm256_add_epi64(even, _mm256_mul_epu32(p, a));
            odd = _mm256_add_epi64(odd, _mm256_mul_epu32(_mm256_srli_epi64(p, 32),
                                                         _mm256_srli_epi64(a, 32)));
        }
        const __m256i ve = mul_acc_factor(even, _mm256_loadu_si256((const __m256i *)(fac + 8 * g)));
        const __m256i vo = mul_acc_factor(odd, _mm256_loadu_si256((const __m256i *)(fac + 8 * g + 4)));
        _mm256_storeu_si256((__m256i *)(v + 8 * g), ve);
        _mm256_storeu_si256((__m256i *)(v + 8 * g + 4), vo);
        vmax = _mm256_blendv_epi8(vmax, ve, _mm256_cmpgt_epi64(ve, vmax));
        vmax = _mm256_blendv_epi8(vmax, vo, _mm256_cmpgt_epi64(vo, vmax));
    }
    uint64_t lanes[4], mx = 0;
    _mm256_storeu_si256((__m256i *)lanes, vmax);
    for (int l = 0; l < 4; l++) mx = lanes[l] > mx ? lanes[l] : mx;
    /* as rescale_max, written to the states' own places */
    const int shift = bitlen64(mx) - HMM_ALPHA_BITS;
    int32_t nz = 0;
    for (int32_t l = 0; l < L; l++) {
        const int32_t j = m->ell_eo_state[l];
        if (j < 0) continue;
        const uint32_t a = (uint32_t)(shift >= 0 ? v[l] >> shift : v[l] << -shift);
        alpha[j] = a;
        nz += a != 0;
    }
    return nz;
}
#endif

static void ell_group_portable(const hmm_model *m, const uint32_t *restrict prev, int32_t g,
                               uint64_t acc[8])
{
    for (int l = 0; l < 8; l++) acc[l] = 0;
    for (int32_t r = m->ell_off[g], end = m->ell_off[g + 1]; r < end; r++) {
        const int32_t *f = m->ell_from + (int64_t)r * 8;
        const uint32_t *a = m->ell_a + (int64_t)r * 8;
        for (int l = 0; l < 8; l++) acc[l] += (uint64_t)prev[f[l]] * a[l];
    }
}

static int32_t filter_step_ell(const hmm_model *m, const uint32_t *restrict prev,
                               const uint32_t *restrict e, uint64_t escale, uint64_t score, int s,
                               uint32_t *restrict alpha, uint64_t *restrict w)
{
    uint64_t mx = 0, acc[8];
    for (int32_t g = 0; g < m->ell_groups; g++) {
        ell_group_portable(m, prev, g, acc);
        for (int l = 0; l < 8; l++) {
            const int32_t j = m->ell_state[g * 8 + l];
            if (j < 0) continue;
            const uint64_t v = acc[l] * ((escale * e[j] + score) >> s);
            w[j] = v;
            mx = v > mx ? v : mx;
        }
    }
    return rescale_max(w, m->K, mx, alpha);
}

#ifdef ELL_AVX2
/* acc[j] = sum_i prev[i] A(i, j) for K = 16: each row widened to 64-bit lanes and multiplied
 * 32 x 32 -> 64 (every product < 2^32, every sum < 2^36). */
ELL_AVX2_FN static void dense16_sums_avx2(const uint32_t *restrict a,
                                          const uint32_t *restrict prev, uint64_t *acc)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (int i = 0; i < 16; i++) {
        const __m256i p = _mm256_set1_epi64x((long long)prev[i]);
        const __m128i *r = (const __m128i *)(a + i * 16);
        s0 = _mm256_add_epi64(s0, _mm256_mul_epu32(p, _mm256_cvtepu32_epi64(_mm_loadu_si128(r))));
        s1 = _mm256_add_epi64(s1, _mm256_mul_epu32(p, _mm256_cvtepu32_epi64(_mm_loadu_si128(r + 1))));
        s2 = _mm256_add_epi64(s2, _mm256_mul_epu32(p, _mm256_cvtepu32_epi64(_mm_loadu_si128(r + 2))));
        s3 = _mm256_add_epi64(s3, _mm256_mul_epu32(p, _mm256_cvtepu32_epi64(_mm_loadu_si128(r + 3))));
    }
    _mm256_storeu_si256((__m256i *)acc, s0);
    _mm256_storeu_si256((__m256i *)(acc + 4), s1);
    _mm256_storeu_si256((__m256i *)(acc + 8), s2);
    _mm256_storeu_si256((__m256i *)(acc + 12), s3);
}
#endif

/* The dense filter at K = 16 (variant 4's model), sizes known to the compiler so that it keeps
 * the 16 sums in registers: the same integers as every other form. */
static inline int32_t filter_step_dense16(const uint32_t *restrict a, const uint32_t *restrict prev,
                                          const uint32_t *restrict e, uint64_t escale,
                                          uint64_t score, int s, uint32_t *restrict alpha)
{
    uint64_t acc[16] = {0}, mx = 0;
#ifdef ELL_AVX2
    if (__builtin_cpu_supports("avx2")) {
        dense16_sums_avx2(a, prev, acc);
    } else
#endif
    {
        for (int i = 0; i < 16; i++) {
            const uint64_t p = prev[i];
            for (int j = 0; j < 16; j++) acc[j] += p * a[i * 16 + j];
        }
    }
    for (int j = 0; j < 16; j++) {
        acc[j] *= (escale * e[j] + score) >> s;
        mx = acc[j] > mx ? acc[j] : mx;
    }
    const int shift = bitlen64(mx) - HMM_ALPHA_BITS;
    int32_t nz = 0;
    for (int j = 0; j < 16; j++) {
        const uint32_t v = (uint32_t)(shift >= 0 ? acc[j] >> shift : acc[j] << -shift);
        alpha[j] = v;
        nz += v != 0;
    }
    return nz;
}

/* Below 1/SCATTER_BELOW of the states alive, scattering from the live ones is cheaper. */
#define SCATTER_BELOW 3

HMM_HOT int32_t hmm_filter_step_scored(const hmm_model *m, const uint32_t *prev, int32_t x,
                                       uint64_t escale, uint64_t score, uint32_t *alpha,
                                       uint64_t *work)
{
    /* Pull form: w_j = sum over the predecessors i of j of prev(i) * A(i, j), accumulated in a
     * register (the scatter form's read-modify-write of memory was the bottleneck). Integer
     * sums are exact in any order, so this equals the definition in hmm_core.h. Each product
     * is below 2^32 (alpha < 2^16, A <= 2^16). */
    const int32_t K = m->K;
    const int32_t *restrict start = m->pred_start;
    const uint16_t *restrict from = m->pred_state;
    const uint32_t *restrict a = m->pred_a;
    const uint32_t *restrict e = m->e_col + (int64_t)x * K;
    const int s = score_shift(escale, score);
    uint64_t *restrict w = work;
    uint64_t mx = 0;
    if (m->dense_a && K == 16)
        return filter_step_dense16(m->dense_a, prev, e, escale, score, s, alpha);
    if (m->dense_a && K <= HMM_DENSE_MAX) {
        uint64_t acc[HMM_DENSE_MAX] = {0};
        for (int32_t i = 0; i < K; i++) {
            const uint64_t p = prev[i];
            const uint32_t *restrict row = m->dense_a + (int64_t)i * K;
            for (int32_t j = 0; j < K; j++) acc[j] += p * row[j];
        }
        for (int32_t j = 0; j < K; j++) {
            const uint64_t v = acc[j] * ((escale * e[j] + score) >> s);
            w[j] = v;
            mx = v > mx ? v : mx;
        }
        return rescale_max(w, K, mx, alpha);
    }
    int32_t nz = 0;
    for (int32_t i = 0; i < K; i++) nz += prev[i] != 0;
    if ((int64_t)nz * SCATTER_BELOW < K) {
        /* Few live states (common with the plain model): push only from those. */
        const int32_t D = m->D;
        memset(w, 0, sizeof(uint64_t) * (size_t)K);
        for (int32_t i = 0; i < K; i++) {
            const uint64_t p = prev[i];
            if (!p) continue;
            const uint32_t *row = m->a_freq + (int64_t)i * D;
            const uint16_t *to = m->succ + (int64_t)i * D;
            for (int32_t d = 0; d < D; d++) w[to[d]] += p * row[d];
        }
        for (int32_t j = 0; j < K; j++) {
            const uint64_t v = w[j] * ((escale * e[j] + score) >> s);
            w[j] = v;
            mx = v > mx ? v : mx;
        }
        return rescale_max(w, K, mx, alpha);
    }
    if (m->ell_off) {
#ifdef ELL_AVX2
        if (__builtin_cpu_supports("avx2"))
            return filter_step_ell_avx2(m, prev, x, escale, score, s, alpha);
#endif
        return filter_step_ell(m, prev, e, escale, score, s, alpha, w);
    }
    for (int32_t j = 0; j < K; j++) {
        uint64_t acc = 0;
        for (int32_t k = start[j], end = start[j + 1]; k < end; k++)
            acc += (uint64_t)prev[from[k]] * a[k];
        const uint64_t v = acc * ((escale * e[j] + score) >> s);
        w[j] = v;
        mx = v > mx ? v : mx;
    }
    return rescale_max(w, K, mx, alpha);
}

void hmm_filter_run(const hmm_model *m, const uint8_t *x, int64_t T, int64_t every,
                    uint32_t *checkpoints, uint32_t *scratch_alpha, uint64_t *work)
{
    const int32_t K = m->K;
    if (T <= 0) return;
    uint32_t *cur = scratch_alpha, *nxt = scratch_alpha + K;
    hmm_filter_first(m, x[0], cur);
    memcpy(checkpoints, cur, sizeof(uint32_t) * (size_t)K);
    for (int64_t t = 1; t < T; t++) {
        hmm_filter_step(m, cur, x[t], nxt, work);
        uint32_t *tmp = cur; cur = nxt; nxt = tmp;
        if (t % every == 0) memcpy(checkpoints + (t / every) * K, cur, sizeof(uint32_t) * (size_t)K);
    }
}

void hmm_lq_prepare(const uint64_t *w, int64_t n, unsigned precision, uint64_t *pre, hmm_lq *q)
{
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) total += w[i];
    unsigned shift = 0;
    while ((total >> shift) > (1ull << 32)) shift++;
    uint64_t cum = 0;
    pre[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        cum += w[i] >> shift;
        pre[i + 1] = cum;
    }
    q->V = cum;
    q->M = (1ull << precision) - (uint64_t)n;
}

/* ---- adaptive context counts ---------------------------------------------------------------
 * One open-addressing hash table maps (order, last `order` bytes) to a record; a record owns a
 * list of (byte, count) entries in a shared pool, grown by moving it to the pool's end. */

typedef struct { uint32_t count; uint32_t byte; } ctx_entry;
typedef struct {
    uint64_t key;
    uint32_t off;              /* its entries: pool[off .. off + n), room for cap */
    uint16_t n, cap;
    uint32_t total;            /* sum of the counts */
    uint32_t distinct;         /* entries with a nonzero count */
} ctx_rec;

struct hmm_ctx {
    int32_t norders;
    int32_t orders[HMM_CTX_MAX_ORDERS];
    uint64_t weights[HMM_CTX_MAX_ORDERS];
    /* blend (variant 2): escape beta0 + beta1 * distinct, or betad when distinct = 1 */
    uint64_t beta0[HMM_CTX_MAX_ORDERS], beta1[HMM_CTX_MAX_ORDERS], betad[HMM_CTX_MAX_ORDERS];
    int32_t *slots;            /* record index + 1, 0 = empty */
    uint64_t nslots;           /* power of two */
    ctx_rec *recs;
    uint64_t nrecs, caprecs;
    ctx_entry *pool;
    uint64_t npool, cappool;
};

hmm_ctx *hmm_ctx_new(int norders, const int32_t *orders, const uint32_t *weights)
{
    if (norders < 1 || norders > HMM_CTX_MAX_ORDERS) return NULL;
    hmm_ctx *c = (hmm_ctx *)calloc(1, sizeof(hmm_ctx));
    if (!c) return NULL;
    c->norders = norders;
    for (int i = 0; i < norders; i++) {
        if (orders[i] < 1 || orders[i] > HMM_CTX_MAX_ORDER || weights[i] < 1 ||
            weights[i] >= (1u << 20)) { free(c); return NULL; }
        c->orders[i] = orders[i];
        c->weights[i] = weights[i];
    }
    c->nslots = 1024;
    c->slots = (int32_t *)calloc(c->nslots, sizeof(int32_t));
    if (!c->slots) { free(c); return NULL; }
    return c;
}

void hmm_ctx_free(hmm_ctx *c)
{
    if (!c) return;
    free(c->slots);
    free(c->recs);
    free(c->pool);
    free(c);
}

static inline uint64_t ctx_key(const uint8_t *data, int64_t t, int32_t order)
{
    uint64_t key = (uint64_t)order << 56;
    for (int32_t k = 1; k <= order; k++)
        key |= (uint64_t)(t - k >= 0 ? data[t - k] : 0) << (8 * (k - 1));
    return key;
}

static inline uint64_t ctx_hash(uint64_t key)
{
    key ^= key >> 29;
    key *= 0xBF58476D1CE4E5B9ull;
    key ^= key >> 32;
    return key;
}

/* Record index for key, or -1 if absent. */
static int64_t ctx_find(const hmm_ctx *c, uint64_t key)
{
    uint64_t mask = c->nslots - 1, i = ctx_hash(key) & mask;
    while (c->slots[i]) {
        const ctx_rec *r = &c->recs[c->slots[i] - 1];
        if (r->key == key) return c->slots[i] - 1;
        i = (i + 1) & mask;
    }
    return -1;
}

static int ctx_grow_slots(hmm_ctx *c)
{
    uint64_t n = c->nslots * 2, mask = n - 1;
    int32_t *slots = (int32_t *)calloc(n, sizeof(int32_t));
    if (!slots) return -1;
    for (uint64_t r = 0; r < c->nrecs; r++) {
        uint64_t i = ctx_hash(c->recs[r].key) & mask;
        while (slots[i]) i = (i + 1) & mask;
        slots[i] = (int32_t)(r + 1);
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    return 0;
}

static int64_t ctx_insert(hmm_ctx *c, uint64_t key)
{
    if (c->nrecs >= (1ull << 30)) return -1;
    if (2 * (c->nrecs + 1) > c->nslots && ctx_grow_slots(c) != 0) return -1;
    if (c->nrecs == c->caprecs) {
        uint64_t cap = c->caprecs ? 2 * c->caprecs : 256;
        ctx_rec *recs = (ctx_rec *)realloc(c->recs, cap * sizeof(ctx_rec));
        if (!recs) return -1;
        c->recs = recs;
        c->caprecs = cap;
    }
    uint64_t mask = c->nslots - 1, i = ctx_hash(key) & mask;
    while (c->slots[i]) i = (i + 1) & mask;
    ctx_rec *r = &c->recs[c->nrecs];
    r->key = key;
    r->off = 0;
    r->n = r->cap = 0;
    r->total = r->distinct = 0;
    c->slots[i] = (int32_t)(c->nrecs + 1);
    return (int64_t)c->nrecs++;
}

static inline uint32_t rec_count(const hmm_ctx *c, const ctx_rec *r, int32_t x)
{
    const ctx_entry *e = c->pool + r->off;
    for (uint32_t k = 0; k < r->n; k++)
        if (e[k].byte == (uint32_t)x) return e[k].count;
    return 0;
}

void hmm_ctx_find_all(const hmm_ctx *c, const uint8_t *data, int64_t t, int64_t *recs)
{
    for (int i = 0; i < c->norders; i++) recs[i] = ctx_find(c, ctx_key(data, t, c->orders[i]));
}

uint64_t hmm_ctx_score_at(const hmm_ctx *c, const int64_t *recs, int32_t x)
{
    uint64_t s = 0;
    for (int i = 0; i < c->norders; i++)
        if (recs[i] >= 0) s += c->weights[i] * rec_count(c, &c->recs[recs[i]], x);
    return s;
}

uint64_t hmm_ctx_score(const hmm_ctx *c, const uint8_t *data, int64_t t, int32_t x)
{
    int64_t recs[HMM_CTX_MAX_ORDERS];
    hmm_ctx_find_all(c, data, t, recs);
    return hmm_ctx_score_at(c, recs, x);
}

int hmm_ctx_update_at(hmm_ctx *c, const uint8_t *data, int64_t t, int64_t *recs, int32_t x,
                      int32_t delta)
{
    for (int i = 0; i < c->norders; i++) {
        int64_t ri = recs[i];
        if (ri < 0) {
            if (delta < 0) continue;
            ri = recs[i] = ctx_insert(c, ctx_key(data, t, c->orders[i]));
            if (ri < 0) return -1;
        }
        ctx_rec *r = &c->recs[ri];
        ctx_entry *e = c->pool + r->off;
        uint32_t k = 0;
        while (k < r->n && e[k].byte != (uint32_t)x) k++;
        if (k < r->n) {
            if (delta < 0 && e[k].count == 0) continue;
            if (delta > 0 && e[k].count == 0) r->distinct++;
            e[k].count += (uint32_t)delta;
            r->total += (uint32_t)delta;
            if (e[k].count == 0) r->distinct--;
            continue;
        }
        if (delta < 0) continue;
        if (r->n == r->cap) {                       /* move the list to the pool's end */
            uint32_t cap = r->cap ? 2u * r->cap : 2u;
            if (cap > 256) cap = 256;
            if (c->npool + cap > c->cappool) {
                uint64_t pc = c->cappool ? 2 * c->cappool : 4096;
                while (pc < c->npool + cap) pc *= 2;
                if (pc > (1ull << 32)) return -1;
                ctx_entry *pool = (ctx_entry *)realloc(c->pool, pc * sizeof(ctx_entry));
                if (!pool) return -1;
                c->pool = pool;
                c->cappool = pc;
            }
            memcpy(c->pool + c->npool, c->pool + r->off, r->n * sizeof(ctx_entry));
            r->off = (uint32_t)c->npool;
            r->cap = (uint16_t)cap;
            c->npool += cap;
            e = c->pool + r->off;
        }
        e[r->n].byte = (uint32_t)x;
        e[r->n].count = 1;
        r->n++;
        r->total++;
        r->distinct++;
    }
    return 0;
}

int hmm_ctx_update(hmm_ctx *c, const uint8_t *data, int64_t t, int32_t x, int32_t delta)
{
    int64_t recs[HMM_CTX_MAX_ORDERS];
    hmm_ctx_find_all(c, data, t, recs);
    return hmm_ctx_update_at(c, data, t, recs, x, delta);
}

void hmm_ctx_weights_at(const hmm_ctx *c, const int64_t *recs, const uint32_t *e_row,
                        uint64_t *w)
{
    for (int b = 0; b < 256; b++) w[b] = e_row[b];
    for (int i = 0; i < c->norders; i++) {
        if (recs[i] < 0) continue;
        const ctx_rec *r = &c->recs[recs[i]];
        const ctx_entry *e = c->pool + r->off;
        for (uint32_t k = 0; k < r->n; k++) w[e[k].byte] += c->weights[i] * e[k].count;
    }
}

void hmm_ctx_weights(const hmm_ctx *c, const uint8_t *data, int64_t t, const uint32_t *e_row,
                     uint64_t *w)
{
    int64_t recs[HMM_CTX_MAX_ORDERS];
    hmm_ctx_find_all(c, data, t, recs);
    hmm_ctx_weights_at(c, recs, e_row, w);
}

int hmm_ctx_set_blend(hmm_ctx *c, const uint32_t *beta0, const uint32_t *beta1,
                      const uint32_t *betad)
{
    for (int i = 0; i < c->norders; i++) {
        if (beta0[i] >= (1u << 16) || beta1[i] >= (1u << 16) || beta0[i] + beta1[i] == 0 ||
            betad[i] == 0 || betad[i] > (1u << 17))
            return -1;
        c->beta0[i] = beta0[i];
        c->beta1[i] = beta1[i];
        c->betad[i] = betad[i];
    }
    return 0;
}

void hmm_ctx_blend_at(const hmm_ctx *c, const int64_t *recs, int32_t pred, uint32_t match,
                      hmm_blend *bl)
{
    uint64_t g = 1ull << 32;
    bl->pred = -1;
    bl->match = 0;
    if (pred >= 0 && match > 0) {
        const uint64_t d = (uint64_t)match + HMM_BLEND_MATCH_BETA;
        bl->pred = pred;
        bl->match = ((g << 16) / d) * match;
        g = g * HMM_BLEND_MATCH_BETA / d;
    }
    for (int i = c->norders - 1; i >= 0; i--) {
        bl->coef[i] = 0;
        if (recs[i] < 0) continue;
        const ctx_rec *r = &c->recs[recs[i]];
        if (r->total == 0) continue;            /* emptied on the encoder's way back */
        const uint64_t beta = r->distinct == 1 ? c->betad[i]
                                               : c->beta0[i] + c->beta1[i] * r->distinct;
        const uint64_t d = 4 * (uint64_t)r->total + beta;
        bl->coef[i] = (g << 18) / d;
        g = g * beta / d;
    }
    bl->g = g ? g : 1;
}

uint64_t hmm_blend_score(const hmm_ctx *c, const int64_t *recs, const hmm_blend *bl, int32_t x)
{
    uint64_t s = x == bl->pred ? bl->match : 0;
    for (int i = 0; i < c->norders; i++)
        if (bl->coef[i]) s += bl->coef[i] * rec_count(c, &c->recs[recs[i]], x);
    return s;
}

void hmm_blend_weights(const hmm_ctx *c, const int64_t *recs, const hmm_blend *bl,
                       const uint32_t *e_row, uint64_t *w)
{
    if (bl->g >> 32) {                        /* g = 2^32: no counts, no match */
        for (int b = 0; b < 256; b++) w[b] = (uint64_t)e_row[b] << 32;
    } else {                                  /* 32 x 32 -> 64-bit products: vectorised */
        const uint32_t g = (uint32_t)bl->g;
        for (int b = 0; b < 256; b++) w[b] = (uint64_t)g * e_row[b];
    }
    for (int i = 0; i < c->norders; i++) {
        if (!bl->coef[i]) continue;
        const ctx_rec *r = &c->recs[recs[i]];
        const ctx_entry *e = c->pool + r->off;
        for (uint32_t k = 0; k < r->n; k++) w[e[k].byte] += bl->coef[i] * e[k].count;
    }
    if (bl->pred >= 0) w[bl->pred] += bl->match;
}

/* ---- recomputing filter blocks on a second thread (see hmm_core.h) ---------------------- */
#include <pthread.h>

void hmm_filter_block(const hmm_model *m, const uint8_t *x, const hmm_emit_src *src,
                      int64_t T, int64_t every, const uint32_t *checkpoints, int64_t b,
                      uint32_t *out, uint64_t *work)
{
    const int32_t K = m->K;
    const int64_t t0 = b * every;
    memcpy(out, checkpoints + b * K, sizeof(uint32_t) * (size_t)K);
    for (int64_t s = 1; s < every && t0 + s < T; s++) {
        const int64_t u = t0 + s;
        uint64_t esc = 1, sc = 0;
        if (src->qx) {
            esc = src->qescale;
            sc = src->qmul * src->qx[u];
        } else if (src->escale) {
            esc = src->escale[u];
            sc = src->score[u];
        }
        hmm_filter_step_scored(m, out + (s - 1) * K, x[u], esc, sc, out + s * K, work);
    }
}

/* Block k lives in buf[k % NBUF]. Blocks are claimed in descending order by whichever thread
 * is free: the worker always, the caller when the block it asked for is still being computed
 * (coding a block takes about half as long as computing one, so both threads stay busy).
 * Block k may be claimed once the caller has released block k + NBUF, the previous user of
 * its buffer (the caller has asked for block k + 2 or a lower one): the block being coded and
 * the two below it, finished or in progress, are the NBUF = 3 buffers. */
#define NBUF 3

struct hmm_blocks {
    const hmm_model *m;
    const uint8_t *x;
    hmm_emit_src src;
    const uint32_t *ckpt;
    int64_t T, every, nblocks;
    uint32_t *buf[NBUF];
    uint64_t *work[2];         /* scratch (K entries): [0] the worker's, [1] the caller's */
    int threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    /* under lock: */
    int64_t next;              /* highest block not claimed yet (-1: all claimed) */
    int64_t ready[NBUF];       /* the finished block in each buffer (-1: none) */
    int64_t released;          /* blocks >= released are no longer used by the caller */
    int stop;
};

/* Under lock: the next block to compute if its buffer is free, else -1. */
static int64_t claim(hmm_blocks *p)
{
    const int64_t k = p->next;
    if (k < 0 || (k + NBUF < p->nblocks && p->released > k + NBUF)) return -1;
    p->next = k - 1;
    return k;
}

/* Called with the lock held, returns with it held. */
static void compute(hmm_blocks *p, int64_t k, uint64_t *work)
{
    pthread_mutex_unlock(&p->lock);
    hmm_filter_block(p->m, p->x, &p->src, p->T, p->every, p->ckpt, k,
                     p->buf[k % NBUF], work);
    pthread_mutex_lock(&p->lock);
    p->ready[k % NBUF] = k;
    pthread_cond_broadcast(&p->changed);
}

static void *blocks_worker(void *arg)
{
    hmm_blocks *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop && p->next >= 0) {
        const int64_t k = claim(p);
        if (k >= 0)
            compute(p, k, p->work[0]);
        else
            pthread_cond_wait(&p->changed, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

hmm_blocks *hmm_blocks_start(const hmm_model *m, const uint8_t *x, const hmm_emit_src *src,
                             int64_t T, int64_t every, const uint32_t *checkpoints)
{
    hmm_blocks *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    const size_t rows = (size_t)every * (size_t)m->K;
    int ok = 1;
    p->m = m; p->x = x; p->src = *src; p->ckpt = checkpoints;
    p->T = T; p->every = every; p->nblocks = (T + every - 1) / every;
    for (int i = 0; i < NBUF; i++) {
        p->buf[i] = malloc(sizeof(uint32_t) * rows);
        ok &= p->buf[i] != NULL;
        p->ready[i] = -1;
    }
    for (int i = 0; i < 2; i++) {
        p->work[i] = malloc(sizeof(uint64_t) * (size_t)m->K);
        ok &= p->work[i] != NULL;
    }
    if (!ok) {
        hmm_blocks_free(p);
        return NULL;
    }
    p->next = p->nblocks - 1;
    p->released = p->nblocks;
    /* One block is not worth a thread; without one, hmm_blocks_get computes in place. */
    if (p->nblocks > 1 && pthread_mutex_init(&p->lock, NULL) == 0) {
        if (pthread_cond_init(&p->changed, NULL) == 0) {
            if (pthread_create(&p->thread, NULL, blocks_worker, p) == 0) {
                p->threaded = 1;
                return p;
            }
            pthread_cond_destroy(&p->changed);
        }
        pthread_mutex_destroy(&p->lock);
    }
    return p;
}

const uint32_t *hmm_blocks_get(hmm_blocks *p, int64_t b)
{
    uint32_t *out = p->buf[b % NBUF];
    if (!p->threaded) {
        hmm_filter_block(p->m, p->x, &p->src, p->T, p->every, p->ckpt, b, out,
                         p->work[1]);
        return out;
    }
    pthread_mutex_lock(&p->lock);
    p->released = b + 1;
    pthread_cond_broadcast(&p->changed);
    while (p->ready[b % NBUF] != b) {
        const int64_t k = claim(p);       /* help instead of waiting */
        if (k >= 0)
            compute(p, k, p->work[1]);
        else
            pthread_cond_wait(&p->changed, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return out;
}

void hmm_blocks_free(hmm_blocks *p)
{
    if (!p) return;
    if (p->threaded) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_cond_destroy(&p->changed);
        pthread_mutex_destroy(&p->lock);
    }
    for (int i = 0; i < NBUF; i++) free(p->buf[i]);
    free(p->work[0]);
    free(p->work[1]);
    free(p);
}
