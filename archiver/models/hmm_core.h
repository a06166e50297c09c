/* Integer-exact forward filter of the byte-level HMM (text codec).
 *
 * The model is given by integer frequencies only (weights/text-hmm.npz): initial state
 * frequencies, D successors per state with transition frequencies, and 256 emission frequencies
 * per state, every table leaky (all entries >= 1) and summing to 2^HMM_PREC. The filter keeps an
 * unnormalised alpha_t(j) as uint32 with its maximum rescaled into [2^15, 2^16) after every step
 * by a shift, so it can never collapse to all zeros and every machine computes the same integers.
 *
 *   w_j      = sum_{i -> j} alpha_{t-1}(i) * A(i, j)        < 2^16 * K * 2^16  (< 2^44, K <= 4096)
 *   v_j      = w_j * e_j,  e_j = E(j, x_t) < 2^16 (plain) or < 2^17 (adaptive, below)  < 2^61
 *   alpha_t  = v >> s   (or << -s), s chosen so that max alpha_t is in [2^15, 2^16).
 * K <= 4096 is checked when the tables are loaded (archiver/models/hmm.py).
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
    /* The transitions again, grouped by target (CSR), so that the filter gathers into a
     * register instead of scattering into memory: the predecessors of j are entries
     * pred_start[j] .. pred_start[j+1]-1, state pred_state[k] with frequency pred_a[k]. */
    const int32_t *pred_start;   /* (K+1,) */
    const uint16_t *pred_state;  /* (nnz,) */
    const uint32_t *pred_a;      /* (nnz,) */
    /* Optional (NULL: unused): the same predecessor lists sliced by 8 target states, so that
     * the filter works on 8 states per vector. Group g holds lanes 8g .. 8g+7; lane l is state
     * ell_state[8g + l] (-1: padding); rows ell_off[g] .. ell_off[g+1]-1 hold one predecessor
     * per lane, row r at ell_from[8r + l] with frequency ell_a[8r + l] (0 past the end of a
     * lane's list, so padding adds nothing; integer sums are exact in any order). */
    int32_t ell_groups;
    const int32_t *ell_off;      /* (ell_groups+1,) */
    const int32_t *ell_state;    /* (8 ell_groups,) */
    const int32_t *ell_from;     /* (8 rows,) */
    const uint32_t *ell_a;       /* (8 rows,) */
    /* For the vector kernel: positions 8g .. 8g+7 hold lanes 0, 2, 4, 6, 1, 3, 5, 7 of group g
     * (its even and odd halves), state ell_eo_state[.] (-1: padding) with emission frequency
     * ell_e[x * 8 ell_groups + .] (0 for padding). */
    const int32_t *ell_eo_state; /* (8 ell_groups,) */
    const uint32_t *ell_e;       /* (256, 8 ell_groups) */
    /* Optional (NULL: unused), for small K: the transitions as a dense (K, K) matrix,
     * dense_a[i * K + j] = A(i, j) (0 where j is not a successor of i), so the filter is K
     * rows of K multiply-adds that vectorise; the same integer sums as the lists above. */
    const uint32_t *dense_a;
} hmm_model;
#define HMM_DENSE_MAX 32             /* K up to which the coder builds dense_a */
#define HMM_ELL_LANES 8

/* alpha_1 = pi * E(., x); returns the number of nonzero entries. */
int32_t hmm_filter_first(const hmm_model *m, int32_t x, uint32_t *alpha);

/* alpha_t from alpha_{t-1}; `work` has K uint64 of scratch. Returns nonzero count. */
int32_t hmm_filter_step(const hmm_model *m, const uint32_t *prev, int32_t x,
                        uint32_t *alpha, uint64_t *work);

/* Run the filter over x[0..T), writing alpha_t (K each) for t with (t % every == 0) into
 * checkpoints[(t / every) * K]. `every` >= 1. */
void hmm_filter_run(const hmm_model *m, const uint8_t *x, int64_t T, int64_t every,
                    uint32_t *checkpoints, uint32_t *scratch_alpha, uint64_t *work);



/* ---- recomputing filter blocks on a second thread (the encoder's way back) ----------------
 * The encoder keeps alpha_t only at t % every == 0 (checkpoints) and codes t = T..1, so it needs
 * the blocks of alpha in descending order. A hmm_blocks recomputes the blocks below b on its own
 * thread while the caller codes with block b, and the caller computes one too instead of
 * waiting: three block buffers, each handed to the caller only when finished and refilled only
 * after the caller has moved on to a lower block.
 * x, the emission terms (hmm_emit_src) and checkpoints must stay unchanged while it runs. */
