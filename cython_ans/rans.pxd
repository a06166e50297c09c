# distutils: include_dirs = cython_ans
"""C API of the bbx rANS core, for Cython modules that code symbol by symbol in C.

Stable interface (format_spec/rans.md specifies the bitstream). Usage from another module:

    from cython_ans._rans cimport Message          # the Python-visible message object
    from cython_ans cimport rans                   # these declarations
    cdef Message msg = message                     # a cython_ans.Message
    rans.rans_push(&msg.m, start, freq, precision)            # push one symbol (0 or ENOMEM)
    cf = rans.rans_peek(&msg.m, precision)                    # then find its symbol ...
    rans.rans_pop_advance(&msg.m, start, freq, precision)     # ... and remove it
    rans.rans_push_cdf(&msg.m, cdf, s, precision)             # cdf: n + 1 uint32 entries
    s = rans.rans_pop_cdf(&msg.m, cdf, n, precision)          # binary search on the cdf
    rans.rans_quantize_cdf(weights, n, precision, cdf)        # THE leaky quantiser

Pushes run in reverse order of pops (a stack). Every function here is a static inline C
function from rans_core.h, so nothing needs to be linked; the header's directory is put on
the include path of every module that cimports this file (distutils directive above).
Preconditions are the caller's job (checked in Python by cython_ans.Message): 1 <= precision
<= 32 (31 for the cdf and quantiser functions), freq >= 1, start + freq <= 2^precision, and a
pop's interval must contain rans_peek(). Violating them yields wrong symbols, never a crash.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "rans_core.h" nogil:
    ctypedef struct rans_msg:
        uint64_t head       # the 64-bit state, RANS_L <= head < 2^64
        uint32_t *words     # the word stack; words[len - 1] is the top
        size_t len
        size_t cap
        uint64_t seed       # seed of the source of initial bits
        uint64_t drawn      # 32-bit words drawn from that source so far

    enum:
        RANS_OK
        RANS_ENOMEM
        RANS_MAX_PRECISION
        RANS_LOC_FRAC_BITS
        RANS_SCALE_COUNT
        RANS_SCALE_IDX_LIMIT
        RANS_TAIL_FLAG
        RANS_TAIL_SHIFT
        RANS_TAIL_NARROW
        RANS_TAIL_WIDE
        RANS_MASKED_MAX_BINS
        RANS_LOC_LIMIT
        RANS_LOGISTIC_MAX_BINS
        RANS_SIGMOID_ENTRIES
        RANS_SIGMOID_STEP_BITS

    const uint64_t RANS_L
    const uint64_t RANS_UNIFORM_MAX_BINS
    const uint32_t RANS_SCALE_MANTISSA[8]
    const uint32_t RANS_SIGMOID[]

    # message lifetime and storage
    void rans_init(rans_msg *m, uint64_t seed)
    void rans_free(rans_msg *m)
    int rans_reserve(rans_msg *m, size_t extra)        # room for `extra` more words
    uint64_t rans_bit_length(const rans_msg *m)        # 32 * len + 64
    uint32_t rans_source_word(uint64_t seed, uint64_t i)   # word i of the initial bits

    # one symbol by interval [start, start + freq) of [0, 2^precision)
    int rans_push(rans_msg *m, uint64_t start, uint64_t freq, unsigned precision)
    void rans_push_unchecked(rans_msg *m, uint64_t start, uint64_t freq, unsigned precision)
    uint64_t rans_peek(const rans_msg *m, unsigned precision)
    void rans_pop_advance(rans_msg *m, uint64_t start, uint64_t freq, unsigned precision)

    # one symbol by cumulative table (n + 1 entries, cdf[0] = 0, cdf[n] = 2^precision)
    int rans_push_cdf(rans_msg *m, const uint32_t *cdf, size_t symbol, unsigned precision)
    size_t rans_cdf_find(const uint32_t *cdf, size_t n, uint64_t cf)
    size_t rans_pop_cdf(rans_msg *m, const uint32_t *cdf, size_t n, unsigned precision)

    # the leaky quantiser: n weights -> n + 1 cdf entries / n frequencies (>= 1, sum 2^p);
    # weights: not all zero, each <= (2^64 - 1) / n; n <= 2^precision. Returns 0 or -1.
    int rans_quantize_cdf(const uint64_t *w, size_t n, unsigned precision, uint32_t *cdf_out)
    int rans_quantize(const uint64_t *w, size_t n, unsigned precision, uint32_t *freq_out,
                      uint32_t *scratch)

    # discretised logistic: cumulative frequency of bin k for a clamped loc
    int64_t rans_clamp_loc(int64_t loc)
    uint64_t rans_logistic_f(int64_t d, unsigned scale_idx)
    uint64_t rans_logistic_cum(int64_t k, int64_t loc, unsigned scale_idx, uint64_t nbins,
                               unsigned precision)
    # masked logistic: a symbol's distribution over the allowed bins (rans_core.h)
    ctypedef struct rans_masked_dist:
        size_t n
        uint16_t *bins
    size_t rans_masked_prepare(rans_masked_dist *d, const uint8_t *mask, int64_t loc,
                               unsigned scale_idx, uint64_t nbins, unsigned precision)
    uint64_t rans_masked_cum(const rans_masked_dist *d, size_t r)
    size_t rans_masked_rank(const rans_masked_dist *d, int64_t s)
