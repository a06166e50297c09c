"""Garbage in: decoding returns symbols or raises, never crashes or hangs; bad arguments raise
ValueError with a message that names the problem, and leave the message untouched."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.entropy import quantize_freqs
from cython_ans import Message

FREQS = quantize_freqs(np.arange(1, 257, dtype=np.uint64) ** 3, 24)


@given(st.binary(min_size=8, max_size=400), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_garbage_decodes_to_valid_symbols_or_is_refused(data, seed):
    data = data[:len(data) // 4 * 4]
    try:
        m = Message.from_bytes(data, seed=seed)
    except ValueError as e:
        assert "message" in str(e)
        return
    rng = np.random.default_rng(seed)
    n = 300
    cat = m.pop_categorical(n, FREQS, 24)
    multi = m.pop_categorical(n, np.stack([FREQS, FREQS[::-1]]), 24,
                              table_idx=rng.integers(0, 2, n))
    uni = m.pop_uniform(n, 1000)
    log = m.pop_logistic(n, rng.integers(-2**31, 2**31, n).astype(np.int32),
                         rng.integers(0, 128, n), 1024, 24)
    for out, hi in ((cat, 256), (multi, 256), (uni, 1000), (log, 1024)):
        assert out.shape == (n,) and out.min() >= 0 and out.max() < hi
    assert m.bit_length() >= 64


def test_from_bytes_refuses_non_messages():
    for data, what in ((b"", "4-byte"), (b"\x01" * 7, "4-byte"), (b"\x00" * 10, "4-byte"),
                       (b"\xff" * 4 + b"\x00" * 4, "head")):
        with pytest.raises(ValueError, match=what):
            Message.from_bytes(data)


def _unchanged(fn):
    m = Message(1)
    m.push_uniform(np.arange(30), 100)
    before = m.to_bytes()
    with pytest.raises(ValueError) as e:
        fn(m)
    assert m.to_bytes() == before
    return str(e.value)


U32 = np.uint32


@pytest.mark.parametrize("call, needle", [
    (lambda m: m.push_categorical([0, 1], np.array([0, 4], U32), 2), "zero"),
    (lambda m: m.push_categorical([0, 1], np.array([1, 2], U32), 2), "sum to 3"),
    (lambda m: m.push_categorical([0, 5, 1], np.array([1, 3], U32), 2), "symbol 5 at index 1"),
    (lambda m: m.push_categorical([0, -1], np.array([1, 3], U32), 2), "symbol -1"),
    (lambda m: m.push_categorical([0], np.array([1, 3], U32), 0), "precision 0"),
    (lambda m: m.push_categorical([0], np.array([1, 3], U32), 32), "precision 32"),
    (lambda m: m.push_categorical([0], np.array([1, 3], U32), 2.0), "precision must be an int"),
    (lambda m: m.push_categorical([0], np.ones((2, 2), U32) * 2, 2), "table_idx"),
    (lambda m: m.push_categorical([0, 1], np.ones((2, 2), U32) * 2, 2, [0]), "2 symbols"),
    (lambda m: m.push_categorical([0, 1], np.ones((2, 2), U32) * 2, 2, [0, 2]), "table index 2"),
    (lambda m: m.push_categorical([0], np.ones((2, 2, 2), U32), 2), "shape"),
    (lambda m: m.push_categorical([0], np.array([1.0, 3.0]), 2), "integers"),
    (lambda m: m.push_categorical([0.5], np.array([1, 3], U32), 2), "integers"),
    (lambda m: m.push_categorical([0], np.ones(5, np.uint32), 2), "5 symbols"),
    (lambda m: m.push_uniform([0, 7], 7), "symbol 7"),
    (lambda m: m.push_uniform([0], 0), "nbins"),
    (lambda m: m.push_uniform([0], 2**31 + 1), "nbins"),
    (lambda m: m.push_logistic([0, 256], 0, 0, 256, 16), "symbol 256"),
    (lambda m: m.push_logistic([0, 1], 0, [0, 256], 256, 16), "scale_idx 256"),
    (lambda m: m.push_logistic([0, 1], [0, 1, 2], 0, 256, 16), "loc has 3"),
    (lambda m: m.push_logistic([0], 2**31, 0, 256, 16), "int32"),
    (lambda m: m.push_logistic([0], 0, 0, 256, 7), "256 bins"),
    (lambda m: m.push_logistic([0], 0, 0, 2**16 + 1, 24), "nbins"),
    (lambda m: m.pop_logistic(2, 0, [3, -1], 256, 16), "scale_idx -1"),
    (lambda m: m.pop_uniform(-1, 10), "count"),
    (lambda m: m.pop_categorical(1, np.array([1, 3], U32), 3), "sum to 4"),
    (lambda m: m.pop_categorical(2, np.ones((2, 2), U32) * 2, 2, [0, 5]), "table index 5"),
])
def test_bad_arguments_raise_clear_value_errors(call, needle):
    assert needle in _unchanged(call)


def test_bad_seed():
    for seed in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            Message(seed)
