"""Codec 0x10 (archiver/codecs/text.py) with the shipped weights."""
import numpy as np
import pytest
import zstandard

from archiver.codecs import registry
from archiver.codecs import text
from archiver.codecs.text import TEXT
from archiver.container.router import looks_like_text
from archiver.errors import CorruptChunk
from archiver.models.weights import read_manifest

PROSE = (b"It was a bright cold day in the village, and the letters had come at last. She read "
         b"them twice over by the window, and then, folding them with great care, went down to "
         b"tell her sister that their cousin would arrive on Thursday, with his wife and the two "
         b"children, and that they meant to stay for the whole of the summer. Nothing could "
         b"have pleased her mother more; nothing could have vexed her father so much.\n"
         b"The house was not large. There were four bedrooms above, a parlour that nobody used "
         b"except at Christmas, and a kitchen where everybody sat from morning until night. Her "
         b"father declared that he would sleep in the barn rather than give up his study, and "
         b"her mother answered, quite calmly, that the barn was very comfortable in July.\n"
         b"By Wednesday evening the beds were aired, the garden was weeded, and a cake of "
         b"alarming size stood under a cloth in the larder, waiting for the travellers.\n")


def test_registered_and_hash_is_the_manifests():
    assert registry.get(0x10) is TEXT
    manifest = read_manifest()
    # variant 2 (small inputs) codes with the K = 256 tables, variant 4 with the K = 16 ones
    assert TEXT.model_hashes() == (manifest["text-hmm.npz"], manifest["text-hmm16.npz"])
    assert set(TEXT.decodable_hashes()) == {manifest["text-hmm.npz"], manifest["text-hmm16.npz"]}


@pytest.mark.parametrize("sample,want", [
    (PROSE, True), ("Grüße, naïve café — 日本語\n".encode(), True),
    ("caf\xe9 au lait, na\xefve\n".encode("latin-1") * 10, True),
    ("ü".encode()[:1], True),                       # a character cut at the end of the sample
    (bytes(range(256)) * 4, False), (b"\x00\x01\x02\x03" * 100, False), (b"", False),
])
def test_accepts_by_content(sample, want):
    assert looks_like_text(sample) is want
    assert TEXT.accepts(sample, "no-extension") is want


@pytest.mark.parametrize("data", [
    b"", b"a", bytes(range(256)), b"\n" * 10000, PROSE + bytes(range(256)) + PROSE,
    np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
], ids=["empty", "one", "all-bytes", "run", "mixed", "noise"])
def test_roundtrip(data):
    payload = TEXT.encode(data, 19)
    assert TEXT.decode(payload, len(data)) == data


@pytest.mark.parametrize("variant", [text.PLAIN, text.ADAPTIVE, text.BLEND])
def test_both_variants_and_two_segments_roundtrip(monkeypatch, variant):
    monkeypatch.setattr(text, "SEGMENT_MIN", 700)
    coder = TEXT._model()[0][variant]
    data = PROSE + bytes(range(256)) + PROSE[::-1]
    payload = TEXT._encode_variant(coder, variant, data)
    assert payload[0] == variant | 0x10
    assert TEXT.decode(payload, len(data)) == data
    with pytest.raises(CorruptChunk, match="segment sizes"):
        TEXT.decode(payload + b"\x00" * 4, len(data))
    with pytest.raises(CorruptChunk, match="segments hold"):
        TEXT.decode(payload, len(data) + 1)
    with pytest.raises(CorruptChunk):                     # second segment damaged
        bad = bytearray(payload)
        bad[-6] ^= 0x20
        TEXT.decode(bytes(bad), len(data))


def test_adaptive_variants_learn_repetition():
    coders = TEXT._model()[0]
    data = PROSE * 4
    plain = TEXT._encode_variant(coders[text.PLAIN], text.PLAIN, data)
    adaptive = TEXT._encode_variant(coders[text.ADAPTIVE], text.ADAPTIVE, data)
    blend = TEXT._encode_variant(coders[text.BLEND], text.BLEND, data)
    assert len(adaptive) < 0.5 * len(plain)
    assert len(blend) < 0.85 * len(adaptive)              # the match model follows the repeats
    mixed = TEXT._encode_variant(coders[text.MIXED], text.MIXED, data)
    assert len(mixed) < len(adaptive)
    small = TEXT._encode_variant(coders[text.MIXED_SMALL], text.MIXED_SMALL, data)
    assert len(small) < len(adaptive)
    assert TEXT.encode(data, 19) == min(blend, small, key=len)   # small: the smaller is kept


