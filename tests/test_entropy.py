"""archiver.entropy: THE leaky quantiser and the logistic helpers, exact against the C coder."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.entropy import (logistic_cdf, logistic_codelength, logistic_freqs, quantize_cdf,
                              quantize_freqs)
from cython_ans import SCALE_COUNT, TAIL_FLAG, Message, _rans, gen_tables, scale_index, tables


@st.composite
def weights_case(draw):
    precision = draw(st.integers(1, 31))
    n = draw(st.integers(1, min(200, 1 << precision)))
    rows = draw(st.integers(1, 3))
    top = draw(st.sampled_from([2, 1000, 2**32, 2**40, 2**64 // n]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.integers(0, top, size=(rows, n), dtype=np.uint64)
    if draw(st.booleans()):
        w[rng.random((rows, n)) < 0.7] = 0          # many zero weights: leakiness
    w[:, rng.integers(0, n)] |= np.uint64(1)
    return w, precision


@given(weights_case())
@settings(max_examples=80, deadline=None)
def test_quantizer_is_leaky_exact_and_matches_c(case):
    w, p = case
    f = quantize_freqs(w, p)
    assert f.dtype == np.uint32 and f.shape == w.shape
    assert (f >= 1).all()
    assert (f.sum(axis=-1, dtype=np.uint64) == 1 << p).all()
    assert np.array_equal(quantize_cdf(w, p), _rans._quantize_cdf(w, p))


def test_quantizer_is_proportional():
    w = np.array([1, 0, 5, 10, 984], dtype=np.uint64)
    p = 16
    f = quantize_freqs(w, p).astype(np.int64)
    ideal = w / w.sum() * ((1 << p) - len(w))
    assert np.all(np.abs(f - 1 - ideal) < 1)


def test_quantizer_errors():
    with pytest.raises(ValueError, match="all zero"):
        quantize_freqs(np.zeros((2, 3), np.uint64) + np.array([[0], [1]], np.uint64), 8)
    with pytest.raises(ValueError, match="nonnegative"):
        quantize_freqs(np.array([-1, 2]), 8)
    with pytest.raises(ValueError, match="raise the precision"):
        quantize_freqs(np.ones(5, np.uint64), 2)
    with pytest.raises(ValueError, match="too large"):
        quantize_freqs(np.array([2**63, 2**63], np.uint64), 8)
    with pytest.raises(ValueError, match="integers"):
        quantize_freqs(np.array([0.5, 0.5]), 8)
    with pytest.raises(ValueError, match="precision"):
        quantize_freqs(np.ones(2, np.uint64), 32)


def test_logistic_freqs_properties_and_accuracy():
    rng = np.random.default_rng(0)
    n = 300
    loc = rng.integers(0, 256 * 256, n).astype(np.int32)
    j = rng.integers(0, SCALE_COUNT, n)
    f = logistic_freqs(loc, j, 256, 24)
    assert f.shape == (n, 256) and (f >= 1).all()
    assert (f.sum(axis=1, dtype=np.int64) == 1 << 24).all()
    # close to the float logistic (the integer tables are accurate to ~1e-7)
    c = logistic_cdf(loc, j, 256, 24)[:, 1:-1] / 2**24
    edges = np.arange(1, 256) - 0.5
    s = 2.0 ** (-4 + j / 8)
    z = (edges[None] - loc[:, None] / 256) / s[:, None]
    exact = 0.5 * (1 + np.tanh(z / 2))
    assert np.max(np.abs(c - exact)) < 256 / 2**24 + 1e-6


def test_tailed_logistic_is_the_mixture_it_claims():
    """j + TAIL_FLAG: 31/32 of the logistic one step narrower plus 1/32 thirteen steps wider,
    so the tails hold far more mass than the plain logistic's."""
    loc = np.full(3, 100 * 256, np.int32)
    j = np.array([40, 0, 125])
    c = logistic_cdf(loc, j + TAIL_FLAG, 256, 24)[:, 1:-1] / 2**24
    edges = np.arange(1, 256) - 0.5

    def cdf(jj):
        return 0.5 * (1 + np.tanh((edges[None] - 100) / 2.0 ** (-4 + jj[:, None] / 8) / 2))
    exact = 31 / 32 * cdf(np.maximum(j - 1, 0)) + 1 / 32 * cdf(np.minimum(j + 13, 127))
    assert np.max(np.abs(c - exact)) < 256 / 2**24 + 1e-6
    plain = logistic_freqs(loc[:1], j[:1], 256, 24)[0]
    tailed = logistic_freqs(loc[:1], j[:1] + TAIL_FLAG, 256, 24)[0]
    assert tailed[130] > 100 * plain[130] and tailed[100] < plain[100] * 1.2


