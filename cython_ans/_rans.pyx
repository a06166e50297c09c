# distutils: sources = cython_ans/rans_core.c
# distutils: include_dirs = cython_ans
"""Python face of the C rANS core: a Message that pushes and pops whole numpy arrays.

Arguments are validated here, and per symbol inside the C push loops, which undo a push
that meets a bad symbol; either way a call that raises leaves the message as it was. The C
loops run without the GIL, so threads coding different messages run in parallel (one message
must not be used by two threads at once). The bitstream is specified in format_spec/rans.md.
"""
import numpy as np

cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from cython_ans.rans cimport *


cdef extern from "rans_core.h" nogil:
    int rans_build_cdf(const uint32_t *freqs, size_t k, size_t n, unsigned precision,
                       uint32_t *cdf, size_t *row, size_t *col)
    void rans_build_lut(const uint32_t *cdf, size_t k, size_t n, unsigned precision,
                        unsigned bits, uint16_t *lut)
    ctypedef struct rans_enc_sym:
        pass
    void rans_build_enc(const uint32_t *cdf, size_t k, size_t n, unsigned precision,
                        rans_enc_sym *enc)
    int rans_categorical_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                              const rans_enc_sym *enc, const uint32_t *cdf, size_t n,
                              const int64_t *table_idx, size_t k, unsigned precision,
                              size_t *bad)
    void rans_categorical_pop(rans_msg *m, int64_t *out, size_t count, const uint32_t *cdf,
                              size_t n, const int64_t *table_idx, unsigned precision,
                              const uint16_t *lut, unsigned lut_bits)
    enum:
        RANS_EBADSYM
        RANS_EBADTABLE
    int rans_uniform_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                          uint64_t nbins, size_t *bad)
    void rans_uniform_pop(rans_msg *m, int64_t *out, size_t count, uint64_t nbins)
    int rans_logistic_push(rans_msg *m, const void *symbols, int sym32, size_t count,
                           const int32_t *loc, const int32_t *scale_idx, uint64_t nbins,
                           unsigned precision, size_t *bad)
    void rans_logistic_pop(rans_msg *m, int64_t *out, size_t count, const int32_t *loc,
                           const int32_t *scale_idx, uint64_t nbins, unsigned precision)
    int rans_masked_push(rans_msg *m, const int64_t *symbols, size_t count, const int32_t *loc,
                         const int32_t *scale_idx, const int32_t *mask_idx, const uint8_t *masks,
                         size_t nmasks, uint64_t nbins, unsigned precision, size_t *bad)
    void rans_masked_pop(rans_msg *m, int64_t *out, size_t count, const int32_t *loc,
                         const int32_t *scale_idx, const int32_t *mask_idx, const uint8_t *masks,
                         uint64_t nbins, unsigned precision)


MAX_PRECISION = RANS_MAX_PRECISION
LOC_FRAC_BITS = RANS_LOC_FRAC_BITS
SCALE_COUNT = RANS_SCALE_COUNT
TAIL_FLAG = RANS_TAIL_FLAG          # scale_idx j + TAIL_FLAG: the tailed logistic of scale j
LOC_LIMIT = RANS_LOC_LIMIT
LOGISTIC_MAX_BINS = RANS_LOGISTIC_MAX_BINS
UNIFORM_MAX_BINS = RANS_UNIFORM_MAX_BINS

_LUT_MAX_SYMBOLS = 1 << 16
_TABLE_CACHE_SIZE = 16               # prepared tables kept (oldest dropped first) ...
_TABLE_CACHE_MAX_BYTES = 1 << 20     # ... if their frequencies fit in 1 MiB


def _tables():
    """The committed integer tables as compiled into C (for tests against tables.py)."""
    mant = [RANS_SCALE_MANTISSA[i] for i in range(8)]
    sig = [RANS_SIGMOID[i] for i in range(RANS_SIGMOID_ENTRIES)]
    return tuple(mant), tuple(sig)


def _quantize_cdf(weights, precision):
    """The C leaky quantiser (rans_quantize_cdf) on each row of a 2-D uint64 array, for tests
    against archiver.entropy.quantize_cdf. Arguments must already be valid."""
    w = np.ascontiguousarray(weights, dtype=np.uint64)
    out = np.empty((w.shape[0], w.shape[1] + 1), dtype=np.uint32)
    cdef uint64_t[:, ::1] wv = w
    cdef uint32_t[:, ::1] ov = out
    cdef Py_ssize_t r
    for r in range(w.shape[0]):
        if rans_quantize_cdf(&wv[r, 0], w.shape[1], precision, &ov[r, 0]) != 0:
            raise ValueError("rans_quantize_cdf: a row of weights is all zero")
    return out


