"""Threads give the same words as one thread (the C loops release the GIL); a long fuzz of
mixed operations against the reference runs with BBX_SLOW_TESTS=1."""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.entropy import quantize_freqs
from cython_ans import Message
from cython_ans.reference import Message as RefMessage

slow = pytest.mark.skipif(os.environ.get("BBX_SLOW_TESTS") != "1",
                          reason="set BBX_SLOW_TESTS=1")


def _code(seed):
    rng = np.random.default_rng(seed)
    n = 200_000
    loc = rng.integers(0, 256 * 256, n).astype(np.int32)
    j = rng.integers(0, 128, n)
    x = rng.integers(0, 256, n)
    freqs = quantize_freqs(rng.integers(1, 2**30, 256).astype(np.uint64), 20)
    m = Message(seed)
    m.push_logistic(x, loc, j, 256, 16)
    m.push_categorical(x, freqs, 20)
    m.push_uniform(x, 300)
    data = m.to_bytes()
    d = Message.from_bytes(data, seed)
    ok = (np.array_equal(d.pop_uniform(n, 300), x) and
          np.array_equal(d.pop_categorical(n, freqs, 20), x) and
          np.array_equal(d.pop_logistic(n, loc, j, 256, 16), x) and d.is_initial())
    return data, ok


def test_threads_produce_the_same_words():
    seeds = [1, 2, 3, 4]
    alone = [_code(s) for s in seeds]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(_code, seeds))
    assert all(ok for _, ok in alone)
    assert threaded == alone


OPS = st.lists(st.tuples(st.sampled_from(["cat", "uni", "log"]), st.booleans(),
                         st.integers(0, 300), st.integers(0, 2**32 - 1)), max_size=12)


def _apply(M, ops, seed):
    m, popped = M(seed), []
    for family, push, count, s in ops:
        rng = np.random.default_rng(s)
        if family == "cat":
            p = int(rng.integers(8, 32))
            n = int(rng.integers(1, 300))
            f = quantize_freqs(rng.integers(0, 2**36, n).astype(np.uint64) + 1, p)
            args = (f, p)
            size = n
        elif family == "uni":
            size = int(rng.integers(1, 2**31))
            args = (size,)
        else:
            size = int(rng.choice([256, 1024, 7]))
            args = (rng.integers(-2**20, 2**20, count).astype(np.int32),
                    rng.integers(0, 128, count), size, int(rng.integers(13, 32)))
        if push:
            getattr(m, f"push_{dict(cat='categorical', uni='uniform', log='logistic')[family]}")(
                rng.integers(0, size, count), *args)
        else:
            popped.append(getattr(m, "pop_" + dict(cat="categorical", uni="uniform",
                                                   log="logistic")[family])(count, *args).tolist())
    return m.to_bytes(), m.initial_bits_drawn, popped


@slow
@given(OPS, st.integers(0, 2**64 - 1))
@settings(max_examples=400, deadline=None)
def test_fuzz_mixed_operations_match_reference(ops, seed):
    assert _apply(Message, ops, seed) == _apply(RefMessage, ops, seed)


@slow
@given(st.binary(min_size=8, max_size=20000), st.integers(0, 2**32 - 1))
@settings(max_examples=300, deadline=None)
def test_fuzz_garbage_decoding_matches_reference(data, seed):
    data = data[:len(data) // 4 * 4]
    try:
        c = Message.from_bytes(data, seed)
    except ValueError:
        with pytest.raises(ValueError):
            RefMessage.from_bytes(data, seed)
        return
    r = RefMessage.from_bytes(data, seed)
    rng = np.random.default_rng(seed)
    f = quantize_freqs(rng.integers(0, 2**20, 50).astype(np.uint64) + 1, 24)
    loc = rng.integers(-2**31, 2**31, 200).astype(np.int32)
    j = rng.integers(0, 128, 200)
    outs = [(m.pop_categorical(200, f, 24).tolist(),
             m.pop_logistic(200, loc, j, 1024, 20).tolist(),
             m.pop_uniform(200, 12345).tolist(), m.to_bytes(), m.initial_bits_drawn)
            for m in (c, r)]
    assert outs[0] == outs[1]
