"""The text codec's bitstream is pinned: speed work on the coder must not change a single byte.

The digests of variants 0 and 1 were produced by the coder as first released (commit bc3b111, before
the speed work), those of variant 2 by the coder that introduced it (payload version 2), those of
variant 3 by the coder that introduced it (payload version 3), with the shipped weights 29b38677...;
those of variant 4 by the coder that introduced it (payload version 4, weights text-hmm16.npz
aca7c0e5...); format_spec/codec-text.md specifies the format. If a change here is intended, it is a
new format version (new variant byte), not an edit of these digests.
"""
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from archiver.codecs import text
from archiver.codecs.text import TEXT
from test_text_codec import PROSE

PINNED = {  # variant: (payload length, SHA-256 of the payload)
    text.PLAIN: (1989, "e62c3026c5484938785793ccf15f8445d4b366f8db7cdfb4853109a6ff64d210"),
    text.ADAPTIVE: (1581, "ab144cb38a9db2749ad2443d1a5e2e4b9e1617b4988d5e5ae93987d3addc6243"),
    text.BLEND: (1533, "43313a0bfcc11feef80420e73d9acff907059f3e0efaa8435d0a60d18d1f6276"),
    text.MIXED: (2085, "0e3d3a3773f6c1a374ffcab2d68cf060f0fb6498addbd43f7db7126c54f102c3"),
    text.MIXED_SMALL: (2089, "74294aa4d1e04c9072423c9bb5fba87ac2e7de6fc1a5955374b21a4f8d957fca"),
}
CM_VARIANTS = (text.MIXED, text.MIXED_SMALL)


@pytest.mark.parametrize("variant", sorted(PINNED))
def test_payload_bytes_are_pinned(monkeypatch, variant):
    monkeypatch.setattr(text, "SEGMENT_MIN", 700)          # two segments on a small input
    monkeypatch.setattr(text, "SEGMENT_MAX", 1000)         # variants 3 and 4: four
    data = PROSE * 3 + bytes(range(256)) + PROSE[::-1]
    payload = TEXT._encode_variant(TEXT._model()[0][variant], variant, data)
    assert payload[0] == variant | (0x30 if variant in CM_VARIANTS else 0x10)
    assert (len(payload), hashlib.sha256(payload).hexdigest()) == PINNED[variant]
    assert TEXT.decode(payload, len(data)) == data


# Lengths around the encoder's block edges (CHECKPOINT was 128, now 256: blocks of alpha recomputed on a
# second thread on the way back) and a 41,000-byte input of 321 blocks. Digest over every
# (length, payload) pair, produced by the coder before the second thread (commit 4ccfe4f).
EDGE_LENGTHS = (1, 127, 128, 129, 255, 256, 257, 385, 20000, 41000)
PINNED_EDGES = {
    text.PLAIN: "3f4a6573b7f662925cd49499f382f4e780d3deb342136f980013521473d705df",
    text.ADAPTIVE: "35085edb155eb093497e5a944dc4aa40b545fbbd4ffcf0334e111b6ee4c8bb8c",
    text.BLEND: "5b79fb7a9b48117544dfd57d288df0a6ccbea0f7bce92875a72be3af6a22cbeb",
    text.MIXED: "77c5c9a2297dd34c45497ebb278a921560a2de6fc55aa77f7b83632ec5b98dce",  # + 511..513
    text.MIXED_SMALL: "fc45226302f996a1f066b1a1b366d9892df46bd4b02214ae5c32dee17033e037",  # same
}
EDGE_DATA = (PROSE + bytes(range(256)) + PROSE[::-1]) * 20


@pytest.mark.parametrize("variant", sorted(PINNED_EDGES))
def test_payload_bytes_are_pinned_at_block_edges(variant):
    coder = TEXT._model()[0][variant]
    digest = hashlib.sha256()
    for n in EDGE_LENGTHS + ((511, 512, 513) if variant in CM_VARIANTS else ()):
        payload = TEXT._encode_variant(coder, variant, EDGE_DATA[:n])
        digest.update(len(payload).to_bytes(4, "little") + payload)
    assert digest.hexdigest() == PINNED_EDGES[variant]


@pytest.mark.parametrize("variant", [text.ADAPTIVE, text.BLEND, text.MIXED, text.MIXED_SMALL])
def test_concurrent_encoders_give_the_same_bytes(variant):
    """Each encode runs its own block thread; several at once must not share any state."""
    coder = TEXT._model()[0][variant]
    data = EDGE_DATA[:20000]
    want = TEXT._encode_variant(coder, variant, data)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: TEXT._encode_variant(coder, variant, data), range(8)))
    assert got == [want] * 8
    assert TEXT.decode(want, len(data)) == data
