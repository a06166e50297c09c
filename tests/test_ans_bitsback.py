"""Bits-back accounting: pops past the end draw counted initial bits, and a decoder that
undoes everything ends with exactly those bits (Message.is_initial)."""
import numpy as np

from archiver.entropy import logistic_codelength, quantize_freqs
from cython_ans import Message
from cython_ans.reference import Message as RefMessage
from cython_ans.reference import source_word


def bits_back_encode(data, seed, loc_of, freqs):
    """Toy bits-back: latent z ~ uniform(16) popped, data pushed under a logistic at loc(z),
    then z pushed under the prior."""
    m = Message(seed)
    for x in data:
        z = m.pop_categorical(1, freqs, 12)
        m.push_logistic([x], loc_of(z), 30, 256, 16)
        m.push_categorical(z, freqs, 12)
    return m


def test_bits_back_round_trip_returns_initial_bits():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 300)
    freqs = quantize_freqs(np.ones(16, np.uint64), 12)
    loc_of = lambda z: (z * 16 * 256).astype(np.int32)  # noqa: E731
    enc = bits_back_encode(data, 42, loc_of, freqs)
    drawn = enc.initial_bits_drawn
    assert drawn > 0 and drawn % 32 == 0
    dec = Message.from_bytes(enc.to_bytes(), seed=42)
    out = []
    for _ in range(len(data)):
        z = dec.pop_categorical(1, freqs, 12)
        out.append(int(dec.pop_logistic(1, loc_of(z), 30, 256, 16)[0]))
        dec.push_categorical(z, freqs, 12)
    assert out[::-1] == data.tolist()
    assert dec.initial_bits_drawn == 0
    assert dec.is_initial()
    assert dec.bit_length() == 64 + drawn      # exactly the drawn words came back
    assert not Message.from_bytes(dec.to_bytes(), seed=43).is_initial()


def test_popping_from_empty_counts_words_and_pushing_back_restores():
    m = Message(seed=5)
    symbols = m.pop_uniform(50, 2**20)
    # 1000 bits of symbols came out; the head keeps 32..64 bits of drawn ones unused
    assert 1000 <= m.initial_bits_drawn <= 1000 + 64
    m.push_uniform(symbols, 2**20)
    assert m.is_initial()
    assert m.bit_length() == 64 + m.initial_bits_drawn
    words = np.frombuffer(m.to_bytes(), "<u4")[:-2][::-1]
    assert words.tolist() == [source_word(5, i) for i in range(len(words))]


def test_initial_bits_are_counted_identically_by_reference():
    a, b = Message(2**64 - 1), RefMessage(2**64 - 1)
    a.pop_logistic(40, 128 * 256, 100, 256, 16)
    b.pop_logistic(40, 128 * 256, 100, 256, 16)
    assert a.initial_bits_drawn == b.initial_bits_drawn > 0


def test_information_content_matches_growth():
    """A long message costs its information content + <= 1e-4 bits/symbol + 64 + 32 bits."""
    rng = np.random.default_rng(3)
    n = 200_000
    loc = rng.integers(0, 256 * 256, n).astype(np.int32)
    j = rng.integers(0, 128, n)
    mu, s = loc / 256, 2.0 ** (-4 + j / 8)
    u = rng.uniform(1e-9, 1 - 1e-9, n)
    symbols = np.clip(np.rint(mu + s * np.log(u / (1 - u))), 0, 255).astype(np.int64)
    for precision in (16, 24):
        m = Message()
        m.push_logistic(symbols, loc, j, 256, precision)
        info = logistic_codelength(symbols, loc, j, 256, precision)
        assert m.bit_length() <= info + 1e-4 * n + 64 + 32
        assert m.bit_length() >= info - 32        # the head absorbs at most 32 bits