typedef struct hmm_blocks hmm_blocks;

/* Where the filter's emission terms of position u come from: escale[u], score[u] (NULL: 1 and
 * 0, the plain HMM), or, when qx is set (variant 3), the constant qescale and qmul * qx[u]. */
typedef struct {
    const uint64_t *escale, *score;
    const uint32_t *qx;
    uint64_t qescale, qmul;
} hmm_emit_src;

/* Block b: out[s*K ..] = alpha_{b*every + s} for s in [0, min(every, T - b*every)). */
void hmm_filter_block(const hmm_model *m, const uint8_t *x, const hmm_emit_src *src,
                      int64_t T, int64_t every, const uint32_t *checkpoints, int64_t b,
                      uint32_t *out, uint64_t *work);
/* Starts computing the last block; NULL when out of memory. Runs in the calling thread when
 * a thread cannot be started (same results). *src is copied. */
hmm_blocks *hmm_blocks_start(const hmm_model *m, const uint8_t *x, const hmm_emit_src *src,
                             int64_t T, int64_t every, const uint32_t *checkpoints);
/* Block b (alpha rows as in hmm_filter_block), computing or waiting until it is ready. Ask for the blocks
 * in descending order from the last; asking for b ends the use of block b+1. */
const uint32_t *hmm_blocks_get(hmm_blocks *p, int64_t b);
/* Stops the thread (if any) and frees everything; NULL is accepted. */
void hmm_blocks_free(hmm_blocks *p);

/* ---- adaptive emissions ------------------------------------------------------------------
 * Optional context counts that make the emission depend on the bytes already coded:
 *     P(x_t = b | z_t = j, x_<t)  proportional to  E(j, b) + sum_o B_o * c_o(b)
 * where c_o(b) counts how often b followed the last `order_o` bytes so far (bytes before the
 * start count as 0) and B_o is an integer (2^16 = weight of one count equal to the whole HMM
 * emission). The denominator does not depend on j, so the filter needs only the scalar
 * S_t = sum_o B_o * c_o(x_t): its emission factor for state j is (E(j, x_t) + S_t) >> s with the
 * common shift s = max(0, bitlen(2^16 + S_t) - 17). The model is still exactly causal, so
 * IconoCLaSM codes it unchanged. Counts only ever change by +-1 (the encoder walks back by
 * decrementing), so no rescaling that could not be undone. */
#define HMM_CTX_MAX_ORDERS 6
#define HMM_CTX_MAX_ORDER 7

typedef struct hmm_ctx hmm_ctx;

/* orders[i] in 1..7, weights[i] >= 1 (each < 2^20); NULL on bad arguments or no memory. */
hmm_ctx *hmm_ctx_new(int norders, const int32_t *orders, const uint32_t *weights);
void hmm_ctx_free(hmm_ctx *c);
/* S_t for byte x at position t of data (contexts read data[t - order .. t - 1]). */
uint64_t hmm_ctx_score(const hmm_ctx *c, const uint8_t *data, int64_t t, int32_t x);
/* Add delta (+1 or -1) to the counts of x after the contexts at position t; 0 or -1 (ENOMEM). */
int hmm_ctx_update(hmm_ctx *c, const uint8_t *data, int64_t t, int32_t x, int32_t delta);
/* w[b] = e_row[b] + sum_o B_o * c_o(b) for all 256 bytes. */
void hmm_ctx_weights(const hmm_ctx *c, const uint8_t *data, int64_t t, const uint32_t *e_row,
                     uint64_t *w);
/* The same, with the context records of position t looked up once (hmm_ctx_find_all: one
 * index per order, -1 = context not seen yet) and shared by the calls for that position. */
void hmm_ctx_find_all(const hmm_ctx *c, const uint8_t *data, int64_t t, int64_t *recs);
uint64_t hmm_ctx_score_at(const hmm_ctx *c, const int64_t *recs, int32_t x);
int hmm_ctx_update_at(hmm_ctx *c, const uint8_t *data, int64_t t, int64_t *recs, int32_t x,
                      int32_t delta);
void hmm_ctx_weights_at(const hmm_ctx *c, const int64_t *recs, const uint32_t *e_row,
                        uint64_t *w);