def masked_freqs(symbols, loc, scale_idx, mask_idx, masks, nbins, precision):
    """The frequency (at `precision`) push_logistic_masked gives each symbol, as uint32: for
    code lengths (sum of precision - log2 freq) without pushing. Arguments as there; a
    symbol its mask does not allow gets 0."""
    where = "masked_freqs"
    s = _int_array(where, "symbols", np.asarray(symbols), np.int64)
    p, nb, l, j, mi, mk = _masked_args(where, s.shape[0], loc, scale_idx, mask_idx, masks,
                                       nbins, precision)
    if s.size and (int(s.min()) < 0 or int(s.max()) >= nb):
        raise ValueError(f"{where}: symbols must be in 0..{nb - 1}")
    out = np.zeros(s.shape[0], np.uint32)
    cdef uint32_t[::1] ov = out
    cdef const int64_t[::1] sv = s
    cdef const int32_t[::1] lv = l
    cdef const int32_t[::1] jv = j
    cdef const int32_t[::1] iv = mi
    cdef const uint8_t[:, ::1] mv = mk
    cdef rans_masked_dist d
    cdef Py_ssize_t i, r, cnt = s.shape[0]
    cdef uint64_t nbc = nb
    cdef unsigned pp = p
    cdef int64_t loc_c
    with nogil:
        for i in range(cnt):
            loc_c = rans_clamp_loc(lv[i])
            if iv[i] < 0:
                ov[i] = <uint32_t>(rans_logistic_cum(sv[i] + 1, loc_c, jv[i], nbc, pp)
                                   - rans_logistic_cum(sv[i], loc_c, jv[i], nbc, pp))
                continue
            rans_masked_prepare(&d, &mv[iv[i], 0], loc_c, jv[i], nbc, pp)
            r = rans_masked_rank(&d, sv[i])
            if r < <Py_ssize_t>d.n:
                ov[i] = <uint32_t>(rans_masked_cum(&d, r + 1) - rans_masked_cum(&d, r))
    return out


def _logistic_cdf(loc, scale_idx, nbins, precision):
    """C(0..nbins) from rans_logistic_cum for 1-D int32 loc and scale_idx, for tests against
    archiver.entropy.logistic_cdf and the reference. Arguments must already be valid."""
    cdef const int32_t[::1] l = np.ascontiguousarray(loc, dtype=np.int32)
    cdef const int32_t[::1] j = np.ascontiguousarray(scale_idx, dtype=np.int32)
    out = np.empty((l.shape[0], nbins + 1), dtype=np.uint64)
    cdef uint64_t[:, ::1] o = out
    cdef Py_ssize_t i, k
    for i in range(l.shape[0]):
        for k in range(nbins + 1):
            o[i, k] = rans_logistic_cum(k, rans_clamp_loc(l[i]), j[i], nbins, precision)
    return out


# ---- argument checks shared by every family -------------------------------------------------

def _check_precision(where, precision):
    if not isinstance(precision, (int, np.integer)) or isinstance(precision, bool):
        raise ValueError(f"{where}: precision must be an int, got {type(precision).__name__}")
    if not 1 <= precision <= RANS_MAX_PRECISION:
        raise ValueError(f"{where}: precision {precision} is outside 1..{RANS_MAX_PRECISION} "
                         "(frequencies sum to 2**precision)")
    return int(precision)


def _check_count(where, count):
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
        raise ValueError(f"{where}: count must be a nonnegative int, got {count!r}")
    return int(count)


def _int_array(where, name, values, dtype):
    """values as a contiguous 1-D array of dtype, refusing non-integers and overflow."""
    a = np.asarray(values)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise ValueError(f"{where}: {name} must be integers, got dtype {a.dtype}")
    a = a.reshape(-1)
    if a.dtype != dtype and a.size:
        info = np.iinfo(dtype)
        lo, hi = int(a.min()), int(a.max())
        if lo < info.min or hi > info.max:
            raise ValueError(f"{where}: {name} value {lo if lo < info.min else hi} does not "
                             f"fit in {np.dtype(dtype).name}")
    return np.ascontiguousarray(a, dtype=dtype)


