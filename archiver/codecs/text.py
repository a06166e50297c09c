"""Codec 0x10: text through a byte-level HMM, coded with IconoCLaSM bits-back over rANS.

Payload: one byte naming the model (0 = weights/text-hmm.npz; others reserved), then the rANS
message (cython_ans Message.to_bytes, seed 0). Decoding pops exactly `size` bytes and then
checks that the message is back to the encoder's starting point (the initial bits it drew, and
nothing else): any damage to the payload shows up there and raises CorruptChunk.

The container tries this codec on chunks that look like text and keeps it only where it beats
zstd; any byte value can be coded (emissions are leaky), so a stray binary byte costs bits,
never correctness.
"""
from __future__ import annotations

import codecs as _codecs

from archiver.codecs.base import Codec
from archiver.codecs.registry import register
from archiver.errors import CorruptChunk, MissingWeights

MODEL_ID = 0
SEED = 0
PRINTABLE = frozenset(b"\t\n\r\f" + bytes(range(32, 127)))
MIN_PRINTABLE_SHARE = 0.9


def looks_like_text(sample: bytes) -> bool:
    """Valid UTF-8 (a character cut at the end of the sample is fine) without NULs, or at least
    90% printable ASCII (legacy 8-bit encodings, logs with a few control bytes)."""
    if not sample:
        return False
    if b"\x00" not in sample:
        try:
            _codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
            return True
        except UnicodeDecodeError:
            pass
    printable = sum(1 for b in sample if b in PRINTABLE)
    return printable >= MIN_PRINTABLE_SHARE * len(sample)


class TextCodec(Codec):
    codec_id = 0x10
    name = "text"

    def _model(self):
        from archiver.models.hmm import WEIGHTS_NAME, load_shipped
        from archiver.models.weights import WeightsError
        try:
            tables, digest = load_shipped()
        except WeightsError as exc:
            raise MissingWeights("text codec", f"{WEIGHTS_NAME}: {exc}") from None
        from archiver.models._hmm import HmmCoder
        coder = getattr(self, "_coder", None)
        if coder is None or self._digest != digest:
            self._coder, self._digest = HmmCoder(tables), digest
        return self._coder, digest

    def model_hashes(self) -> tuple[str, ...]:
        try:
            return (self._model()[1],)
        except MissingWeights:
            return ()

    def accepts(self, sample: bytes, path: str) -> bool:
        return looks_like_text(sample) and bool(self.model_hashes())

    def encode(self, data: bytes, level: int) -> bytes:
        from cython_ans import Message
        coder, _ = self._model()
        msg = Message(seed=SEED)
        coder.encode(data, msg)
        return bytes([MODEL_ID]) + msg.to_bytes()

    def decode(self, payload: bytes, size: int) -> bytes:
        from cython_ans import Message
        from archiver.models._hmm import message_is_initial
        if not payload:
            raise CorruptChunk("text codec: empty payload")
        if payload[0] != MODEL_ID:
            raise CorruptChunk(f"text codec: unknown model {payload[0]} (this bbx has model "
                               f"{MODEL_ID}); the archive is damaged or from a newer bbx")
        coder, _ = self._model()
        try:
            msg = Message.from_bytes(payload[1:], seed=SEED)
        except ValueError as exc:
            raise CorruptChunk(f"text codec: bad rANS message ({exc})") from None
        out = coder.decode(msg, size)
        if not message_is_initial(msg):
            raise CorruptChunk("text codec: payload does not decode cleanly (damaged data)")
        return out


TEXT = register(TextCodec())