CODE = b"".join(
    b"def handle_%s(request, response):\n"
    b"    value = request.params.get(%r, None)\n"
    b"    if value is None:\n"
    b"        raise ValueError('missing parameter: %s')\n"
    b"    response.write(str(value))\n    return response\n\n" % (name, name, name)
    for name in (b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta", b"eta", b"theta"))


@pytest.mark.parametrize("data", [b"", b"a", bytes(range(256)), bytes(range(256)) * 3, CODE,
                                  b"ab" * 3000 + b"abX" + b"ab" * 50],
                         ids=["empty", "one", "all-bytes", "all-bytes-repeated", "code", "runs"])
@pytest.mark.parametrize("variant", [text.BLEND, text.MIXED, text.MIXED_SMALL])
def test_variants_2_to_4_roundtrip_edge_cases(data, variant):
    coder = TEXT._model()[0][variant]
    payload = TEXT._encode_variant(coder, variant, data)
    assert payload[0] == variant
    assert TEXT.decode(payload, len(data)) == data


def test_repetitive_code_roundtrips_and_beats_zstd():
    payload = TEXT.encode(CODE, 19)
    assert payload[0] & 15 in (text.BLEND, text.MIXED_SMALL)
    assert TEXT.decode(payload, len(CODE)) == CODE
    zstd = zstandard.ZstdCompressor(level=19).compress(CODE)
    adaptive = TEXT._encode_variant(TEXT._model()[0][text.ADAPTIVE], text.ADAPTIVE, CODE)
    assert len(payload) < len(adaptive) and len(payload) < 0.85 * len(zstd), (
        len(payload), len(adaptive), len(zstd))


def test_beats_zstd_on_small_prose():
    payload = TEXT.encode(PROSE[:1024], 19)
    zstd = zstandard.ZstdCompressor(level=19).compress(PROSE[:1024])
    assert len(payload) < 0.85 * len(zstd), (len(payload), len(zstd))


def test_damage_is_reported():
    payload = TEXT.encode(PROSE, 19)
    with pytest.raises(CorruptChunk, match="empty"):
        TEXT.decode(b"", len(PROSE))
    with pytest.raises(CorruptChunk, match="unknown variant"):
        TEXT.decode(b"\x07" + payload[1:], len(PROSE))
    with pytest.raises(CorruptChunk, match="segment table"):    # variant 2: at most 2
        TEXT.decode(bytes([text.BLEND | 0x20]) + payload[1:], len(PROSE))
    with pytest.raises(CorruptChunk, match="segment table"):
        TEXT.decode(bytes([payload[0] | 0xF0]) + payload[1:], len(PROSE))
    with pytest.raises(CorruptChunk, match="segment table"):
        TEXT.decode(bytes([payload[0] | 0x10]) + payload[1:20], len(PROSE))
    with pytest.raises(CorruptChunk):
        TEXT.decode(payload[:-3], len(PROSE))
    caught = 0
    for pos in range(1, len(payload), max(1, len(payload) // 40)):
        bad = bytearray(payload)
        bad[pos] ^= 0x04
        try:
            out = TEXT.decode(bytes(bad), len(PROSE))
        except CorruptChunk:
            caught += 1
            continue
        assert out != PROSE or bytes(bad) == payload
    assert caught >= 35


def test_wrong_size_is_reported():
    payload = TEXT.encode(PROSE, 19)
    for size in (len(PROSE) - 1, len(PROSE) + 1):
        with pytest.raises(CorruptChunk):
            TEXT.decode(payload, size)


def test_threaded_segments_equal_sequential_coding(monkeypatch):
    """The two segments coded on two threads give the bytes of coding each segment alone, one
    after the other (no shared state between threads)."""
    from cython_ans import Message
    monkeypatch.setattr(text, "SEGMENT_MIN", 500)
    monkeypatch.setattr(text, "THREADS", 2)
    coder = TEXT._model()[0][text.BLEND]
    data = PROSE * 2
    half = len(data) // 2
    messages = []
    for piece in (data[:half], data[half:]):
        msg = Message(seed=text.SEED)
        coder.encode(piece, msg)
        messages.append(msg.to_bytes())
    want = (bytes([text.BLEND | 0x10]) + text.SEGMENT.pack(half, len(messages[0])) +
            text.SEGMENT.pack(len(data) - half, len(messages[1])) + b"".join(messages))
    assert TEXT._encode_variant(coder, text.BLEND, data) == want


@pytest.mark.parametrize("variant", [text.MIXED, text.MIXED_SMALL])
def test_variant_3_and_4_segments_roundtrip_and_damage_is_reported(monkeypatch, variant):
    monkeypatch.setattr(text, "SEGMENT_MAX", 700)
    data = PROSE + bytes(range(256)) + PROSE[::-1]
    payload = TEXT._encode_variant(TEXT._model()[0][variant], variant, data)
    n = -(-len(data) // 700)
    assert payload[0] == variant | (n - 1) << 4
    assert TEXT.decode(payload, len(data)) == data
    with pytest.raises(CorruptChunk, match="segments hold"):
        TEXT.decode(payload, len(data) + 1)
    bad = bytearray(payload)
    bad[-6] ^= 0x20                                       # last segment damaged
    with pytest.raises(CorruptChunk):
        TEXT.decode(bytes(bad), len(data))


@pytest.mark.parametrize("threads", [1, 2])
def test_threaded_variant_3_segments_equal_sequential_coding(monkeypatch, threads):
    from cython_ans import Message
    monkeypatch.setattr(text, "SEGMENT_MAX", 400)
    monkeypatch.setattr(text, "THREADS", threads)
    coder = TEXT._model()[0][text.MIXED]
    data = PROSE * 2
    n = -(-len(data) // 400)
    cuts = [len(data) * k // n for k in range(n + 1)]
    messages = []
    for k in range(n):
        msg = Message(seed=text.SEED)
        coder.encode(data[cuts[k]:cuts[k + 1]], msg)
        messages.append(msg.to_bytes())
    want = (bytes([text.MIXED | (n - 1) << 4]) +
            b"".join(text.SEGMENT.pack(cuts[k + 1] - cuts[k], len(messages[k]))
                     for k in range(n)) + b"".join(messages))
    assert TEXT._encode_variant(coder, text.MIXED, data) == want


@pytest.mark.parametrize("size", [70000, 40000])       # variant 4 alone; variants 2 and 4
def test_progress_counts_every_byte_once(size):
    data = (PROSE * 60)[:size]                            # more than one poll of the coder
    seen = []
    payload = TEXT.encode(data, 19, progress=seen.append)
    assert sum(seen) == len(data) and len(seen) >= 3
    seen.clear()
    assert TEXT.decode(payload, len(data), progress=seen.append) == data
    assert sum(seen) == len(data) and len(seen) >= 2


@pytest.mark.parametrize("variant", [text.BLEND, text.MIXED, text.MIXED_SMALL])
def test_ctrl_c_stops_the_coder(variant):
    """SIGINT raised while the coder runs (here from its own progress callback, so the test does
    not depend on timing) stops it at its next check with KeyboardInterrupt."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)   # whatever ran before
    try:
        _ctrl_c_stops_the_coder(variant)
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_stops_the_coder(variant):
    import signal
    coder = TEXT._model()[0][variant]
    data = (PROSE * 200)[:200000]
    calls = []

    def interrupt(n):
        calls.append(n)
        signal.raise_signal(signal.SIGINT)

    from cython_ans import Message
    with pytest.raises(KeyboardInterrupt):
        coder.encode(data, Message(seed=text.SEED), interrupt)
    assert len(calls) == 1 and calls[0] < len(data)
    payload = TEXT._encode_variant(coder, variant, data)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        TEXT.decode(payload, len(data), progress=interrupt)
    assert len(calls) == 1


def test_cancelled_ticker_stops_a_segment():
    from cython_ans import Message
    ticker = text._Ticker(None, 70000, 70000)
    ticker.cancelled = True
    coder = TEXT._model()[0][text.MIXED_SMALL]
    with pytest.raises(text.Cancelled):
        coder.encode((PROSE * 50)[:70000], Message(seed=text.SEED), ticker)
