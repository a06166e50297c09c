/* Integer-exact HMM forward filter; see hmm_core.h for the arithmetic and its bounds. */
#include <string.h>

#include "hmm_core.h"

static inline int bitlen64(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

/* Rescale v (K entries, max > 0) into alpha with max in [2^15, 2^16); returns nonzero count. */
static int32_t rescale(const uint64_t *v, int32_t K, uint32_t *alpha)
{
    uint64_t mx = 0;
    for (int32_t j = 0; j < K; j++) mx = v[j] > mx ? v[j] : mx;
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

int32_t hmm_filter_first(const hmm_model *m, int32_t x, uint32_t *alpha)
{
    const int32_t K = m->K;
    const uint32_t *e = m->e_col + (int64_t)x * K;
    uint64_t v[K];
    for (int32_t j = 0; j < K; j++) v[j] = (uint64_t)m->pi[j] * e[j];
    return rescale(v, K, alpha);
}

int32_t hmm_filter_step(const hmm_model *m, const uint32_t *prev, int32_t x,
                        uint32_t *alpha, uint64_t *work)
{
    const int32_t K = m->K, D = m->D;
    memset(work, 0, sizeof(uint64_t) * (size_t)K);
    if (D == K) {
        /* Dense: successors are 0..K-1 in order, so the inner loop vectorises. */
        for (int32_t i = 0; i < K; i++) {
            const uint64_t a = prev[i];
            if (!a) continue;
            const uint32_t *row = m->a_freq + (int64_t)i * D;
            for (int32_t j = 0; j < K; j++) work[j] += a * row[j];
        }
    } else {
        for (int32_t i = 0; i < K; i++) {
            const uint64_t a = prev[i];
            if (!a) continue;
            const uint32_t *row = m->a_freq + (int64_t)i * D;
            const uint16_t *to = m->succ + (int64_t)i * D;
            for (int32_t d = 0; d < D; d++) work[to[d]] += a * row[d];
        }
    }
    const uint32_t *e = m->e_col + (int64_t)x * K;
    for (int32_t j = 0; j < K; j++) work[j] *= e[j];
    return rescale(work, K, alpha);
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
