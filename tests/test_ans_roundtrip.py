"""Round trips of every model family, C against the pure-Python twin word for word."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.entropy import logistic_freqs, quantize_freqs
from cython_ans import Message
from cython_ans.reference import Message as RefMessage

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def categorical_case(draw):
    precision = draw(st.integers(1, 31))
    n = draw(st.integers(1, min(300, 1 << precision)))
    k = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.integers(0, 1 << draw(st.integers(1, 40)), size=(k, n), dtype=np.uint64)
    weights[:, 0] += 1
    freqs = quantize_freqs(weights, precision)
    count = draw(st.integers(0, 200))
    table_idx = rng.integers(0, k, count) if k > 1 else None
    symbols = rng.integers(0, n, count)
    return symbols, (freqs if k > 1 else freqs[0]), precision, table_idx


@st.composite
def logistic_case(draw):
    precision = draw(st.integers(10, 31))
    nbins = draw(st.sampled_from([1, 2, 3, 256, 1000, 1024]))
    count = draw(st.integers(0, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    symbols = rng.integers(0, nbins, count)
    loc = rng.integers(-2**31, 2**31, count) if draw(st.booleans()) else \
        rng.integers(-256 * 8, 256 * (nbins + 8), count)
    scale_idx = rng.integers(0, 256, count)         # both families: j and j + TAIL_FLAG
    return symbols, loc.astype(np.int32), scale_idx, nbins, precision


@given(categorical_case(), st.integers(0, 2**64 - 1))
@SETTINGS
def test_categorical_round_trip_matches_reference(case, seed):
    symbols, freqs, precision, table_idx = case
    c, r = Message(seed), RefMessage(seed)
    for m in (c, r):
        m.push_categorical(symbols, freqs, precision, table_idx)
    assert c.to_bytes() == r.to_bytes()
    assert c.bit_length() == r.bit_length() == 8 * len(c.to_bytes())
    d = Message.from_bytes(c.to_bytes(), seed)
    assert np.array_equal(d.pop_categorical(len(symbols), freqs, precision, table_idx), symbols)
    assert d.is_initial() and d.initial_bits_drawn == 0


@given(logistic_case(), st.integers(0, 2**64 - 1))
@SETTINGS
def test_logistic_round_trip_matches_reference(case, seed):
    symbols, loc, scale_idx, nbins, precision = case
    c, r = Message(seed), RefMessage(seed)
    for m in (c, r):
        m.push_logistic(symbols, loc, scale_idx, nbins, precision)
    assert c.to_bytes() == r.to_bytes()
    d = Message.from_bytes(c.to_bytes(), seed)
    assert np.array_equal(d.pop_logistic(len(symbols), loc, scale_idx, nbins, precision), symbols)
    assert d.is_initial()


@given(logistic_case(), st.integers(0, 2**64 - 1), st.floats(0.02, 1.0))
@SETTINGS
def test_masked_logistic_round_trip_matches_reference(case, seed, density):
    """Masked and plain symbols interleaved in one push: C and the reference write the same
    words, the pop returns the symbols, and the numpy code length is what the message grew."""
    from archiver.entropy import masked_logistic_codelength
    from cython_ans import _rans
    from cython_ans.reference import logistic_cum, masked_cdf
    symbols, loc, scale_idx, nbins, precision = case
    if nbins > 256:
        return
    rng = np.random.default_rng(seed % 2**32)
    allowed = rng.random((4, nbins)) < density
    allowed[np.arange(4), rng.integers(0, nbins, 4)] = True
    masks = np.packbits(allowed, axis=1, bitorder="little")
    mask_idx = rng.integers(-1, 4, len(symbols)).astype(np.int32)
    symbols = np.array([rng.choice(np.flatnonzero(allowed[m])) if m >= 0 else s
                        for s, m in zip(symbols, mask_idx)], np.int64)
    c, r = Message(seed), RefMessage(seed)
    for m in (c, r):
        m.push_logistic_masked(symbols, loc, scale_idx, mask_idx, masks, nbins, precision)
    assert c.to_bytes() == r.to_bytes()
    d, e = Message.from_bytes(c.to_bytes(), seed), RefMessage.from_bytes(c.to_bytes(), seed)
    for m in (d, e):
        got = m.pop_logistic_masked(len(symbols), loc, scale_idx, mask_idx, masks, nbins,
                                    precision)
        assert np.array_equal(got, symbols) and m.is_initial()
    if len(symbols):
        bits = masked_logistic_codelength(symbols, loc, scale_idx, mask_idx, masks, nbins,
                                          precision)
        assert abs(c.bit_length() - 64 - bits) < 32 + 1e-3 * len(symbols)
        # the coder's frequencies against the reference's cdf of the same symbols
        freqs = _rans.masked_freqs(symbols, loc, scale_idx, mask_idx, masks, nbins, precision)
        for i in range(min(len(symbols), 8)):
            if mask_idx[i] < 0:
                want = logistic_cum(int(symbols[i]) + 1, int(loc[i]), int(scale_idx[i]), nbins,
                                    precision) - logistic_cum(int(symbols[i]), int(loc[i]),
                                                              int(scale_idx[i]), nbins, precision)
            else:
                cdf, bins = masked_cdf(masks[mask_idx[i]].tolist(), int(loc[i]),
                                       int(scale_idx[i]), nbins, precision)
                r = bins.index(int(symbols[i]))
                want = cdf[r + 1] - cdf[r]
            assert freqs[i] == want


def test_masked_logistic_refuses_what_it_cannot_code():
    masks = np.packbits(np.arange(256) % 4 == 0, bitorder="little")[None]
    m = Message()
    with pytest.raises(ValueError, match="symbol 3 at index 0"):
        m.push_logistic_masked([3], 0, 40, [0], masks, 256, 16)
    with pytest.raises(ValueError, match="mask_idx 1"):
        m.push_logistic_masked([4], 0, 40, [1], masks, 256, 16)
    with pytest.raises(ValueError, match="allows no bin"):
        m.push_logistic_masked([4], 0, 40, [0], np.zeros((1, 32), np.uint8), 256, 16)
    with pytest.raises(ValueError, match="shape"):
        m.push_logistic_masked([4], 0, 40, [0], masks[:, :8], 256, 16)
    assert m.bit_length() == 64                     # nothing was pushed
    m.push_logistic_masked([4, 200], 0, 40, [0, -1], masks, 256, 16)


@given(st.integers(1, 2**31), st.integers(0, 100), st.integers(0, 2**32 - 1))
@SETTINGS
def test_uniform_round_trip_matches_reference(nbins, count, seed):
    symbols = np.random.default_rng(seed).integers(0, nbins, count)
    c, r = Message(), RefMessage()
    for m in (c, r):
        m.push_uniform(symbols, nbins)
    assert c.to_bytes() == r.to_bytes()
    assert np.array_equal(Message.from_bytes(c.to_bytes()).pop_uniform(count, nbins), symbols)


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=15, deadline=None)
def test_interleaved_pops_and_pushes_match_reference(seed):
    """Pops from an empty message (bits-back style) then pushes, on both implementations."""
    rng = np.random.default_rng(seed)
    freqs = quantize_freqs(rng.integers(1, 1000, 40).astype(np.uint64), 14)
    loc = rng.integers(-5000, 70000, 30).astype(np.int32)
    j = rng.integers(0, 128, 30)
    pushed = rng.integers(0, 40, 25)
    words = []
    for M in (Message, RefMessage):
        m = M(seed)
        a = m.pop_uniform(7, 1000)
        b = m.pop_logistic(30, loc, j, 256, 16)
        m.push_categorical(pushed, freqs, 14)
        c = m.pop_categorical(20, freqs, 14)
        words.append((m.to_bytes(), m.initial_bits_drawn, a.tolist(), b.tolist(), c.tolist()))
    assert words[0] == words[1]


def test_push_logistic_equals_push_categorical_with_logistic_freqs():
    """logistic_freqs (numpy) gives exactly the frequencies the C coder uses."""
    rng = np.random.default_rng(5)
    for nbins, precision in ((256, 16), (1024, 24), (3, 12), (256, 31)):
        n = 400
        loc = rng.integers(-256 * 40, 256 * (nbins + 40), n).astype(np.int32)
        j = rng.integers(0, 256, n)                 # both families
        freqs = logistic_freqs(loc, j, nbins, precision)
        assert freqs.shape == (n, nbins)
        assert (freqs >= 1).all() and (freqs.sum(axis=1, dtype=np.int64) == 1 << precision).all()
        symbols = rng.integers(0, nbins, n)
        a, b = Message(), Message()
        a.push_logistic(symbols, loc, j, nbins, precision)
        b.push_categorical(symbols, freqs, precision, table_idx=np.arange(n))
        assert a.to_bytes() == b.to_bytes()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.uint16, np.int16])
def test_symbol_dtypes_and_shapes(dtype):
    symbols = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    freqs = quantize_freqs(np.arange(1, 8, dtype=np.uint64), 12)
    m = Message()
    m.push_categorical(symbols, freqs, 12)
    m.push_uniform(symbols, 7)
    m.push_logistic(symbols, 3 * 256, 10, 7, 12)
    assert np.array_equal(m.pop_logistic(24, 3 * 256, 10, 7, 12), symbols.ravel())
    assert np.array_equal(m.pop_uniform(24, 7), symbols.ravel())
    assert np.array_equal(m.pop_categorical(24, freqs, 12), symbols.ravel())


def test_large_categorical_uses_lookup_table_and_round_trips():
    rng = np.random.default_rng(1)
    for n, precision in ((256, 24), (300, 9), (70000, 20), (5, 31)):
        freqs = quantize_freqs(rng.integers(0, 2**20, n).astype(np.uint64) + 1, precision)
        symbols = rng.integers(0, n, 50000)
        m = Message()
        m.push_categorical(symbols, freqs, precision)
        ref = RefMessage()
        ref.push_categorical(symbols[:300], freqs, precision)
        small = Message()
        small.push_categorical(symbols[:300], freqs, precision)
        assert small.to_bytes() == ref.to_bytes()
        assert np.array_equal(m.pop_categorical(50000, freqs, precision), symbols)


def test_copy_is_independent():
    m = Message(3)
    m.push_uniform(np.arange(100), 1000)
    c = m.copy()
    assert c.to_bytes() == m.to_bytes() and c.seed == 3
    c.push_uniform([5], 1000)
    assert c.to_bytes() != m.to_bytes()
    assert np.array_equal(m.pop_uniform(100, 1000), np.arange(100))


@pytest.mark.parametrize("precision", [1, 2, 16, 31])
def test_extreme_tables_match_reference(precision):
    """freq = 1 symbols (the reciprocal's special case), a one-symbol table (freq = 2**p)."""
    n = min(4, 1 << precision)
    tables = np.ones((3, n), np.uint32)
    tables[0, 0] = (1 << precision) - (n - 1)
    tables[1, n - 1] = (1 << precision) - (n - 1)
    tables[2] = quantize_freqs(np.arange(1, n + 1, dtype=np.uint64), precision)
    rng = np.random.default_rng(precision)
    symbols = rng.integers(0, n, 3000)
    tidx = rng.integers(0, 3, 3000)
    one = np.array([1 << precision], np.uint32)
    c, r = Message(), RefMessage()
    for m in (c, r):
        m.push_categorical(symbols, tables, precision, tidx)
        m.push_categorical(np.zeros(50, np.int64), one, precision)
    assert c.to_bytes() == r.to_bytes()
    assert np.array_equal(c.pop_categorical(50, one, precision), np.zeros(50))
    assert np.array_equal(c.pop_categorical(3000, tables, precision, tidx), symbols)