def _check_range(where, name, a, lo, hi, what):
    """Every entry of a in [lo, hi), else a ValueError naming the first offender."""
    if a.size == 0 or (int(a.min()) >= lo and int(a.max()) < hi):
        return
    i = int(np.argmax((a < lo) | (a >= hi)))
    raise ValueError(f"{where}: {name} {int(a[i])} at index {i} is outside {lo}..{hi - 1}"
                     f" ({what})")


def _symbols(where, values):
    """Symbols as a contiguous 1-D int32 or int64 array (the C loops read both)."""
    a = np.asarray(values)
    if a.dtype == np.int32 or a.dtype == np.int64:
        return np.ascontiguousarray(a.reshape(-1))
    return _int_array(where, "symbols", a, np.int64)


cdef const void *_sym_ptr(a):
    cdef const int32_t[::1] v32
    cdef const int64_t[::1] v64
    if a.shape[0] == 0:
        return NULL
    if a.dtype == np.int32:
        v32 = a
        return &v32[0]
    v64 = a
    return &v64[0]


def _push_error(where, err, size_t bad, symbols, what, aux=None, aux_name=None, aux_what=None):
    if err == RANS_ENOMEM:
        raise MemoryError(f"{where}: out of memory")
    if err == RANS_EBADSYM:
        raise ValueError(f"{where}: symbol {int(symbols[bad])} at index {bad} is outside the "
                         f"support ({what}); nothing was pushed")
    if err == RANS_EBADTABLE:
        raise ValueError(f"{where}: {aux_name} {int(aux[bad])} at index {bad} is outside "
                         f"{aux_what}; nothing was pushed")
    raise AssertionError(f"{where}: unexpected error code {err}")


def _params(where, name, values, n, dtype):
    """Per-symbol parameter: a scalar or one value per symbol, as a 1-D array of n."""
    a = np.asarray(values)
    if a.ndim == 0:
        return _int_array(where, name, np.broadcast_to(a, (n,)), dtype)
    if a.size != n:
        raise ValueError(f"{where}: {name} has {a.size} entries but there are {n} symbols "
                         "(give one per symbol, or a scalar)")
    return _int_array(where, name, a, dtype)


# ---- categorical tables, prepared once and cached -------------------------------------------

cdef class _Table:
    """Validated cumulative tables (k rows of n + 1) plus a lazily built decode table."""
    cdef public object cdf
    cdef public object lut
    cdef public object enc
    cdef public size_t k, n
    cdef public unsigned precision, lut_bits
    cdef public size_t popped, pushed

    def ensure_lut(self, size_t count):
        """Build the decode table once enough symbols have been popped to pay for it."""
        if self.lut is not None or self.n > _LUT_MAX_SYMBOLS:
            return
        self.popped += count
        if self.popped * 8 < (self.k << self.lut_bits):
            return
        lut = np.empty(self.k << self.lut_bits, dtype=np.uint16)
        cdef uint32_t[::1] c = self.cdf
        cdef uint16_t[::1] l = lut
        rans_build_lut(&c[0], self.k, self.n, self.precision, self.lut_bits, &l[0])
        self.lut = lut

    def ensure_enc(self, size_t count):
        """Build the encode table (a reciprocal per symbol) once enough symbols have been
        pushed to pay for it; until then pushes divide."""
        if self.enc is not None:
            return
        self.pushed += count
        if self.pushed * 4 < self.k * self.n:
            return
        enc = np.empty(self.k * self.n * sizeof(rans_enc_sym), dtype=np.uint8)
        cdef uint32_t[::1] c = self.cdf
        cdef uint8_t[::1] e = enc
        rans_build_enc(&c[0], self.k, self.n, self.precision, <rans_enc_sym *>&e[0])
        self.enc = enc


_table_cache = {}