/* The filter step with an emission factor (g E(j, x) + score) >> s, as above (g = escale: 1
 * for the additive counts, the blend's multiplier of E below; s = max(0, bitlen(g 2^16 + score)
 * - 17)). g <= 2^32 and score < 2^52. */
int32_t hmm_filter_step_scored(const hmm_model *m, const uint32_t *prev, int32_t x,
                               uint64_t escale, uint64_t score, uint32_t *alpha, uint64_t *work);
int32_t hmm_filter_first_scored(const hmm_model *m, int32_t x, uint64_t escale, uint64_t score,
                                uint32_t *alpha);

/* ---- the blend of variant 2 ----------------------------------------------------------------
 * Instead of adding counts with fixed weights, variant 2 interpolates the orders as PPM does
 * (escape estimate beta_o = (beta0_o + beta1_o * distinct_o) / 4 pseudo-counts, distinct_o = the
 * bytes seen in the context so far, or betad_o / 4 in a context that has seen one byte only:
 * those deserve more trust), highest order first, the match model above them all and the
 * HMM emission at the bottom:
 *     P(b) = (c_o(b) + beta_o P_lower(b)) / (n_o + beta_o),   P_bottom(b) = E(j, b) / 2^16.
 * Written out, P(b) is proportional to g E(j, b) + sum_o coef_o c_o(b) + [b == pred] match,
 * with integer g, coef_o, match computed from the top down by hmm_ctx_blend_at (g starts at 2^32;
 * every step is a floor division; g ends >= 1 so every state keeps a nonzero factor). The filter
 * needs g and the scalar score of the byte that occurred (format_spec/codec-text.md 3.3). */
#define HMM_BLEND_MATCH_BETA 256  /* the match model's pseudo-count: P(pred) = M / (M + 256) */

typedef struct {
    uint64_t g;                          /* multiplier of E(j, b), in [1, 2^32] */
    uint64_t coef[HMM_CTX_MAX_ORDERS];   /* weight of one count of each order (0: no record) */
    uint64_t match;                      /* weight added to the match model's byte */
    int32_t pred;                        /* the match model's byte, -1 = none */
} hmm_blend;

/* Switch the counts to the blend with these escape parameters (each < 2^16, beta0 + beta1 >= 1,
 * 1 <= betad <= 2^17); 0 or -1 on bad arguments. */
int hmm_ctx_set_blend(hmm_ctx *c, const uint32_t *beta0, const uint32_t *beta1,
                      const uint32_t *betad);
/* The blend at the position whose records are `recs`, with the match model's prediction
 * (pred < 0 or match = 0: none; match < 2^24). */
void hmm_ctx_blend_at(const hmm_ctx *c, const int64_t *recs, int32_t pred, uint32_t match,
                      hmm_blend *bl);
/* sum_o coef_o c_o(x) + [x == pred] match: the filter's score of byte x. */
uint64_t hmm_blend_score(const hmm_ctx *c, const int64_t *recs, const hmm_blend *bl, int32_t x);
/* w[b] = g e_row[b] + sum_o coef_o c_o(b) + [b == pred] match (< 2^52 each). */
void hmm_blend_weights(const hmm_ctx *c, const int64_t *recs, const hmm_blend *bl,
                       const uint32_t *e_row, uint64_t *w);

/* ---- the leaky quantiser, evaluated lazily --------------------------------------------------
 * The same cumulative frequencies C(k) as rans_quantize_cdf (format_spec/rans.md section 6),
 * but only at the few k a push or pop needs, instead of one 64-bit division per entry:
 *   s = smallest shift with (sum w) >> s <= 2^32;  pre[k] = sum_{i<k} (w_i >> s);
 *   C(k) = k + pre[k] * M // V,  M = 2^p - n,  V = pre[n].
 * Weights must not be all zero. */
typedef struct { uint64_t M, V; } hmm_lq;

void hmm_lq_prepare(const uint64_t *w, int64_t n, unsigned precision, uint64_t *pre /* n+1 */,
                    hmm_lq *q);

static inline uint64_t hmm_lq_cum(const hmm_lq *q, const uint64_t *pre, int64_t k)
{
    return (uint64_t)k + pre[k] * q->M / q->V;
}

/* The k in [0, n) with C(k) <= cf < C(k + 1). */
static inline int64_t hmm_lq_find(const hmm_lq *q, const uint64_t *pre, int64_t n, uint64_t cf)
{
    int64_t lo = 0, hi = n;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (hmm_lq_cum(q, pre, mid) <= cf) lo = mid; else hi = mid;
    }
    return lo;
}
#endif
