/* Match model of the text codec's adaptive emissions (payload variant 2).
 *
 * Predicts x_t as the byte that followed the most recent earlier occurrence of the current
 * context, as lpaq and zstd find repeats: a table maps a hash of the last `minlen` bytes to the
 * position after their latest occurrence. While the prediction keeps coming true the match just
 * moves on (its length grows); after a miss, or when there is none, the table is asked again.
 * With recovery on, a mismatch does not end the match at once: the pointer goes on past it
 * (same offset, like zstd's repeat offsets: code often differs from its earlier copy in one
 * identifier or digit) with len counting again from 0 and weights taken from rweights; a
 * second mismatch in a row ends it, and while fewer than minlen bytes agree again a fresh
 * match from the table replaces it. The predicted byte gets weight weights[len] (rweights[len]
 * while recovering, len capped at nweights - 1) in the emission (format_spec/codec-text.md 3.3).
 * Everything is a function of x_<t, so encoder and decoder compute the same (pred, weight) by
 * calling hmm_match_next for t = 0, 1, 2, ... in order. */
#ifndef BBX_HMM_MATCH_H
#define BBX_HMM_MATCH_H

#include <stdint.h>

#define HMM_MATCH_MIN_MIN 2      /* minlen range */
#define HMM_MATCH_MIN_MAX 8
#define HMM_MATCH_MAX_WEIGHTS 64 /* weight table length, so lengths count up to 63 */
#define HMM_MATCH_WEIGHT_MAX (1u << 24)

typedef struct hmm_match hmm_match;

/* For a segment of T bytes; weights[0..nweights) and rweights[0..nweights) (NULL: no
 * recovery) each < HMM_MATCH_WEIGHT_MAX. NULL on bad arguments or no memory. */
hmm_match *hmm_match_new(int minlen, int nweights, const uint32_t *weights,
                         const uint32_t *rweights, int64_t T);
void hmm_match_free(hmm_match *mm);

/* Advance to position t (the previous call must have been for t - 1, or none for t = 0) and
 * give the prediction for x_t: returns its weight (0 = no prediction) and sets *pred. */
uint32_t hmm_match_next(hmm_match *mm, const uint8_t *data, int64_t t, int32_t *pred);

/* log2 of the table size used for a segment of T bytes (the spec's formula). */
int hmm_match_table_bits(int64_t T);

#endif