def _table(where, freqs, precision):
    f = np.asarray(freqs)
    if f.ndim not in (1, 2) or f.size == 0:
        raise ValueError(f"{where}: freqs must have shape (n,) or (k, n) with n >= 1, got "
                         f"shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer) or f.dtype == np.bool_:
        raise ValueError(f"{where}: freqs must be integers (uint32), got dtype {f.dtype}")
    if f.dtype != np.uint32:
        if int(f.min()) < 0 or int(f.max()) > 0xFFFFFFFF:
            raise ValueError(f"{where}: freqs must fit in uint32")
        f = f.astype(np.uint32)
    f = np.ascontiguousarray(f.reshape(-1, f.shape[f.ndim - 1]))
    key = (precision, f.shape, f.tobytes())
    t = _table_cache.get(key)
    if t is not None:
        return t
    cdef size_t k = f.shape[0], n = f.shape[1], row = 0, col = 0
    if n > (1 << precision):
        raise ValueError(f"{where}: {n} symbols cannot each get a frequency >= 1 at "
                         f"precision {precision}; raise the precision")
    cdf = np.empty((k, n + 1), dtype=np.uint32)
    cdef uint32_t[:, ::1] fv = f
    cdef uint32_t[:, ::1] cv = cdf
    err = rans_build_cdf(&fv[0, 0], k, n, precision, &cv[0, 0], &row, &col)
    if err == 1:
        raise ValueError(f"{where}: frequency of symbol {col} in table {row} is zero; every "
                         "symbol needs a frequency >= 1 (use archiver.entropy.quantize_freqs)")
    if err == 2:
        total = int(f[row].sum(dtype=np.uint64))
        raise ValueError(f"{where}: frequencies of table {row} sum to {total}, not "
                         f"2**{precision} = {1 << precision} (use archiver.entropy."
                         "quantize_freqs)")
    tab = _Table()
    tab.cdf = cdf.reshape(-1)
    tab.lut = None
    tab.enc = None
    tab.k, tab.n, tab.precision = k, n, precision
    tab.lut_bits = min(precision, 16, max(10, int(n).bit_length() + 3))
    tab.popped = tab.pushed = 0
    if f.nbytes <= _TABLE_CACHE_MAX_BYTES:
        if len(_table_cache) >= _TABLE_CACHE_SIZE:
            _table_cache.pop(next(iter(_table_cache)))
        _table_cache[key] = tab
    return tab


def _table_indices(where, table_idx, count, k, check=True):
    if table_idx is None:
        if k != 1:
            raise ValueError(f"{where}: freqs has {k} tables; give table_idx (one table index "
                             "per symbol)")
        return None
    t = _params(where, "table_idx", table_idx, count, np.int64)
    if check:
        _check_range(where, "table index", t, 0, k, f"freqs has {k} tables")
    return t


def _check_seed(seed):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) \
            or not 0 <= seed < (1 << 64):
        raise ValueError(f"seed must be an int in 0..2**64-1, got {seed!r}")
    return int(seed)


cdef inline int64_t *_i64(int64_t[::1] a):
    return &a[0] if a.shape[0] else NULL


cdef inline const int32_t *_i32(const int32_t[::1] a):
    return &a[0] if a.shape[0] else NULL


