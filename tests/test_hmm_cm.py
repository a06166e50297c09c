"""The context-mixing byte model of payload variants 3 and 4 (archiver/models/hmm_cm_core.c)
against its Python transcription, and their handling of foreign payloads."""
import numpy as np
import pytest

from archiver.codecs import text
from archiver.codecs.text import TEXT
from archiver.errors import CorruptChunk
from archiver.models import hmm_cm_reference as ref

MIXED_KINDS = (
    b"The quick brown fox jumps over the lazy dog. The quick brown fox jumps again!\n"
    b"0041;LATIN CAPITAL LETTER A;Lu;0;L;;;;;N;;;;0061;\n"
    b"0042;LATIN CAPITAL LETTER B;Lu;0;L;;;;;N;;;;0062;\n"
    b"0043;LATIN CAPITAL LETTER C;Lu;0;L;;;;;N;;;;0063;\n"
    b"static int parse(const char *s) {\n    if (!s) return -1;\n    return atoi(s);\n}\n"
    b'{"name": "alpha", "size": 12, "tags": ["a", "b"]},\n'
    b'{"name": "beta", "size": 7, "tags": ["c"]},\n' + bytes(range(0, 256, 3)) +
    b"The quick brown fox jumps over the lazy dog. The quick brown fox jumps again!\n")


@pytest.mark.parametrize("data", [b"", b"x", MIXED_KINDS, MIXED_KINDS[::-1] + b"\n" * 40])
def test_c_model_matches_python_transcription(data):
    qc, q = TEXT._model()[0][text.MIXED].cm_masses(data)
    want = ref.masses(data)
    assert [(int(a), int(b)) for a, b in zip(qc, q)] == want


def test_reused_tables_give_the_same_numbers():
    """A new model refills the tables of the last one freed, which may be larger: its numbers
    must not depend on what was coded before (here a 200 KB input, then a small one)."""
    coder = TEXT._model()[0][text.MIXED_SMALL]
    coder.cm_masses(MIXED_KINDS * 400)
    qc, q = coder.cm_masses(MIXED_KINDS)
    assert [(int(a), int(b)) for a, b in zip(qc, q)] == ref.masses(MIXED_KINDS)


def test_masses_stay_inside_the_unit_interval():
    qc, q = TEXT._model()[0][text.MIXED].cm_masses(MIXED_KINDS * 3)
    assert np.all(q > 0) and np.all(qc.astype(object) + q.astype(object) <= 1 << 32)
    assert float(np.mean(32 - np.log2(q[len(MIXED_KINDS):].astype(float)))) < 3.0   # learns


def test_cumulative_frequencies_are_leaky_and_exact():
    """C(b) rises by at least 1 per byte and C(256) = 2^24, for extreme mixing weights."""
    e = np.cumsum([0] + [256] * 256)
    for lam in (1, 256, 65535):
        for qcum in ([0] * 256 + [1 << 32], list(range(0, 1 << 32, 1 << 24)) + [1 << 32]):
            c = [ref.v3_cum(lam, int(e[b]), qcum[b], b) for b in range(257)]
            assert c[256] == 1 << 24 and all(c[b + 1] > c[b] for b in range(256))


@pytest.mark.parametrize("variant", [text.MIXED, text.MIXED_SMALL])
def test_foreign_payloads_are_refused(variant):
    rng = np.random.default_rng(11)
    refused = 0
    for _ in range(20):
        payload = bytes([variant]) + rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        try:
            TEXT.decode(payload, 500)
        except CorruptChunk:
            refused += 1
    assert refused == 20


@pytest.mark.parametrize("variant", [text.MIXED, text.MIXED_SMALL])
def test_variant_3_and_4_message_length_tends_to_information_content(variant):
    """IconoCLaSM codes the mixture exactly: the message is h(x) under the variant plus O(1)
    bits, the 64-bit head and the initial bits (h by the forward algorithm over the coder's own
    integer frequencies)."""
    from cython_ans import Message
    from archiver.models.hmm import load_shipped
    from archiver.models.hmm_stats import information_content_mixed
    tables, _ = load_shipped(text.WEIGHTS[variant])
    coder = TEXT._model()[0][variant]
    data = (MIXED_KINDS * 4)[:3000]
    msg = Message(seed=text.SEED)
    coder.encode(data, msg)
    h = information_content_mixed(tables, data, coder)
    assert h < 0.6 * 8 * len(data)                                   # it learned the repeats
    assert -32 < msg.bit_length() - h < 128, (msg.bit_length(), h)
