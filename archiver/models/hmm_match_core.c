/* Match model (see hmm_match.h and format_spec/codec-text.md section 3.3). */
#include <stdlib.h>

#include "hmm_match.h"

struct hmm_match {
    int minlen, nweights;
    uint32_t weights[HMM_MATCH_MAX_WEIGHTS];
    int bits;                  /* the table has 2^bits entries */
    uint32_t *table;           /* position after the latest occurrence + 1; 0 = empty */
    int64_t ptr;               /* predicted position (x_ptr is the prediction), -1 = none */
    int64_t len;               /* bytes matched before ptr, capped at nweights - 1 */
    int recovering;            /* ptr went on past a mismatch (same offset, as zstd's repeat
                                * offsets); len counts the bytes matched since */
    int recover;               /* 0: drop a match at its first mismatch */
    uint32_t rweights[HMM_MATCH_MAX_WEIGHTS];   /* weights while recovering, by len */
};

int hmm_match_table_bits(int64_t T)
{
    int b = 0;
    while (b < 22 && (1ll << b) < T) b++;
    return b < 12 ? 12 : b;
}

hmm_match *hmm_match_new(int minlen, int nweights, const uint32_t *weights,
                         const uint32_t *rweights, int64_t T)
{
    if (minlen < HMM_MATCH_MIN_MIN || minlen > HMM_MATCH_MIN_MAX || nweights <= minlen ||
        nweights > HMM_MATCH_MAX_WEIGHTS || T < 0 || T >= (1ll << 32) - 1)
        return NULL;
    for (int i = 0; i < nweights; i++)
        if (weights[i] >= HMM_MATCH_WEIGHT_MAX || (rweights && rweights[i] >= HMM_MATCH_WEIGHT_MAX))
            return NULL;
    hmm_match *mm = calloc(1, sizeof *mm);
    if (!mm) return NULL;
    mm->minlen = minlen;
    mm->nweights = nweights;
    for (int i = 0; i < nweights; i++) mm->weights[i] = weights[i];
    mm->recover = rweights != NULL;
    for (int i = 0; rweights && i < nweights; i++) mm->rweights[i] = rweights[i];
    mm->bits = hmm_match_table_bits(T);
    mm->table = calloc((size_t)1 << mm->bits, sizeof(uint32_t));
    if (!mm->table) { free(mm); return NULL; }
    mm->ptr = -1;
    return mm;
}

void hmm_match_free(hmm_match *mm)
{
    if (!mm) return;
    free(mm->table);
    free(mm);
}

/* Hash of data[t - minlen .. t - 1]: the bytes as a little-endian integer (x_{t-1} lowest)
 * times a 64-bit odd constant, top `bits` bits. */
static inline uint64_t match_hash(const hmm_match *mm, const uint8_t *data, int64_t t)
{
    uint64_t key = 0;
    for (int k = 1; k <= mm->minlen; k++) key |= (uint64_t)data[t - k] << (8 * (k - 1));
    return (key * 0x9E3779B97F4A7C15ull) >> (64 - mm->bits);
}

uint32_t hmm_match_next(hmm_match *mm, const uint8_t *data, int64_t t, int32_t *pred)
{
    const int64_t cap = mm->nweights - 1;
    if (t > 0 && mm->ptr >= 0) {            /* did the last prediction come true? */
        if (data[mm->ptr] == data[t - 1]) {
            mm->ptr++;
            if (mm->len < cap) mm->len++;
        } else if (mm->recover && !(mm->recovering && mm->len == 0)) {
            mm->ptr++;
            mm->len = 0;
            mm->recovering = 1;
        } else {
            mm->ptr = -1;
            mm->len = 0;
            mm->recovering = 0;
        }
    }
    if (t >= mm->minlen) {
        const uint64_t h = match_hash(mm, data, t);
        if ((mm->ptr < 0 || (mm->recovering && mm->len < mm->minlen)) && mm->table[h]) {
            /* A candidate: count the bytes that agree going back (a hash collision gives
             * fewer than minlen, and no match). */
            const int64_t q = (int64_t)mm->table[h] - 1;
            int64_t n = 0;
            while (n < cap && q - n - 1 >= 0 && data[q - n - 1] == data[t - n - 1]) n++;
            if (n >= mm->minlen) {
                mm->ptr = q;
                mm->len = n;
                mm->recovering = 0;
            }
        }
        mm->table[h] = (uint32_t)(t + 1);
    }
    if (mm->ptr < 0) {
        *pred = -1;
        return 0;
    }
    *pred = data[mm->ptr];
    return mm->recovering ? mm->rweights[mm->len] : mm->weights[mm->len];
}