@cython.final
cdef class Message:
    """A stack rANS message: 64-bit head plus a stack of 32-bit words.

    Message(seed=0) is empty. Popping more than was pushed draws initial bits from a source
    seeded by `seed` (format_spec/rans.md) and counts them in `initial_bits_drawn`, so a
    bits-back encoder can start from an empty message. `push_*(a)` then `pop_*(len(a))`
    returns `a` in the same order.
    """

    def __cinit__(self, seed=0):
        rans_init(&self.m, _check_seed(seed))

    def __dealloc__(self):
        rans_free(&self.m)

    @property
    def seed(self):
        return self.m.seed

    @property
    def initial_bits_drawn(self):
        """Bits drawn from the seeded source so far (32 per word)."""
        return 32 * self.m.drawn

    def bit_length(self):
        """Exact length of to_bytes() in bits."""
        return rans_bit_length(&self.m)

    def copy(self):
        cdef Message c = Message(self.m.seed)
        if rans_reserve(&c.m, self.m.len) != RANS_OK:
            raise MemoryError("copying a rANS message: out of memory")
        if self.m.len:
            memcpy(c.m.words, self.m.words, self.m.len * sizeof(uint32_t))
        c.m.len = self.m.len
        c.m.head = self.m.head
        c.m.drawn = self.m.drawn
        return c

    def to_bytes(self):
        """The stack words bottom to top, then the head's low and high words; u32 LE."""
        out = np.empty(self.m.len + 2, dtype="<u4")
        cdef uint32_t[::1] o = out.view(np.uint32)
        if self.m.len:
            memcpy(&o[0], self.m.words, self.m.len * sizeof(uint32_t))
        o[self.m.len] = <uint32_t>self.m.head
        o[self.m.len + 1] = <uint32_t>(self.m.head >> 32)
        if out.dtype != np.dtype(np.uint32):     # big-endian host: bytes are stored LE
            out[:] = out.view(np.uint32)
        return out.tobytes()

    @classmethod
    def from_bytes(cls, data, seed=0):
        """Parse to_bytes() output. ValueError if it cannot be a message."""
        data = bytes(data)
        if len(data) % 4 or len(data) < 8:
            raise ValueError(f"a rANS message is a whole number of 4-byte words, at least 2; "
                             f"got {len(data)} bytes (truncated or not a message)")
        w = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        head = int(w[len(w) - 2]) | (int(w[len(w) - 1]) << 32)
        if head < (1 << 32):
            raise ValueError("a rANS message's head (its last 8 bytes) must be >= 2**32; "
                             "the data is corrupt or not a message")
        cdef Message msg = Message(seed)
        cdef size_t n = len(w) - 2
        if rans_reserve(&msg.m, n) != RANS_OK:
            raise MemoryError("reading a rANS message: out of memory")
        cdef uint32_t[::1] wv = w
        if n:
            memcpy(msg.m.words, &wv[0], n * sizeof(uint32_t))
        msg.m.len = n
        msg.m.head = head
        return msg

    def is_initial(self):
        """True if the message holds nothing but initial bits: its head is that of a fresh
        message and its words, top first, are the seeded source's first words. A bits-back
        decoder checks this after decoding everything."""
        if self.m.head != RANS_L:
            return False
        cdef size_t i
        for i in range(self.m.len):
            if self.m.words[self.m.len - 1 - i] != rans_source_word(self.m.seed, i):
                return False
        return True

    def __repr__(self):
        return (f"Message(bits={self.bit_length()}, seed={self.m.seed}, "
                f"initial_bits_drawn={self.initial_bits_drawn})")

    # ---- categorical ----------------------------------------------------------------------

    def push_categorical(self, symbols, freqs, precision, table_idx=None):
        """Push symbols (any shape, C order) with freqs uint32 (n,) or (k, n) summing to
        2**precision per row; table_idx picks each symbol's row when k > 1."""
        where = "push_categorical"
        p = _check_precision(where, precision)
        tab = _table(where, freqs, p)
        s = _symbols(where, symbols)
        t = _table_indices(where, table_idx, s.shape[0], tab.k, check=False)
        tab.ensure_enc(s.shape[0])
        cdef uint8_t[::1] e
        cdef const rans_enc_sym *ep = NULL
        if tab.enc is not None:
            e = tab.enc
            ep = <const rans_enc_sym *>&e[0]
        cdef uint32_t[::1] c = tab.cdf
        cdef const int64_t *tp = _i64(t) if t is not None else NULL
        cdef size_t bad = 0, cnt = s.shape[0], nn = tab.n, kk = tab.k
        cdef unsigned pp = p
        cdef int is32 = s.dtype == np.int32, err
        cdef const void *sp = _sym_ptr(s)
        with nogil:
            err = rans_categorical_push(&self.m, sp, is32, cnt, ep, &c[0], nn, tp, kk, pp, &bad)
        if err:
            _push_error(where, err, bad, s, f"the table has {tab.n} symbols", t,
                        "table index", f"0..{tab.k - 1} (freqs has {tab.k} tables)")

    def pop_categorical(self, count, freqs, precision, table_idx=None):
        where = "pop_categorical"
        p = _check_precision(where, precision)
        n = _check_count(where, count)
        tab = _table(where, freqs, p)
        t = _table_indices(where, table_idx, n, tab.k)
        tab.ensure_lut(n)
        out = np.empty(n, dtype=np.int64)
        cdef uint32_t[::1] c = tab.cdf
        cdef uint16_t[::1] lut
        cdef const uint16_t *lp = NULL
        if tab.lut is not None:
            lut = tab.lut
            lp = &lut[0]
        cdef const int64_t *tp = _i64(t) if t is not None else NULL
        cdef size_t cnt = n, nn = tab.n
        cdef unsigned pp = p, bits = tab.lut_bits
        cdef int64_t *op = _i64(out)
        with nogil:
            rans_categorical_pop(&self.m, op, cnt, &c[0], nn, tp, pp, lp, bits)
        return out

    # ---- uniform --------------------------------------------------------------------------

    def push_uniform(self, symbols, nbins):
        """Push symbols uniform over 0..nbins-1 (nbins <= 2**31; exact when a power of 2)."""
        where = "push_uniform"
        nb = _check_nbins(where, nbins, RANS_UNIFORM_MAX_BINS)
        s = _symbols(where, symbols)
        cdef size_t bad = 0, cnt = s.shape[0]
        cdef uint64_t nbc = nb
        cdef int is32 = s.dtype == np.int32, err
        cdef const void *sp = _sym_ptr(s)
        with nogil:
            err = rans_uniform_push(&self.m, sp, is32, cnt, nbc, &bad)
        if err:
            _push_error(where, err, bad, s, f"nbins is {nb}")

    def pop_uniform(self, count, nbins):
        where = "pop_uniform"
        nb = _check_nbins(where, nbins, RANS_UNIFORM_MAX_BINS)
        n = _check_count(where, count)
        out = np.empty(n, dtype=np.int64)
        cdef size_t cnt = n
        cdef uint64_t nbc = nb
        cdef int64_t *op = _i64(out)
        with nogil:
            rans_uniform_pop(&self.m, op, cnt, nbc)
        return out

    # ---- discretised logistic -------------------------------------------------------------

    def push_logistic(self, symbols, loc, scale_idx, nbins, precision):
        """Push bins 0..nbins-1 under discretised logistics: loc in 1/256 bins (int32, one
        per symbol or a scalar), scale_idx into SCALES[j] = 2**(-4 + j/8) bins, plus
        TAIL_FLAG for the tailed logistic of scale j (format_spec/rans.md 5.3)."""
        where = "push_logistic"
        p = _check_precision(where, precision)
        nb = _check_logistic_bins(where, nbins, p)
        s = _symbols(where, symbols)
        l, j = _logistic_params(where, loc, scale_idx, s.shape[0], check=False)
        cdef size_t bad = 0, cnt = s.shape[0]
        cdef uint64_t nbc = nb
        cdef unsigned pp = p
        cdef int is32 = s.dtype == np.int32, err
        cdef const void *sp = _sym_ptr(s)
        cdef const int32_t *lp = _i32(l)
        cdef const int32_t *jp = _i32(j)
        with nogil:
            err = rans_logistic_push(&self.m, sp, is32, cnt, lp, jp, nbc, pp, &bad)
        if err:
            _push_error(where, err, bad, s, f"nbins is {nb}", j, "scale_idx",
                        f"0..{RANS_SCALE_IDX_LIMIT - 1} (the scale table, plus "
                        f"{RANS_TAIL_FLAG} for the tailed logistic)")

    def push_logistic_masked(self, symbols, loc, scale_idx, mask_idx, masks, nbins, precision):
        """push_logistic where mask_idx[i] >= 0 restricts symbol i to the bins allowed by row
        mask_idx[i] of masks (uint8 (nmasks, (nbins + 7) // 8), bin k = bit k & 7 of byte
        k >> 3): the masked logistic of format_spec/rans.md 5.4. mask_idx[i] < 0: the plain
        logistic, as push_logistic. nbins <= 256."""
        where = "push_logistic_masked"
        s = _int_array(where, "symbols", np.asarray(symbols), np.int64)
        p, nb, l, j, mi, mk = _masked_args(where, s.shape[0], loc, scale_idx, mask_idx, masks,
                                           nbins, precision)
        cdef size_t bad = 0, cnt = s.shape[0], nmk = mk.shape[0]
        cdef uint64_t nbc = nb
        cdef unsigned pp = p
        cdef int err
        cdef const int64_t[::1] sv = s
        cdef const uint8_t[:, ::1] mv = mk
        cdef const int64_t *sp = &sv[0] if cnt else NULL
        cdef const uint8_t *mp = &mv[0, 0] if nmk else NULL
        cdef const int32_t *lp = _i32(l)
        cdef const int32_t *jp = _i32(j)
        cdef const int32_t *ip = _i32(mi)
        with nogil:
            err = rans_masked_push(&self.m, sp, cnt, lp, jp, ip, mp, nmk, nbc, pp, &bad)
        if err:
            _push_error(where, err, bad, s, f"nbins is {nb}, or its mask does not allow it",
                        mi, "mask_idx", "the masks given")

    def pop_logistic_masked(self, count, loc, scale_idx, mask_idx, masks, nbins, precision):
        where = "pop_logistic_masked"
        n = _check_count(where, count)
        p, nb, l, j, mi, mk = _masked_args(where, n, loc, scale_idx, mask_idx, masks, nbins,
                                           precision)
        out = np.empty(n, dtype=np.int64)
        cdef size_t cnt = n, nmk = mk.shape[0]
        cdef uint64_t nbc = nb
        cdef unsigned pp = p
        cdef const uint8_t[:, ::1] mv = mk
        cdef const uint8_t *mp = &mv[0, 0] if nmk else NULL
        cdef int64_t *op = _i64(out)
        cdef const int32_t *lp = _i32(l)
        cdef const int32_t *jp = _i32(j)
        cdef const int32_t *ip = _i32(mi)
        with nogil:
            rans_masked_pop(&self.m, op, cnt, lp, jp, ip, mp, nbc, pp)
        return out

    def pop_logistic(self, count, loc, scale_idx, nbins, precision):
        where = "pop_logistic"
        p = _check_precision(where, precision)
        nb = _check_logistic_bins(where, nbins, p)
        n = _check_count(where, count)
        l, j = _logistic_params(where, loc, scale_idx, n)
        out = np.empty(n, dtype=np.int64)
        cdef size_t cnt = n
        cdef uint64_t nbc = nb
        cdef unsigned pp = p
        cdef int64_t *op = _i64(out)
        cdef const int32_t *lp = _i32(l)
        cdef const int32_t *jp = _i32(j)
        with nogil:
            rans_logistic_pop(&self.m, op, cnt, lp, jp, nbc, pp)
        return out


