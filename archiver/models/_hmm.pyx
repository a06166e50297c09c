# distutils: sources = archiver/models/hmm_core.c archiver/models/hmm_match_core.c archiver/models/hmm_cm_core.c
# distutils: include_dirs = cython_ans archiver/models
"""IconoCLaSM coding of bytes with the integer HMM, symbol by symbol in C on a rANS Message.

Encoding (Townsend & Murray, IconoCLaSM), for x_1..x_T:
    z_T <- Q(z_T | x_1..T)                              (pop: bits back)
    for t = T..2:  x_t -> P(x_t | z_t)
                   z_t-1 <- Q(z_t-1 | x_1..t-1, z_t)    (pop: bits back)
                   z_t -> P(z_t | z_t-1)
    x_1 -> P(x_1 | z_1);  z_1 -> P(z_1)
Decoding runs the inverse operations in the opposite order. Q(z_T | x) is proportional to the
integer filter alpha_T, and Q(z_t-1 | x_1..t-1, z_t) to alpha_t-1(i) * A(i, z_t) over the
predecessors i of z_t; both go through THE leaky quantiser (rans_quantize_cdf) so the state that
is pushed later always has nonzero mass. The encoder keeps alpha only every CHECKPOINT steps and
recomputes one block at a time on the way back, so memory stays small for long inputs; block b-1
and below are recomputed on a second thread (hmm_blocks in hmm_core.c) while block b is coded.
"""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from cython_ans._rans cimport Message
from cython_ans.rans cimport (RANS_L, RANS_OK, rans_msg, rans_peek, rans_pop_advance,
                              rans_pop_cdf, rans_push, rans_push_cdf, rans_source_word,
                              rans_quantize_cdf)

cnp.import_array()

cdef extern from "hmm_core.h" nogil:
    enum:
        HMM_PREC
        HMM_ALPHA_BITS
        HMM_CTX_MAX_ORDERS
        HMM_DENSE_MAX
    ctypedef struct hmm_model:
        int32_t K
        int32_t D
        const uint32_t *pi
        const uint16_t *succ
        const uint32_t *a_freq
        const uint32_t *e_col
        const int32_t *pred_start
        const uint16_t *pred_state
        const uint32_t *pred_a
        int32_t ell_groups
        const int32_t *ell_off
        const int32_t *ell_state
        const int32_t *ell_from
        const uint32_t *ell_a
        const int32_t *ell_eo_state
        const uint32_t *ell_e
        const uint32_t *dense_a
    int32_t hmm_filter_first(const hmm_model *m, int32_t x, uint32_t *alpha)
    int32_t hmm_filter_step(const hmm_model *m, const uint32_t *prev, int32_t x,
                            uint32_t *alpha, uint64_t *work)
    ctypedef struct hmm_ctx:
        pass
    hmm_ctx *hmm_ctx_new(int norders, const int32_t *orders, const uint32_t *weights)
    void hmm_ctx_free(hmm_ctx *c)
    uint64_t hmm_ctx_score(const hmm_ctx *c, const uint8_t *data, int64_t t, int32_t x)
    int hmm_ctx_update(hmm_ctx *c, const uint8_t *data, int64_t t, int32_t x, int32_t delta)
    void hmm_ctx_weights(const hmm_ctx *c, const uint8_t *data, int64_t t,
                         const uint32_t *e_row, uint64_t *w)
    void hmm_ctx_find_all(const hmm_ctx *c, const uint8_t *data, int64_t t, int64_t *recs)
    uint64_t hmm_ctx_score_at(const hmm_ctx *c, const int64_t *recs, int32_t x)
    int hmm_ctx_update_at(hmm_ctx *c, const uint8_t *data, int64_t t, int64_t *recs, int32_t x,
                          int32_t delta)
    void hmm_ctx_weights_at(const hmm_ctx *c, const int64_t *recs, const uint32_t *e_row,
                            uint64_t *w)
    int32_t hmm_filter_step_scored(const hmm_model *m, const uint32_t *prev, int32_t x,
                                   uint64_t escale, uint64_t score, uint32_t *alpha,
                                   uint64_t *work)
    int32_t hmm_filter_first_scored(const hmm_model *m, int32_t x, uint64_t escale,
                                    uint64_t score, uint32_t *alpha)
    ctypedef struct hmm_blocks:
        pass
    ctypedef struct hmm_emit_src:
        const uint64_t *escale
        const uint64_t *score
        const uint32_t *qx
        uint64_t qescale
        uint64_t qmul
    hmm_blocks *hmm_blocks_start(const hmm_model *m, const uint8_t *x, const hmm_emit_src *src,
                                 int64_t T, int64_t every, const uint32_t *checkpoints)
    const uint32_t *hmm_blocks_get(hmm_blocks *p, int64_t b)
    void hmm_blocks_free(hmm_blocks *p)
    ctypedef struct hmm_blend:
        uint64_t g
        uint64_t coef[HMM_CTX_MAX_ORDERS]
        uint64_t match
        int32_t pred
    int hmm_ctx_set_blend(hmm_ctx *c, const uint32_t *beta0, const uint32_t *beta1,
                          const uint32_t *betad)
    void hmm_ctx_blend_at(const hmm_ctx *c, const int64_t *recs, int32_t pred, uint32_t match,
                          hmm_blend *bl)
    uint64_t hmm_blend_score(const hmm_ctx *c, const int64_t *recs, const hmm_blend *bl,
                             int32_t x)
    void hmm_blend_weights(const hmm_ctx *c, const int64_t *recs, const hmm_blend *bl,
                           const uint32_t *e_row, uint64_t *w)
    void hmm_filter_block(const hmm_model *m, const uint8_t *x, const hmm_emit_src *src,
                          int64_t T, int64_t every, const uint32_t *checkpoints, int64_t b,
                          uint32_t *out, uint64_t *work)
    ctypedef struct hmm_lq:
        uint64_t M
        uint64_t V
    void hmm_lq_prepare(const uint64_t *w, int64_t n, unsigned precision, uint64_t *pre,
                        hmm_lq *q)
    uint64_t hmm_lq_cum(const hmm_lq *q, const uint64_t *pre, int64_t k)
    int64_t hmm_lq_find(const hmm_lq *q, const uint64_t *pre, int64_t n, uint64_t cf)