def test_masked_codelength_broadcasts_like_the_plain_one():
    """Arrays of any matching shape (an image's blocks) and scalars mix; with no mask in use
    it equals logistic_codelength."""
    from archiver.entropy import masked_logistic_codelength
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (2, 3, 4, 4))
    loc = (x * 256 + rng.integers(-300, 300, x.shape)).astype(np.int32)
    masks = np.full((1, 32), 0xFF, np.uint8)
    plain = logistic_codelength(x, loc, 40, 256, 20)
    assert masked_logistic_codelength(x, loc, 40, -1, masks, 256, 20) == pytest.approx(plain)
    everything = masked_logistic_codelength(x, loc, np.full(x.shape, 40), np.zeros(x.shape, int),
                                            masks, 256, 20)
    assert everything == pytest.approx(plain, rel=1e-4)


def test_logistic_codelength_is_sum_of_minus_log_freqs():
    rng = np.random.default_rng(1)
    n = 500
    loc = rng.integers(-1000, 1024 * 256, n).astype(np.int32)
    j = rng.integers(0, 128, n)
    x = rng.integers(0, 1024, n)
    f = logistic_freqs(loc, j, 1024, 20)[np.arange(n), x]
    expected = float(np.sum(20 - np.log2(f.astype(np.float64))))
    assert logistic_codelength(x, loc, j, 1024, 20) == pytest.approx(expected, rel=1e-12)
    m = Message()
    m.push_logistic(x, loc, j, 1024, 20)
    assert abs(m.bit_length() - 64 - expected) < 64


def test_logistic_broadcasts_and_validates():
    assert logistic_freqs(128 * 256, 40, 256, 16).shape == (256,)
    assert logistic_freqs(np.zeros((2, 3), np.int32), 40, 10, 16).shape == (2, 3, 10)
    with pytest.raises(ValueError, match="scale_idx"):
        logistic_freqs(0, 256, 256, 16)
    with pytest.raises(ValueError, match="scale_idx"):
        logistic_freqs(0, -1, 256, 16)
    with pytest.raises(ValueError, match="raise the precision"):
        logistic_freqs(0, 0, 256, 7)
    with pytest.raises(ValueError, match="symbols"):
        logistic_codelength([256], 0, 0, 256, 16)


def test_committed_tables_match_c_and_generator():
    mant, sig = _rans._tables()
    assert mant == tables.SCALE_MANTISSA and sig == tables.SIGMOID
    header, py = gen_tables.render(*gen_tables.compute())
    root = gen_tables.HERE
    assert (root / "rans_tables.h").read_text() == header
    assert (root / "tables.py").read_text() == py
    assert all(abs(m - 2 ** (16 - i / 8)) <= 0.5 for i, m in enumerate(mant))
    assert sig[0] == 2**31 and all(a <= b for a, b in zip(sig, sig[1:]))
    for i in (1, 300, 2000):
        assert abs(sig[i] / 2**32 - 1 / (1 + math.exp(-i / 256))) < 1e-9


def test_scale_index_inverts_the_scale_table():
    j = np.arange(SCALE_COUNT)
    assert np.array_equal(scale_index(2.0 ** (-4 + j / 8)), j)
    assert scale_index(1e-9) == 0 and scale_index(1e9) == SCALE_COUNT - 1
    assert scale_index(1.0) == 32


@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 5, 256, 1024, 2**16]),
       st.integers(1, 31))
@settings(max_examples=30, deadline=None)
def test_logistic_cdf_three_implementations_agree(seed, nbins, precision):
    """C (rans_logistic_cum), numpy (logistic_cdf) and the reference, at every edge."""
    from cython_ans.reference import logistic_cum
    if nbins > 1 << precision:
        precision = max(precision, nbins.bit_length())
    rng = np.random.default_rng(seed)
    count = 3 if nbins > 1000 else 12
    loc = np.concatenate([rng.integers(-2**31, 2**31, count),
                          rng.integers(-256 * 20, 256 * (nbins + 20), count),
                          [-2**31, 2**31 - 1, 0, 256 * nbins]]).astype(np.int32)
    j = np.concatenate([rng.integers(0, 2 * SCALE_COUNT, 2 * count),
                        [0, 127, 64, 1, TAIL_FLAG, TAIL_FLAG + 127, TAIL_FLAG + 120]])
    loc = np.concatenate([loc, loc[:3]])
    c = _rans._logistic_cdf(loc, j, nbins, precision)
    assert np.array_equal(c, logistic_cdf(loc, j, nbins, precision))
    assert (np.diff(c.astype(np.int64), axis=1) >= 1).all()
    for i in rng.integers(0, len(loc), 3):
        ks = rng.integers(0, nbins + 1, 20)
        assert [logistic_cum(int(k), int(loc[i]), int(j[i]), nbins, precision) for k in ks] \
            == c[i, ks].tolist()