def _masked_args(where, n, loc, scale_idx, mask_idx, masks, nbins, precision):
    """Validated arguments of the masked logistic: (p, nbins, loc, j, mask_idx, masks)."""
    p = _check_precision(where, precision)
    nb = _check_logistic_bins(where, nbins, p, RANS_MASKED_MAX_BINS)
    l, j = _logistic_params(where, loc, scale_idx, n)
    mi = _params(where, "mask_idx", mask_idx, n, np.int32)
    mk = np.asarray(masks)
    width = (nb + 7) // 8
    if mk.dtype != np.uint8 or mk.ndim != 2 or mk.shape[1] != width:
        raise ValueError(f"{where}: masks must be uint8 of shape (nmasks, {width}) for {nb} "
                         f"bins, got {mk.dtype} {mk.shape}")
    mk = np.ascontiguousarray(mk)
    used = np.unique(mi[mi >= 0])
    if used.size:
        if int(used.max()) >= mk.shape[0]:
            i = int(np.argmax(mi >= mk.shape[0]))
            raise ValueError(f"{where}: mask_idx {int(mi[i])} at index {i} is outside "
                             f"0..{mk.shape[0] - 1} (the masks given)")
        bits = np.unpackbits(mk[used], axis=1, bitorder="little")[:, :nb]
        if not bits.any(axis=1).all():
            raise ValueError(f"{where}: a mask in use allows no bin; every mask needs one")
    return p, nb, l, j, mi, mk