cdef extern from "hmm_match.h" nogil:
    enum:
        HMM_MATCH_MIN_MIN
        HMM_MATCH_MIN_MAX
        HMM_MATCH_MAX_WEIGHTS
        HMM_MATCH_WEIGHT_MAX
    ctypedef struct hmm_match:
        pass
    hmm_match *hmm_match_new(int minlen, int nweights, const uint32_t *weights,
                             const uint32_t *rweights, int64_t T)
    void hmm_match_free(hmm_match *mm)
    uint32_t hmm_match_next(hmm_match *mm, const uint8_t *data, int64_t t, int32_t *pred)

cdef extern from "hmm_cm.h" nogil:
    enum:
        HMM_CM_LR
    ctypedef struct hmm_cm:
        pass
    hmm_cm *hmm_cm_new(int64_t T, int lr)
    void hmm_cm_free(hmm_cm *cm)
    int64_t hmm_cm_bytes(int64_t T)
    void hmm_cm_begin(hmm_cm *cm, const uint8_t *data, int64_t t)
    int hmm_cm_predict(hmm_cm *cm)
    void hmm_cm_update(hmm_cm *cm, int y)
    uint64_t hmm_cm_left(uint64_t m, int p)
    void hmm_cm_byte(hmm_cm *cm, const uint8_t *data, int64_t t, int x, uint64_t *qcum,
                     uint64_t *q)
    # C(b) of the mixed emission (format_spec/codec-text.md 3.4)
    uint64_t hmm_cm_mixed_cum(uint64_t lam, uint64_t ecum, uint64_t qcum, uint64_t b)
    int hmm_cm_find_byte(hmm_cm *cm, const uint8_t *data, int64_t t, const uint32_t *ecum,
                         uint64_t lam, uint64_t cf, uint64_t *qcum, uint64_t *q)

from cpython.exc cimport PyErr_CheckSignals

cdef enum:
    Q_PREC_ = 24          # precision of the bits-back posteriors Q
    X_PREC_ = 20          # precision of adaptive emissions (quantised per byte)
    V3_PREC_ = 24         # precision of variant 3's emissions
    CHECKPOINT_ = 256     # the encoder keeps alpha_t for t % CHECKPOINT == 0
    POLL_ = 1 << 14       # positions between ticks (Ctrl-C, cancellation, progress): ~0.1 s


def _poll(tick, int64_t n):
    """Every POLL positions, with the GIL: act on Ctrl-C (main thread; also when there is no
    tick) and call tick(n) with the work done since the last call; whatever either raises
    stops the coder and propagates."""
    PyErr_CheckSignals()
    if tick is not None and n > 0:
        tick(n)


cdef inline int push_quantised(rans_msg *m, const uint64_t *w, int64_t n, unsigned prec,
                               int64_t s, uint64_t *pre) noexcept nogil:
    """Push s under leaky_quantise(w[0..n), prec): rans_quantize_cdf + rans_push_cdf, exactly,
    with two divisions instead of n."""
    cdef hmm_lq q
    hmm_lq_prepare(w, n, prec, pre, &q)
    cdef uint64_t lo = hmm_lq_cum(&q, pre, s), hi = hmm_lq_cum(&q, pre, s + 1)
    return rans_push(m, lo, hi - lo, prec)


cdef inline int64_t pop_quantised(rans_msg *m, const uint64_t *w, int64_t n, unsigned prec,
                                  uint64_t *pre) noexcept nogil:
    """Pop a symbol under leaky_quantise(w[0..n), prec), like rans_pop_cdf on its cdf."""
    cdef hmm_lq q
    hmm_lq_prepare(w, n, prec, pre, &q)
    cdef int64_t k = hmm_lq_find(&q, pre, n, rans_peek(m, prec))
    cdef uint64_t lo = hmm_lq_cum(&q, pre, k), hi = hmm_lq_cum(&q, pre, k + 1)
    rans_pop_advance(m, lo, hi - lo, prec)
    return k


PREC = HMM_PREC
ALPHA_BITS = HMM_ALPHA_BITS
Q_PREC = Q_PREC_
CHECKPOINT = CHECKPOINT_


cdef struct emit_t:
    # What the adaptive emission at one position depends on besides the state.
    int64_t recs[HMM_CTX_MAX_ORDERS]          # context records (hmm_ctx_find_all)
    int32_t pred             # the match model's byte (-1 = none) and its weight
    uint32_t mw
    hmm_blend bl             # variant 2: the blend's coefficients (hmm_ctx_blend_at)


cdef inline uint64_t _qcum(uint32_t stored, uint32_t q, int32_t x) noexcept nogil:
    """Q below x from its value mod 2^32: it is 2^32 - Q(x) for the last byte (the masses
    sum to 2^32) and below 2^32 for every other."""
    return (1ull << 32) - q if x == 255 else stored


def _sliced_predecessors(start, state, freq, e_col):
    """The predecessor lists (CSR by target state) regrouped for the filter's 8-wide loop
    (hmm_core.h, ell_*): states sorted by in-degree so that each group of 8 pads little, each
    group padded to its longest list with entries of frequency 0 (they add nothing); and the
    emission table by lane in the vector kernel's even-then-odd order."""
    lanes = 8
    K = start.shape[0] - 1
    deg = np.diff(start)
    order = np.argsort(-deg, kind="stable")
    groups = (K + lanes - 1) // lanes
    lane_state = np.full(groups * lanes, -1, dtype=np.int32)
    lane_state[:K] = order
    lane_deg = np.zeros(groups * lanes, dtype=np.int64)
    lane_deg[:K] = deg[order]
    rows = lane_deg.reshape(groups, lanes).max(axis=1)
    off = np.zeros(groups + 1, dtype=np.int32)
    np.cumsum(rows, out=off[1:])
    nrows = int(off[groups])
    ell_from = np.zeros((nrows, lanes), dtype=np.int32)
    ell_a = np.zeros((nrows, lanes), dtype=np.uint32)
    for slot in range(K):
        j = int(lane_state[slot])
        g, l, n = slot // lanes, slot % lanes, int(deg[j])
        ell_from[off[g]:off[g] + n, l] = state[start[j]:start[j + 1]]
        ell_a[off[g]:off[g] + n, l] = freq[start[j]:start[j + 1]]
    eo_state = lane_state.reshape(groups, lanes)[:, [0, 2, 4, 6, 1, 3, 5, 7]].ravel()
    ell_e = np.zeros((e_col.shape[0], groups * lanes), dtype=np.uint32)
    live = eo_state >= 0
    ell_e[:, live] = np.asarray(e_col, dtype=np.uint32)[:, eo_state[live]]
    return dict(ell_off=off, ell_state=lane_state, ell_from=np.ascontiguousarray(ell_from.ravel()),
                ell_a=np.ascontiguousarray(ell_a.ravel()),
                ell_eo_state=np.ascontiguousarray(eo_state, dtype=np.int32),
                ell_e=np.ascontiguousarray(ell_e.ravel()))


