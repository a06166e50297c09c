/* Integer-exact forward filter of the byte-level HMM (text codec).
 *
 * The model is given by integer frequencies only (weights/text-hmm.npz): initial state
 * frequencies, D successors per state with transition frequencies, and 256 emission frequencies
 * per state, every table leaky (all entries >= 1) and summing to 2^HMM_PREC. The filter keeps an
 * unnormalised alpha_t(j) as uint32 with its maximum rescaled into [2^15, 2^16) after every step
 * by a shift, so it can never collapse to all zeros and every machine computes the same integers.
 *
 *   w_j      = sum_{i -> j} alpha_{t-1}(i) * A(i, j)        < 2^16 * K * 2^16   (<= 2^48 for K<=65536)
 *   v_j      = w_j * E(j, x_t)                              < 2^64 for K <= 256 (checked at load)
 *   alpha_t  = v >> s   (or << -s), s chosen so that max alpha_t is in [2^15, 2^16).
 */
#ifndef BBX_HMM_CORE_H
#define BBX_HMM_CORE_H

#include <stdint.h>

#define HMM_PREC 16          /* every parameter table sums to 2^HMM_PREC */
#define HMM_ALPHA_BITS 16    /* alpha_t(j) < 2^HMM_ALPHA_BITS, max >= 2^(HMM_ALPHA_BITS-1) */

typedef struct {
    int32_t K;               /* number of hidden states */
    int32_t D;               /* successors per state */
    const uint32_t *pi;      /* (K,)   initial state frequencies */
    const uint16_t *succ;    /* (K,D)  successor state of slot d of state i */
    const uint32_t *a_freq;  /* (K,D)  transition frequencies */
    const uint32_t *e_col;   /* (256,K) emission frequency E(j, x) at e_col[x*K + j] */
} hmm_model;

/* alpha_1 = pi * E(., x); returns the number of nonzero entries. */
int32_t hmm_filter_first(const hmm_model *m, int32_t x, uint32_t *alpha);

/* alpha_t from alpha_{t-1}; `work` has K uint64 of scratch. Returns nonzero count. */
int32_t hmm_filter_step(const hmm_model *m, const uint32_t *prev, int32_t x,
                        uint32_t *alpha, uint64_t *work);

/* Run the filter over x[0..T), writing alpha_t (K each) for t with (t % every == 0) into
 * checkpoints[(t / every) * K]. `every` >= 1. */
void hmm_filter_run(const hmm_model *m, const uint8_t *x, int64_t T, int64_t every,
                    uint32_t *checkpoints, uint32_t *scratch_alpha, uint64_t *work);

#endif