def _check_nbins(where, nbins, limit):
    if not isinstance(nbins, (int, np.integer)) or isinstance(nbins, bool) \
            or not 1 <= nbins <= limit:
        raise ValueError(f"{where}: nbins must be an int in 1..{limit}, got {nbins!r}")
    return int(nbins)


def _check_logistic_bins(where, nbins, precision, limit=RANS_LOGISTIC_MAX_BINS):
    nb = _check_nbins(where, nbins, limit)
    if nb > (1 << precision):
        raise ValueError(f"{where}: {nb} bins cannot each get a frequency >= 1 at precision "
                         f"{precision}; raise the precision")
    return nb


def _logistic_params(where, loc, scale_idx, n, check=True):
    l = _params(where, "loc", loc, n, np.int32)
    j = _params(where, "scale_idx", scale_idx, n, np.int32)
    if check:
        _check_range(where, "scale_idx", j, 0, RANS_SCALE_IDX_LIMIT,
                     f"the scale table, plus {RANS_TAIL_FLAG} for the tailed logistic")
    return l, j


def scale_index(scale):
    """Nearest index j of SCALES[j] = 2**(-4 + j/8) (in bins) for a float scale, clamped to
    0..SCALE_COUNT-1. For training and export code; the coder only sees indices."""
    s = np.asarray(scale, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.rint((np.log2(np.maximum(s, 1e-300)) + 4.0) * 8.0)
    j = np.clip(np.nan_to_num(j, nan=0.0), 0, RANS_SCALE_COUNT - 1).astype(np.int64)
    return int(j) if j.ndim == 0 else j
