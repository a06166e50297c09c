"""The text codec's bitstream is pinned: speed work on the coder must not change a single byte.

The digests were produced by the coder as first released (commit bc3b111, before the speed
work) with the shipped weights 29b38677...; format_spec/codec-text.md specifies the format. If a
change here is intended, it is a new format version (new variant byte), not an edit of these
digests.
"""
import hashlib

import pytest

from archiver.codecs import text
from archiver.codecs.text import TEXT
from test_text_codec import PROSE

PINNED = {  # variant: (payload length, SHA-256 of the payload)
    text.PLAIN: (1989, "e62c3026c5484938785793ccf15f8445d4b366f8db7cdfb4853109a6ff64d210"),
    text.ADAPTIVE: (1581, "ab144cb38a9db2749ad2443d1a5e2e4b9e1617b4988d5e5ae93987d3addc6243"),
}


@pytest.mark.parametrize("variant", sorted(PINNED))
def test_payload_bytes_are_pinned(monkeypatch, variant):
    monkeypatch.setattr(text, "SEGMENT_MIN", 700)          # two segments on a small input
    data = PROSE * 3 + bytes(range(256)) + PROSE[::-1]
    payload = TEXT._encode_variant(TEXT._model()[0][variant], variant, data)
    assert payload[0] == variant | 0x10
    assert (len(payload), hashlib.sha256(payload).hexdigest()) == PINNED[variant]
    assert TEXT.decode(payload, len(data)) == data