cdef class HmmCoder:
    """Holds the integer tables (an archiver.models.hmm.HmmTables) in C-friendly form."""
    cdef hmm_model m
    cdef object _keep                     # numpy arrays whose buffers m and the cdfs point into
    cdef const uint32_t *pi_cdf           # (K+1,)
    cdef const uint32_t *a_cdf            # (K, D+1)
    cdef const uint32_t *e_cdf            # (K, 257)
    cdef const int32_t *pred_start
    cdef const int32_t *pred_state
    cdef const int32_t *pred_slot
    cdef const uint16_t *succ
    cdef const uint32_t *a_freq
    cdef const uint32_t *e_freq           # (K, 256)
    cdef readonly int K, D
    cdef readonly tuple orders, weights   # adaptive emission contexts (empty: a plain HMM)
    cdef readonly tuple blend             # (beta0s, beta1s, betads): variant 2; () = additive
    cdef readonly int match_min           # match model (hmm_match.h); 0 = none
    cdef readonly tuple match_weights, match_rweights
    cdef bint adaptive, blended
    cdef readonly int cm_lambda           # variant 3: weight of the HMM emission (hmm_cm.h); 0 = off
    cdef int32_t c_orders[HMM_CTX_MAX_ORDERS]
    cdef uint32_t c_weights[HMM_CTX_MAX_ORDERS]
    cdef uint32_t c_beta0[HMM_CTX_MAX_ORDERS]
    cdef uint32_t c_beta1[HMM_CTX_MAX_ORDERS]
    cdef uint32_t c_betad[HMM_CTX_MAX_ORDERS]
    cdef uint32_t c_match_weights[HMM_MATCH_MAX_WEIGHTS]
    cdef uint32_t c_match_rweights[HMM_MATCH_MAX_WEIGHTS]

    def __init__(self, tables, orders=(), weights=(), match_min=0, match_weights=(), blend=(),
                 match_rweights=(), cm_lambda=0):
        """`orders`/`weights`: context orders (1..7) and integer weights (1..2^20-1) of the
        adaptive emission counts (hmm_core.h); none gives the plain HMM. `match_min` (2..8) and
        `match_weights` (weight by match length, hmm_match.h) add the match model; 0 = none;
        `match_rweights` (as many) turn on its recovery past a mismatch, with these weights.
        `blend` = (beta0s, beta1s[, betads]), one each per order, interpolates the orders and
        the match as PPM does (variant 2, hmm_core.h) instead of adding weighted counts;
        `weights` are then unused (give 1s). betads (escape of a context that has seen one
        byte only) default to beta0 + beta1. `cm_lambda` (1..65535, alone) gives variant 3:
        the emission lam / 2^16 of the HMM's table and the rest of the context-mixing model's
        byte distribution (hmm_cm.h, format_spec/codec-text.md 3.4)."""
        if cm_lambda and (orders or match_min or blend or not 1 <= cm_lambda < 65536):
            raise ValueError("HmmCoder: cm_lambda must be in 1..65535 and comes alone")
        self.cm_lambda = cm_lambda
        if len(orders) != len(weights) or len(orders) > HMM_CTX_MAX_ORDERS:
            raise ValueError("HmmCoder: give as many context weights as orders (at most 6)")
        for o, w in zip(orders, weights):
            if not (1 <= o <= 7 and 1 <= w < (1 << 20)):
                raise ValueError(f"HmmCoder: context order {o} / weight {w} out of range")
        if match_min and not (HMM_MATCH_MIN_MIN <= match_min <= HMM_MATCH_MIN_MAX and
                              match_min < len(match_weights) <= HMM_MATCH_MAX_WEIGHTS and
                              all(0 <= w < HMM_MATCH_WEIGHT_MAX for w in match_weights) and
                              len(match_rweights) in (0, len(match_weights)) and
                              all(0 <= w < HMM_MATCH_WEIGHT_MAX for w in match_rweights)):
            raise ValueError(f"HmmCoder: match model needs 2 <= match_min <= 8 (got {match_min}), "
                             f"match_min < len(match_weights) <= 64 (got {len(match_weights)}) "
                             "and weights below 2^24 (recovery weights: as many)")
        if blend and len(blend) == 2:
            blend = (blend[0], blend[1], tuple(b0 + b1 for b0, b1 in zip(*blend)))
        if blend and not (orders and len(blend) == 3 and
                          len(blend[0]) == len(blend[1]) == len(blend[2]) == len(orders) and
                          all(0 <= b0 < 65536 and 0 <= b1 < 65536 and b0 + b1 >= 1 and
                              1 <= bd <= 131072 for b0, b1, bd in zip(*blend))):
            raise ValueError("HmmCoder: blend needs context orders and (beta0s, beta1s[, betads]), "
                             "one each per order, each below 2^16, beta0 + beta1 >= 1, "
                             "1 <= betad <= 2^17")
        self.orders, self.weights = tuple(orders), tuple(weights)
        for i in range(len(orders)):
            self.c_orders[i], self.c_weights[i] = orders[i], weights[i]
        self.blend = tuple(tuple(b) for b in blend) if blend else ()
        self.blended = bool(blend)
        for i in range(len(orders) if blend else 0):
            self.c_beta0[i], self.c_beta1[i] = blend[0][i], blend[1][i]
            self.c_betad[i] = blend[2][i]
        self.match_min = match_min
        self.match_weights = tuple(int(w) for w in match_weights) if match_min else ()
        self.match_rweights = tuple(int(w) for w in match_rweights) if match_min else ()
        for i in range(len(self.match_weights)):
            self.c_match_weights[i] = self.match_weights[i]
        for i in range(len(self.match_rweights)):
            self.c_match_rweights[i] = self.match_rweights[i]
        self.adaptive = bool(orders) or match_min > 0
        def cdf(freq):
            flat = freq.reshape(-1, freq.shape[freq.ndim - 1]).astype(np.uint64)
            out = np.zeros((flat.shape[0], flat.shape[1] + 1), dtype=np.uint64)
            np.cumsum(flat, axis=1, out=out[:, 1:])
            return np.ascontiguousarray(out.astype(np.uint32).reshape(-1))
        arrays = dict(
            pi=np.ascontiguousarray(tables.pi, dtype=np.uint32),
            succ=np.ascontiguousarray(tables.succ, dtype=np.uint16),
            a_freq=np.ascontiguousarray(tables.a_freq, dtype=np.uint32),
            e_col=np.ascontiguousarray(tables.e_col, dtype=np.uint32),
            e_freq=np.ascontiguousarray(tables.e_freq, dtype=np.uint32),
            pi_cdf=cdf(tables.pi), a_cdf=cdf(tables.a_freq), e_cdf=cdf(tables.e_freq),
            pred_start=np.ascontiguousarray(tables.pred_start, dtype=np.int32),
            pred_state=np.ascontiguousarray(tables.pred_state, dtype=np.int32),
            pred_slot=np.ascontiguousarray(tables.pred_slot, dtype=np.int32),
            pred_state16=np.ascontiguousarray(tables.pred_state, dtype=np.uint16),
            pred_a=np.ascontiguousarray(
                np.asarray(tables.a_freq, dtype=np.uint32)[tables.pred_state, tables.pred_slot]))
        arrays.update(_sliced_predecessors(arrays["pred_start"], arrays["pred_state"],
                                           arrays["pred_a"], arrays["e_col"]))
        if tables.K <= HMM_DENSE_MAX:                 # small K: the dense filter (hmm_core.h)
            dense = np.zeros((tables.K, tables.K), dtype=np.uint32)
            rows = np.repeat(np.arange(tables.K), tables.D)
            dense[rows, np.asarray(tables.succ, dtype=np.int64).ravel()] = \
                np.asarray(tables.a_freq, dtype=np.uint32).ravel()
            arrays["dense_a"] = np.ascontiguousarray(dense.ravel())
        self._keep = arrays
        self.K = self.m.K = tables.K
        self.D = self.m.D = tables.D
        self.m.pi = <const uint32_t *> cnp.PyArray_DATA(arrays["pi"])
        self.m.succ = self.succ = <const uint16_t *> cnp.PyArray_DATA(arrays["succ"])
        self.m.a_freq = self.a_freq = <const uint32_t *> cnp.PyArray_DATA(arrays["a_freq"])
        self.m.e_col = <const uint32_t *> cnp.PyArray_DATA(arrays["e_col"])
        self.e_freq = <const uint32_t *> cnp.PyArray_DATA(arrays["e_freq"])
        self.pi_cdf = <const uint32_t *> cnp.PyArray_DATA(arrays["pi_cdf"])
        self.a_cdf = <const uint32_t *> cnp.PyArray_DATA(arrays["a_cdf"])
        self.e_cdf = <const uint32_t *> cnp.PyArray_DATA(arrays["e_cdf"])
        self.pred_start = <const int32_t *> cnp.PyArray_DATA(arrays["pred_start"])
        self.pred_state = <const int32_t *> cnp.PyArray_DATA(arrays["pred_state"])
        self.pred_slot = <const int32_t *> cnp.PyArray_DATA(arrays["pred_slot"])
        self.m.pred_start = self.pred_start
        self.m.pred_state = <const uint16_t *> cnp.PyArray_DATA(arrays["pred_state16"])
        self.m.pred_a = <const uint32_t *> cnp.PyArray_DATA(arrays["pred_a"])
        self.m.ell_groups = arrays["ell_state"].shape[0] // 8
        self.m.ell_off = <const int32_t *> cnp.PyArray_DATA(arrays["ell_off"])
        self.m.ell_state = <const int32_t *> cnp.PyArray_DATA(arrays["ell_state"])
        self.m.ell_from = <const int32_t *> cnp.PyArray_DATA(arrays["ell_from"])
        self.m.ell_a = <const uint32_t *> cnp.PyArray_DATA(arrays["ell_a"])
        self.m.ell_eo_state = <const int32_t *> cnp.PyArray_DATA(arrays["ell_eo_state"])
        self.m.ell_e = <const uint32_t *> cnp.PyArray_DATA(arrays["ell_e"])
        self.m.dense_a = (<const uint32_t *> cnp.PyArray_DATA(arrays["dense_a"])
                          if "dense_a" in arrays else NULL)

    cdef hmm_ctx *_new_ctx(self) except? NULL:
        if not self.orders:
            return NULL
        cdef hmm_ctx *c = hmm_ctx_new(len(self.orders), self.c_orders, self.c_weights)
        if c == NULL:
            raise MemoryError("text codec: out of memory for the context counts")
        if self.blended:
            hmm_ctx_set_blend(c, self.c_beta0, self.c_beta1, self.c_betad)   # checked above
        return c

    cdef hmm_match *_new_match(self, int64_t T) except? NULL:
        if not self.match_min:
            return NULL
        if T >= (1 << 32) - 1:
            raise ValueError(f"text codec: a segment of {T} bytes is too long for the match "
                             "model (at most 2^32 - 2 bytes per segment)")
        cdef hmm_match *mm = hmm_match_new(self.match_min, len(self.match_weights),
                                           self.c_match_weights,
                                           self.c_match_rweights if self.match_rweights else NULL,
                                           T)
        if mm == NULL:
            raise MemoryError("text codec: out of memory for the match model")
        return mm

    # -- the adaptive emission at one position: find the records (and, on the encoder's way
    # -- back, remove x_t from the counts), then _blend, then _score / _weights
    cdef inline void _blend(self, hmm_ctx *ctx, emit_t *e) noexcept nogil:
        if self.blended:
            hmm_ctx_blend_at(ctx, e.recs, e.pred, e.mw, &e.bl)

    cdef inline uint64_t _score(self, hmm_ctx *ctx, emit_t *e, int32_t x,
                                uint64_t *escale) noexcept nogil:
        """The filter's emission terms for byte x: factor (g E(j, x) + score) >> s."""
        cdef uint64_t s = 0
        if self.blended:
            escale[0] = e.bl.g
            return hmm_blend_score(ctx, e.recs, &e.bl, x)
        escale[0] = 1
        if ctx != NULL:
            s = hmm_ctx_score_at(ctx, e.recs, x)
        if e.pred == x:
            s += e.mw
        return s

    cdef inline void _weights(self, hmm_ctx *ctx, emit_t *e, int32_t z,
                              uint64_t *w) noexcept nogil:
        """Adaptive emission weights of state z for all 256 bytes."""
        cdef int b
        cdef const uint32_t *row = self.e_freq + <int64_t> z * 256
        if self.blended:
            hmm_blend_weights(ctx, e.recs, &e.bl, row, w)
            return
        if ctx != NULL:
            hmm_ctx_weights_at(ctx, e.recs, row, w)
        else:
            for b in range(256):
                w[b] = row[b]
        if e.pred >= 0:
            w[e.pred] += e.mw

    cdef inline int _push_byte(self, rans_msg *m, hmm_ctx *ctx, emit_t *e, int32_t xt,
                               int32_t z, uint64_t *w, uint64_t *pre) noexcept nogil:
        """x_t -> P(x_t | z_t = z, x_<t): the fixed table, or the adaptive one (_weights)."""
        if not self.adaptive:
            return rans_push_cdf(m, self.e_cdf + <int64_t> z * 257, xt, HMM_PREC)
        self._weights(ctx, e, z, w)
        return push_quantised(m, w, 256, X_PREC_, xt, pre)

    cdef inline uint8_t _pop_byte(self, rans_msg *m, hmm_ctx *ctx, emit_t *e, int32_t z,
                                  uint64_t *w, uint64_t *pre) noexcept nogil:
        if not self.adaptive:
            return <uint8_t> rans_pop_cdf(m, self.e_cdf + <int64_t> z * 257, 256, HMM_PREC)
        self._weights(ctx, e, z, w)
        return <uint8_t> pop_quantised(m, w, 256, X_PREC_, pre)

    cdef inline void _forward_at(self, hmm_ctx *ctx, hmm_match *mm, const uint8_t *x, int64_t t,
                                 emit_t *e) noexcept nogil:
        """Prepare e for position t going forward (x_<t known; nothing of x_t used)."""
        e.pred = -1
        e.mw = 0
        if mm != NULL:
            e.mw = hmm_match_next(mm, x, t, &e.pred)
        if ctx != NULL:
            hmm_ctx_find_all(ctx, x, t, e.recs)
        self._blend(ctx, e)

    def filter(self, const uint8_t[::1] data not None):
        """alpha_t for every t as a (T, K) uint32 array (for tests and measurements)."""
        cdef Py_ssize_t T = data.shape[0], t
        out = np.zeros((T, self.K), dtype=np.uint32)
        cdef uint32_t[:, ::1] a = out
        cdef uint64_t *work = <uint64_t *> malloc(sizeof(uint64_t) * self.K)
        cdef hmm_ctx *ctx = NULL
        cdef hmm_match *mm = NULL
        cdef uint64_t score = 0, escale = 1
        cdef emit_t e
        cdef int err = 0
        if work == NULL:
            raise MemoryError("HMM filter: out of memory")
        try:
            ctx = self._new_ctx()
            mm = self._new_match(T)
            with nogil:
                for t in range(T):
                    if self.adaptive:
                        self._forward_at(ctx, mm, &data[0], t, &e)
                        score = self._score(ctx, &e, data[t], &escale)
                        if ctx != NULL:
                            err |= hmm_ctx_update_at(ctx, &data[0], t, e.recs, data[t], 1)
                    if t == 0:
                        hmm_filter_first_scored(&self.m, data[0], escale, score, &a[0, 0])
                    else:
                        hmm_filter_step_scored(&self.m, &a[t - 1, 0], data[t], escale, score,
                                               &a[t, 0], work)
        finally:
            free(work)
            hmm_ctx_free(ctx)
            hmm_match_free(mm)
        if err:
            raise MemoryError("HMM filter: out of memory for the context counts")
        return out

    cdef inline size_t _posterior(self, const uint32_t *prev, int32_t j,
                                  uint64_t *w) noexcept nogil:
        """Weights of Q(z_t-1 | x_1..t-1, z_t = j) over the predecessor list of j; returns n."""
        cdef int32_t lo = self.pred_start[j], hi = self.pred_start[j + 1], k, i
        cdef size_t n = hi - lo
        cdef uint64_t total = 0
        for k in range(lo, hi):
            i = self.pred_state[k]
            w[k - lo] = <uint64_t> prev[i] * self.a_freq[<int64_t> i * self.D + self.pred_slot[k]]
            total += w[k - lo]
        if total == 0:      # no predecessor survived the filter's rounding: fall back to flat
            for k in range(<int32_t> n):
                w[k] = 1
        return n

    cdef inline int _state_back(self, rans_msg *m, const uint32_t *prev, int32_t *z,
                                uint64_t *w, uint64_t *pre) noexcept nogil:
        """Encoder, from z_t to z_t-1: pop z_t-1 with Q(z_t-1 | x_1..t-1, z_t) (bits back),
        then push the transition z_t-1 -> z_t; *z becomes z_t-1. Returns the coder's error."""
        cdef size_t n = self._posterior(prev, z[0], w)
        cdef size_t k = <size_t> pop_quantised(m, w, n, Q_PREC_, pre)
        cdef int32_t i = self.pred_state[self.pred_start[z[0]] + k]
        cdef int32_t d = self.pred_slot[self.pred_start[z[0]] + k]
        z[0] = i
        return rans_push_cdf(m, self.a_cdf + <int64_t> i * (self.D + 1), d, HMM_PREC)

    cdef inline int _state_forward(self, rans_msg *m, const uint32_t *prev, int32_t *z,
                                   uint64_t *w, uint64_t *pre) noexcept nogil:
        """Decoder, the mirror of _state_back: pop the transition z_t-1 -> z_t, then push
        z_t-1's index in z_t's predecessor list under the same Q; *z becomes z_t."""
        cdef int32_t d = <int32_t> rans_pop_cdf(m, self.a_cdf + <int64_t> z[0] * (self.D + 1),
                                                self.D, HMM_PREC)
        cdef int32_t j = self.succ[<int64_t> z[0] * self.D + d]
        cdef size_t n = self._posterior(prev, j, w)
        # index of z_t-1 in j's predecessor list (sorted by source state, each once)
        cdef int32_t lo = self.pred_start[j], hi = self.pred_start[j + 1] - 1, mid
        while lo < hi:
            mid = (lo + hi) // 2
            if self.pred_state[mid] < z[0]:
                lo = mid + 1
            else:
                hi = mid
        z[0] = j
        return push_quantised(m, w, n, Q_PREC_, lo - self.pred_start[j], pre)

    def encode(self, const uint8_t[::1] data not None, Message msg not None, tick=None):
        """Push `data` onto `msg` (IconoCLaSM encoding). Raises MemoryError if the message
        cannot grow. `tick(n)`, if given, is called with the GIL every 16,384 positions with
        the positions' worth of work done since its last call (the forward pass counts for
        half of the data, the way back for the other half; n sums to len(data)); whatever it
        raises (KeyboardInterrupt, a cancellation) stops the coding and propagates. Ctrl-C in
        the main thread stops it too, tick or not."""
        cdef int64_t T = data.shape[0]
        if T == 0:
            return
        if self.cm_lambda:
            return self._encode_cm(data, msg, tick)
        cdef int32_t K = self.K
        cdef int64_t nblocks = (T + CHECKPOINT_ - 1) // CHECKPOINT_
        cdef int64_t per_pos = T if self.adaptive else 1
        ckpt_arr = np.zeros((nblocks, K), dtype=np.uint32)
        w_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cdf_arr = np.zeros(max(K, 256) + 1, dtype=np.uint32)
        pre_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cur_arr = np.zeros((2, K), dtype=np.uint32)
        # per position, from the forward pass: the filter's emission terms and the match
        # model's prediction (it only runs forward, so the way back reads them from here)
        score_arr = np.zeros(per_pos, dtype=np.uint64)
        escale_arr = np.ones(per_pos, dtype=np.uint64)
        mw_arr = np.zeros(per_pos, dtype=np.uint32)
        mpred_arr = np.full(per_pos, -1, dtype=np.int32)
        # ... and the context records of each position (they never move, and the way back
        # would find the same ones again)
        cdef int nord = len(self.orders) if self.adaptive else 0
        recs_arr = np.zeros(max(per_pos * nord, 1), dtype=np.int32)
        cdef int32_t[::1] rsave = recs_arr
        cdef int o
        cdef uint32_t[::1] mw = mw_arr
        cdef int32_t[::1] mpred = mpred_arr
        cdef uint64_t[::1] score = score_arr
        cdef uint64_t[::1] escale = escale_arr
        cdef uint32_t[:, ::1] ckpt = ckpt_arr
        cdef const uint32_t *block = NULL
        cdef hmm_blocks *blocks = NULL
        cdef uint32_t[:, ::1] cur = cur_arr
        cdef uint64_t[::1] w = w_arr
        cdef uint32_t[::1] cdf = cdf_arr
        cdef uint64_t[::1] pre = pre_arr
        cdef rans_msg *m = &msg.m
        cdef const uint8_t *x = &data[0]
        cdef int64_t t, b, loaded = -1, u
        cdef int32_t z, j
        cdef int err = 0
        cdef emit_t e
        cdef hmm_ctx *ctx = NULL
        cdef hmm_match *mm = NULL
        cdef hmm_emit_src src
        cdef int stop = 0
        cdef int64_t done = 0
        pending = None
        e.pred = -1
        e.mw = 0
        try:
            ctx = self._new_ctx()
            mm = self._new_match(T)
            with nogil:
                # forward pass: checkpoints and the per-position terms only
                for t in range(T):
                    if t % POLL_ == 0 and t > 0:
                        with gil:
                            try:
                                _poll(tick, t // 2 - done)
                                done = t // 2
                            except BaseException as exc:
                                pending, stop = exc, 1
                        if stop:
                            break
                    if self.adaptive:
                        self._forward_at(ctx, mm, x, t, &e)
                        mpred[t], mw[t] = e.pred, e.mw
                        score[t] = self._score(ctx, &e, x[t], &escale[t])
                        if ctx != NULL:
                            err |= hmm_ctx_update_at(ctx, x, t, e.recs, x[t], 1)
                            for o in range(nord):
                                rsave[t * nord + o] = <int32_t> e.recs[o]
                    u = t if self.adaptive else 0
                    if t == 0:
                        hmm_filter_first_scored(&self.m, x[0], escale[0], score[0], &cur[0, 0])
                    else:
                        hmm_filter_step_scored(&self.m, &cur[(t - 1) & 1, 0], x[t], escale[u],
                                               score[u], &cur[t & 1, 0], <uint64_t *> &w[0])
                    if t % CHECKPOINT_ == 0:
                        memcpy(&ckpt[t // CHECKPOINT_, 0], &cur[t & 1, 0], sizeof(uint32_t) * K)
                # z_T <- Q(z_T | x_1..T)
                for j in range(K):
                    w[j] = cur[(T - 1) & 1, j]
                rans_quantize_cdf(&w[0], K, Q_PREC_, &cdf[0])
                if not stop:
                    z = <int32_t> rans_pop_cdf(m, &cdf[0], K, Q_PREC_)
                # the way back: blocks of alpha from their checkpoints, the next one on a thread
                src.escale = &escale[0] if self.adaptive else NULL
                src.score = &score[0] if self.adaptive else NULL
                src.qx = NULL
                blocks = NULL if stop else hmm_blocks_start(&self.m, x, &src, T, CHECKPOINT_,
                                                            &ckpt[0, 0])
                if blocks == NULL:
                    err = 0 if stop else -1        # reported as MemoryError below
                else:
                    for t in range(T - 1, -1, -1):
                        if t % POLL_ == 0:
                            with gil:
                                try:
                                    _poll(tick, T - t // 2 - done)
                                    done = T - t // 2
                                except BaseException as exc:
                                    pending, stop = exc, 1
                            if stop:
                                break
                        if self.adaptive:   # the emission as it was before x_t was counted
                            e.pred, e.mw = mpred[t], mw[t]
                            if ctx != NULL:
                                for o in range(nord):
                                    e.recs[o] = rsave[t * nord + o]
                                hmm_ctx_update_at(ctx, x, t, e.recs, x[t], -1)
                            self._blend(ctx, &e)
                        err |= self._push_byte(m, ctx, &e, x[t], z, &w[0], &pre[0])
                        if t == 0:
                            break
                        b = (t - 1) // CHECKPOINT_
                        if b != loaded:
                            block = hmm_blocks_get(blocks, b)
                            loaded = b
                        err |= self._state_back(m, block + ((t - 1) - b * CHECKPOINT_) * K, &z,
                                                &w[0], &pre[0])
                    if not stop:
                        err |= rans_push_cdf(m, self.pi_cdf, z, HMM_PREC)
        finally:
            hmm_blocks_free(blocks)
            hmm_ctx_free(ctx)
            hmm_match_free(mm)
        if pending is not None:
            raise pending
        if err != RANS_OK:
            raise MemoryError("text codec: out of memory while coding")
        if tick is not None and T > done:
            tick(T - done)

    def decode(self, Message msg not None, Py_ssize_t size, tick=None):
        """Pop `size` bytes from `msg` (IconoCLaSM decoding). Any message decodes to some
        bytes in exactly `size` steps; the caller checks integrity. `tick(n)` as for encode
        (n: bytes decoded since its last call)."""
        if size < 0:
            raise ValueError(f"text codec: negative size {size}")
        out_arr = np.zeros(size, dtype=np.uint8)
        if size == 0:
            return out_arr.tobytes()
        if self.cm_lambda:
            return self._decode_cm(msg, size, tick)
        cdef int32_t K = self.K
        cur_arr = np.zeros((2, K), dtype=np.uint32)
        w_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cdf_arr = np.zeros(max(K, 256) + 1, dtype=np.uint32)
        pre_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cdef uint8_t[::1] out = out_arr
        cdef uint8_t *x = &out[0]
        cdef uint32_t[:, ::1] cur = cur_arr
        cdef uint64_t[::1] w = w_arr
        cdef uint32_t[::1] cdf = cdf_arr
        cdef uint64_t[::1] pre = pre_arr
        cdef rans_msg *m = &msg.m
        cdef int64_t t, T = size
        cdef int32_t z, j
        cdef uint64_t score = 0, escale = 1
        cdef int err = 0
        cdef emit_t e
        cdef hmm_ctx *ctx = NULL
        cdef hmm_match *mm = NULL
        cdef int stop = 0
        cdef int64_t done = 0
        pending = None
        try:
            ctx = self._new_ctx()
            mm = self._new_match(T)
            with nogil:
                z = <int32_t> rans_pop_cdf(m, self.pi_cdf, K, HMM_PREC)
                for t in range(T):
                    if t % POLL_ == 0 and t > 0:
                        with gil:
                            try:
                                _poll(tick, t - done)
                                done = t
                            except BaseException as exc:
                                pending, stop = exc, 1
                        if stop:
                            break
                    if t > 0:
                        err |= self._state_forward(m, &cur[(t - 1) & 1, 0], &z, &w[0], &pre[0])
                    if self.adaptive:
                        self._forward_at(ctx, mm, x, t, &e)
                    x[t] = self._pop_byte(m, ctx, &e, z, &w[0], &pre[0])
                    if self.adaptive:
                        # the filter's terms of x_t, read off the weights just used:
                        # w[x_t] = g E(z, x_t) + score (the same integers as _score)
                        escale = e.bl.g if self.blended else 1
                        score = w[x[t]] - escale * self.e_freq[<int64_t> z * 256 + x[t]]
                        if ctx != NULL:
                            err |= hmm_ctx_update_at(ctx, x, t, e.recs, x[t], 1)
                    if t == 0:
                        hmm_filter_first_scored(&self.m, x[0], escale, score, &cur[0, 0])
                    else:
                        hmm_filter_step_scored(&self.m, &cur[(t - 1) & 1, 0], x[t], escale,
                                               score, &cur[t & 1, 0], <uint64_t *> &w[0])
                for j in range(K):
                    w[j] = cur[(T - 1) & 1, j]
                rans_quantize_cdf(&w[0], K, Q_PREC_, &cdf[0])
                if not stop:
                    err |= rans_push_cdf(m, &cdf[0], z, Q_PREC_)
        finally:
            hmm_ctx_free(ctx)
            hmm_match_free(mm)
        if pending is not None:
            raise pending
        if err != RANS_OK:
            raise MemoryError("text codec: out of memory while coding")
        if tick is not None and T > done:
            tick(T - done)
        return out_arr.tobytes()


    # -- variant 3: the HMM emission mixed with the context-mixing model (hmm_cm.h) ----------
    # P(x_t = b | z_t = j) = (lam 2^16 E(j, b) + (2^16 - lam) Q_t(b)) / 2^48, Q_t the model's
    # byte masses (sum 2^32). The forward pass runs the model once and keeps Q_t's cumulative
    # mass below x_t and Q_t(x_t) (8 bytes per position); the way back needs nothing else of it.

    def _encode_cm(self, const uint8_t[::1] data, Message msg, tick):
        cdef int64_t T = data.shape[0]
        cdef int32_t K = self.K
        cdef uint64_t lam = <uint64_t> self.cm_lambda, qmul = 65536 - lam
        cdef int64_t nblocks = (T + CHECKPOINT_ - 1) // CHECKPOINT_
        ckpt_arr = np.zeros((nblocks, K), dtype=np.uint32)
        qlo_arr = np.zeros(T, dtype=np.uint32)       # Q_t below x_t, mod 2^32 (see _qcum)
        qx_arr = np.zeros(T, dtype=np.uint32)        # Q_t(x_t) (< 2^32)
        w_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cdf_arr = np.zeros(max(K, 256) + 1, dtype=np.uint32)
        pre_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cur_arr = np.zeros((2, K), dtype=np.uint32)
        cdef uint32_t[::1] qlo = qlo_arr
        cdef uint32_t[::1] qx = qx_arr
        cdef uint32_t[:, ::1] ckpt = ckpt_arr
        cdef uint32_t[:, ::1] cur = cur_arr
        cdef uint64_t[::1] w = w_arr
        cdef uint32_t[::1] cdf = cdf_arr
        cdef uint64_t[::1] pre = pre_arr
        cdef rans_msg *m = &msg.m
        cdef const uint8_t *x = &data[0]
        cdef const uint32_t *block = NULL
        cdef const uint32_t *ec
        cdef hmm_blocks *blocks = NULL
        cdef hmm_cm *cm = NULL
        cdef hmm_emit_src src
        cdef int64_t t, b, loaded = -1, done = 0
        cdef int32_t z, j, xt
        cdef uint64_t qc, q, lo, hi
        cdef int err = 0, stop = 0
        pending = None
        cm = hmm_cm_new(T, HMM_CM_LR)
        if cm == NULL:
            raise MemoryError("text codec: out of memory for the context-mixing model")
        try:
            with nogil:
                for t in range(T):
                    if t % POLL_ == 0 and t > 0:
                        with gil:
                            try:
                                _poll(tick, t // 2 - done)
                                done = t // 2
                            except BaseException as exc:
                                pending, stop = exc, 1
                        if stop:
                            break
                    hmm_cm_byte(cm, x, t, x[t], &qc, &q)
                    qlo[t] = <uint32_t> qc
                    qx[t] = <uint32_t> q
                    if t == 0:
                        hmm_filter_first_scored(&self.m, x[0], lam << 16, qmul * q, &cur[0, 0])
                    else:
                        hmm_filter_step_scored(&self.m, &cur[(t - 1) & 1, 0], x[t], lam << 16,
                                               qmul * q, &cur[t & 1, 0], <uint64_t *> &w[0])
                    if t % CHECKPOINT_ == 0:
                        memcpy(&ckpt[t // CHECKPOINT_, 0], &cur[t & 1, 0], sizeof(uint32_t) * K)
                hmm_cm_free(cm)          # the way back needs only qlo and qx
                cm = NULL
                if not stop:
                    for j in range(K):
                        w[j] = cur[(T - 1) & 1, j]
                    rans_quantize_cdf(&w[0], K, Q_PREC_, &cdf[0])
                    z = <int32_t> rans_pop_cdf(m, &cdf[0], K, Q_PREC_)
                    src.escale = NULL
                    src.score = NULL
                    src.qx = &qx[0]
                    src.qescale = lam << 16
                    src.qmul = qmul
                    blocks = hmm_blocks_start(&self.m, x, &src, T, CHECKPOINT_, &ckpt[0, 0])
                    if blocks == NULL:
                        err = -1
                if blocks != NULL:
                    for t in range(T - 1, -1, -1):
                        if t % POLL_ == 0:
                            with gil:
                                try:
                                    _poll(tick, T - t // 2 - done)
                                    done = T - t // 2
                                except BaseException as exc:
                                    pending, stop = exc, 1
                            if stop:
                                break
                        xt = x[t]
                        qc = _qcum(qlo[t], qx[t], xt)
                        ec = self.e_cdf + <int64_t> z * 257
                        lo = hmm_cm_mixed_cum(lam, ec[xt], qc, xt)
                        hi = hmm_cm_mixed_cum(lam, ec[xt + 1], qc + qx[t], xt + 1)
                        err |= rans_push(m, lo, hi - lo, V3_PREC_)
                        if t == 0:
                            break
                        b = (t - 1) // CHECKPOINT_
                        if b != loaded:
                            block = hmm_blocks_get(blocks, b)
                            loaded = b
                        err |= self._state_back(m, block + ((t - 1) - b * CHECKPOINT_) * K, &z,
                                                &w[0], &pre[0])
                    if not stop:
                        err |= rans_push_cdf(m, self.pi_cdf, z, HMM_PREC)
        finally:
            hmm_blocks_free(blocks)
            hmm_cm_free(cm)
        if pending is not None:
            raise pending
        if err != RANS_OK:
            raise MemoryError("text codec: out of memory while coding")
        if tick is not None and T > done:
            tick(T - done)

    def _decode_cm(self, Message msg, Py_ssize_t size, tick):
        cdef int32_t K = self.K
        cdef uint64_t lam = <uint64_t> self.cm_lambda, qmul = 65536 - lam
        out_arr = np.zeros(size, dtype=np.uint8)
        cur_arr = np.zeros((2, K), dtype=np.uint32)
        w_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cdf_arr = np.zeros(max(K, 256) + 1, dtype=np.uint32)
        pre_arr = np.zeros(max(K, 256) + 1, dtype=np.uint64)
        cdef uint8_t[::1] out = out_arr
        cdef uint8_t *x = &out[0]
        cdef uint32_t[:, ::1] cur = cur_arr
        cdef uint64_t[::1] w = w_arr
        cdef uint32_t[::1] cdf = cdf_arr
        cdef uint64_t[::1] pre = pre_arr
        cdef rans_msg *m = &msg.m
        cdef int64_t t, T = size, done = 0
        cdef int32_t z, j, sym
        cdef const uint32_t *ec
        cdef uint64_t cf, mass, base, clo, chi
        cdef int err = 0, stop = 0
        cdef hmm_cm *cm = hmm_cm_new(T, HMM_CM_LR)
        pending = None
        if cm == NULL:
            raise MemoryError("text codec: out of memory for the context-mixing model")
        try:
            with nogil:
                z = <int32_t> rans_pop_cdf(m, self.pi_cdf, K, HMM_PREC)
                for t in range(T):
                    if t % POLL_ == 0 and t > 0:
                        with gil:
                            try:
                                _poll(tick, t - done)
                                done = t
                            except BaseException as exc:
                                pending, stop = exc, 1
                        if stop:
                            break
                    if t > 0:
                        err |= self._state_forward(m, &cur[(t - 1) & 1, 0], &z, &w[0], &pre[0])
                    # x_t: the model's tree walked down to the byte whose interval holds cf
                    ec = self.e_cdf + <int64_t> z * 257
                    cf = rans_peek(m, V3_PREC_)
                    sym = hmm_cm_find_byte(cm, x, t, ec, lam, cf, &base, &mass)
                    clo = hmm_cm_mixed_cum(lam, ec[sym], base, sym)
                    chi = hmm_cm_mixed_cum(lam, ec[sym + 1], base + mass, sym + 1)
                    rans_pop_advance(m, clo, chi - clo, V3_PREC_)
                    x[t] = <uint8_t> sym
                    if t == 0:
                        hmm_filter_first_scored(&self.m, x[0], lam << 16, qmul * mass, &cur[0, 0])
                    else:
                        hmm_filter_step_scored(&self.m, &cur[(t - 1) & 1, 0], x[t], lam << 16,
                                               qmul * mass, &cur[t & 1, 0], <uint64_t *> &w[0])
                if not stop:
                    for j in range(K):
                        w[j] = cur[(T - 1) & 1, j]
                    rans_quantize_cdf(&w[0], K, Q_PREC_, &cdf[0])
                    err |= rans_push_cdf(m, &cdf[0], z, Q_PREC_)
        finally:
            hmm_cm_free(cm)
        if pending is not None:
            raise pending
        if err != RANS_OK:
            raise MemoryError("text codec: out of memory while coding")
        if tick is not None and T > done:
            tick(T - done)
        return out_arr.tobytes()

    def cm_masses(self, const uint8_t[::1] data not None):
        """(Qcum(x_t), Q(x_t)) of the context-mixing model for every t, as two uint64 arrays
        (for tests against the Python twin and for measurements)."""
        cdef int64_t T = data.shape[0], t
        qc_arr = np.zeros(T, dtype=np.uint64)
        q_arr = np.zeros(T, dtype=np.uint64)
        cdef uint64_t[::1] qc = qc_arr
        cdef uint64_t[::1] q = q_arr
        cdef hmm_cm *cm = hmm_cm_new(max(T, 1), HMM_CM_LR)
        if cm == NULL:
            raise MemoryError("text codec: out of memory for the context-mixing model")
        try:
            with nogil:
                for t in range(T):
                    hmm_cm_byte(cm, &data[0], t, data[t], &qc[t], &q[t])
        finally:
            hmm_cm_free(cm)
        return qc_arr, q_arr

def message_is_initial(Message msg not None):
    """True when `msg` is exactly what an encoder starts from: the head at its lower bound and,
    on the stack, the initial bits the encoder drew from the seeded source, in order. A decoder
    that ends anywhere else was fed a damaged or foreign payload."""
    cdef rans_msg *m = &msg.m
    cdef size_t k
    if m.head != RANS_L or m.drawn != 0:
        return False
    for k in range(m.len):
        if m.words[m.len - 1 - k] != rans_source_word(m.seed, k):
            return False
    return True
