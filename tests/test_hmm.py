"""The integer HMM filter and the IconoCLaSM coder (archiver/models/_hmm.pyx, hmm_core.c)."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.models import hmm_reference as ref
from archiver.models.hmm import HmmTables, ModelFormatError
from archiver.models.hmm_params import random_tables
from archiver.models.hmm_stats import information_content, sample
from archiver.models._hmm import HmmCoder, message_is_initial
from cython_ans import Message

SPARSE = random_tables(24, 5, seed=3, concentration=0.5)
DENSE = random_tables(12, 12, seed=4)
TEXTY = random_tables(32, 8, seed=5, n_symbols=96, concentration=0.3)
SIXTEEN = random_tables(16, 16, seed=6, concentration=0.5)     # variant 4's shape: its own kernel


def roundtrip(tables, data: bytes, seed: int = 0, orders=(), weights=(), **kw) -> bytes:
    coder = HmmCoder(tables, orders, weights, **kw)
    msg = Message(seed=seed)
    coder.encode(data, msg)
    payload = msg.to_bytes()
    back = Message.from_bytes(payload, seed=seed)
    out = coder.decode(back, len(data))
    assert message_is_initial(back), "decoder did not return the initial bits exactly"
    return out, payload, msg


@pytest.mark.parametrize("tables", [SPARSE, DENSE, TEXTY, SIXTEEN],
                         ids=["sparse", "dense", "texty", "k16"])
def test_c_filter_matches_python_integer_reference(tables):
    rng = np.random.default_rng(1)
    data = bytes(range(256)) + rng.integers(0, 256, 200, dtype=np.uint8).tobytes() + b"a" * 100
    got = HmmCoder(tables).filter(data)
    want = np.array(ref.filter_all(tables, data), dtype=np.uint32)
    np.testing.assert_array_equal(got, want)
    assert (got.max(1) >= 1 << 15).all() and (got.max(1) < 1 << 16).all()


@pytest.mark.parametrize("tables", [SPARSE, TEXTY], ids=["sparse", "texty"])
def test_adaptive_filter_matches_python_integer_reference(tables):
    rng = np.random.default_rng(4)
    data = (b"abcabcabd" * 30 + bytes(range(256)) +
            rng.integers(0, 4, 300, dtype=np.uint8).tobytes() + b"z" * 200)
    orders, weights = (1, 3), (1000, 65536 * 4)
    got = HmmCoder(tables, orders, weights).filter(data)
    want = np.array(ref.filter_all_adaptive(tables, data, orders, weights), dtype=np.uint32)
    np.testing.assert_array_equal(got, want)


MATCH = tuple(0 if n < 4 else 40 * n for n in range(20))
BLEND = dict(match_min=4, match_weights=MATCH, match_rweights=MATCH[::-1],
             blend=((2, 0, 7), (16, 3, 1)))


@pytest.mark.parametrize("tables", [SPARSE, TEXTY], ids=["sparse", "texty"])
@pytest.mark.parametrize("kw", [
    dict(orders=(1, 3), weights=(1000, 65536 * 4), match_min=4, match_weights=MATCH),
    dict(orders=(1, 3), weights=(1000, 65536 * 4), match_min=3, match_weights=MATCH[:9],
         match_rweights=tuple(range(9))),
    dict(orders=(1, 2, 5), weights=(1, 1, 1), blend=((2, 0, 7), (16, 3, 1))),
    dict(orders=(1, 2, 5), weights=(1, 1, 1), blend=((2, 0, 7), (16, 3, 1), (1, 60000, 9))),
    dict(orders=(1, 2, 5), weights=(1, 1, 1), **BLEND),
    dict(orders=(2, 3, 4, 6), weights=(1,) * 4, match_min=6,
         match_weights=(0,) * 6 + (2**24 - 1,) * 26, blend=((1,) * 4, (65535,) * 4)),
], ids=["additive-match", "additive-recover", "blend", "blend-betad", "blend-match",
        "blend-extreme"])
def test_match_and_blend_filter_matches_python_integer_reference(tables, kw):
    """Variant 2's emission terms (hmm_core.c blend, hmm_match_core.c) against the twin written
    from the spec, on text with repeats long and short, runs and all byte values."""
    rng = np.random.default_rng(6)
    data = (b"the cat sat on the mat; " * 6 + b"abcabcabd" * 20 + bytes(range(256)) +
            rng.integers(0, 4, 300, dtype=np.uint8).tobytes() + b"z" * 150 +
            b"def f(x):\n    return x + 1\n" * 4)
    got = HmmCoder(tables, **kw).filter(data)
    want = np.array(ref.filter_all_adaptive(tables, data, **kw), dtype=np.uint32)
    np.testing.assert_array_equal(got, want)


def test_match_model_predicts_repeats():
    """The twin of the match model finds the latest earlier occurrence and follows it."""
    data = b"abcdefgh-abcdefgh-abcdXfgh"
    mm = ref.MatchModel(4, tuple(range(32)), len(data))
    preds = [mm.next(data, t) for t in range(len(data))]
    assert preds[13] == (ord("e"), 4)                   # after "abcd" again: predicts "e"
    assert preds[17] == (ord("-"), 8)                   # length counted back, then grown
    assert preds[22] == (ord("e"), 13)                  # the miss at "X" is still predicted
    assert preds[23][0] == -1                           # after the miss: "bcdX" is new
    rec = ref.MatchModel(4, tuple(range(32)), len(data), rweights=tuple(range(100, 132)))
    preds = [rec.next(data, t) for t in range(len(data))]
    assert preds[22] == (ord("e"), 13)
    assert preds[23] == (ord("f"), 100)                 # recovering: the same offset goes on
    assert preds[25] == (ord("h"), 102)


def test_match_recovery_ends_after_two_misses_in_a_row():
    data = b"0123456789-0123456789-01XY"
    rec = ref.MatchModel(4, tuple(range(32)), len(data), rweights=tuple(range(100, 132)))
    preds = [rec.next(data, t) for t in range(len(data))]
    assert preds[24] == (ord("2"), 13)                  # "3456789-01" grew the match found at 15
    assert preds[25] == (ord("3"), 100)                 # after "X": recovering
    data += b"Z"
    rec = ref.MatchModel(4, tuple(range(32)), len(data), rweights=tuple(range(100, 132)))
    assert [rec.next(data, t) for t in range(len(data))][26] == (-1, 0)   # "Y" missed too


@pytest.mark.parametrize("data", [
    b"", b"x", b"\x00", bytes(range(256)) * 3, b"\x00" * 5000, b"e" * 3000 + b"\xff" * 3000,
    np.random.default_rng(7).integers(0, 256, 20000, dtype=np.uint8).tobytes(),
    "Unicode text: naïve café, Ελληνικά, 日本語.\r\n\tTabs and CRLF.".encode() * 40,
], ids=["empty", "one", "nul", "all-bytes", "nul-run", "runs", "noise", "utf8"])
@pytest.mark.parametrize("tables", [SPARSE, TEXTY], ids=["sparse", "texty"])
@pytest.mark.parametrize("ctx", [((), (), {}), ((3, 5), (32768, 65536), {}),
                                 ((1, 2, 7), (1, 99, 2**20 - 1), {}),
                                 ((1, 2, 5), (1, 1, 1), BLEND)],
                         ids=["plain", "adaptive", "adaptive-extreme", "blend-match"])
def test_roundtrip_edge_cases(tables, data, ctx):
    out, payload, msg = roundtrip(tables, data, 0, *ctx[:2], **ctx[2])
    assert out == data
    assert msg.initial_bits_drawn <= 64     # O(1) initial bits, whatever the length


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 2**32))
def test_roundtrip_hypothesis(data, seed):
    out, _, _ = roundtrip(DENSE, data, seed=seed)
    assert out == data
    out, _, _ = roundtrip(SPARSE, data, seed, (2, 4), (4096, 65536))
    assert out == data
    out, _, _ = roundtrip(SPARSE, data + data[: len(data) // 2], seed, (1, 2, 5), (1, 1, 1),
                          **BLEND)
    assert out == data + data[: len(data) // 2]


def test_bad_context_arguments():
    for orders, weights in (((0,), (1,)), ((8,), (1,)), ((3,), (0,)), ((3,), (1 << 20,)),
                            ((3, 4), (1,)), ((1, 2, 3, 4, 5, 6, 7), (1,) * 7)):
        with pytest.raises(ValueError):
            HmmCoder(TEXTY, orders, weights)
    for kw in (dict(match_min=1, match_weights=(1,) * 8),
               dict(match_min=9, match_weights=(1,) * 16),
               dict(match_min=4, match_weights=(1,) * 4),
               dict(match_min=4, match_weights=(1,) * 65),
               dict(match_min=4, match_weights=(1 << 24,) * 8),
               dict(match_min=4, match_weights=(1,) * 8, match_rweights=(1,) * 7),
               dict(blend=((1,), (1,))), dict(blend=((0, 1), (0, 1))),
               dict(blend=((1 << 16, 1), (1, 1))), dict(blend=((1, 1, 1), (1, 1, 1))),
               dict(blend=((1, 1), (1, 1), (0, 1))),
               dict(blend=((1, 1), (1, 1), (1, (1 << 17) + 1)))):
        with pytest.raises(ValueError):
            HmmCoder(TEXTY, (2, 3), (1, 1), **kw)
    with pytest.raises(ValueError, match="blend needs context orders"):
        HmmCoder(TEXTY, blend=((1,), (1,)))


def test_message_length_tends_to_information_content():
    data = sample(TEXTY, 6000, seed=11)
    _, payload, _ = roundtrip(TEXTY, data)
    h = information_content(TEXTY, data)
    ratio = len(payload) * 8 / h
    assert 0.99 < ratio < 1.03, ratio


def test_adaptive_message_length_tends_to_information_content():
    orders, weights = (1, 3), (8192, 65536)
    data = sample(TEXTY, 4000, seed=12)
    data = data[:2000] * 2                     # a repeat for the context counts to learn
    _, payload, _ = roundtrip(TEXTY, data, 0, orders, weights)
    h = information_content(TEXTY, data, orders, weights)
    assert h < 0.8 * information_content(TEXTY, data)
    assert 0.99 < len(payload) * 8 / h < 1.03


def test_blend_message_length_tends_to_information_content():
    """Variant 2 is coded exactly by IconoCLaSM too: the message is h(x) plus O(1) bits."""
    data = sample(TEXTY, 3000, seed=13)
    data = data[:1500] + data[:700] + data[1500:]       # repeats for the counts and the match
    kw = dict(orders=(1, 2, 5), weights=(1, 1, 1), **BLEND)
    _, payload, _ = roundtrip(TEXTY, data, 0, **kw)
    h = information_content(TEXTY, data, **kw)
    assert h < 0.9 * information_content(TEXTY, data)
    assert 0.99 < len(payload) * 8 / h < 1.03


@pytest.mark.parametrize("kw", [{}, dict(orders=(1, 2, 5), weights=(1, 1, 1), **BLEND)],
                         ids=["plain", "blend-match"])
def test_garbage_payload_decodes_without_crash_and_is_detected(kw):
    coder = HmmCoder(TEXTY, **kw)
    rng = np.random.default_rng(2)
    decoded = flagged = 0
    for trial in range(20):
        junk = rng.integers(0, 256, 4 * int(rng.integers(2, 80)), dtype=np.uint8).tobytes()
        try:
            msg = Message.from_bytes(junk, seed=0)
        except ValueError:
            continue
        out = coder.decode(msg, 500)
        assert len(out) == 500
        decoded += 1
        flagged += not message_is_initial(msg)
    assert decoded >= 10 and flagged == decoded


def test_corrupt_payload_is_detected():
    data = b"The quick brown fox jumps over the lazy dog. " * 30
    _, payload, _ = roundtrip(TEXTY, data)
    bad = bytearray(payload)
    bad[len(bad) // 2] ^= 0x10
    msg = Message.from_bytes(bytes(bad), seed=0)
    out = HmmCoder(TEXTY).decode(msg, len(data))
    assert out != data or not message_is_initial(msg)


def test_tables_must_be_leaky_and_normalised():
    t = TEXTY
    e = t.e_freq.copy()
    e[0, 0] += e[0, 1] - 1
    e[0, 1] = 0
    with pytest.raises(ModelFormatError, match="zero frequency"):
        HmmTables(pi=t.pi, succ=t.succ, a_freq=t.a_freq, e_freq=e)
    a = t.a_freq.copy()
    a[3, 0] += 1
    with pytest.raises(ModelFormatError, match="sum to"):
        HmmTables(pi=t.pi, succ=t.succ, a_freq=a, e_freq=t.e_freq)


def test_save_load_roundtrip(tmp_path):
    TEXTY.save(tmp_path / "m.npz")
    back = HmmTables.load(tmp_path / "m.npz")
    for name in ("pi", "succ", "a_freq", "e_freq"):
        np.testing.assert_array_equal(getattr(back, name), getattr(TEXTY, name))


@pytest.mark.skipif(not os.environ.get("BBX_SLOW_TESTS"), reason="set BBX_SLOW_TESTS=1")
def test_ten_megabytes_roundtrip():
    rng = np.random.default_rng(9)
    words = [bytes(rng.integers(97, 123, int(rng.integers(1, 9)), dtype=np.uint8))
             for _ in range(500)]
    data = b" ".join(words[i] for i in rng.integers(0, 500, 2_000_000))[:10 << 20]
    data += bytes(range(256))
    for ctx in (((), (), {}), ((3, 5), (32768, 65536), {}), ((1, 2, 5), (1, 1, 1), BLEND)):
        out, payload, msg = roundtrip(TEXTY, data, 0, *ctx[:2], **ctx[2])
        assert out == data
        assert msg.initial_bits_drawn <= 64
