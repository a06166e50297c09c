"""Codec 0x00: the chunk as is. Chosen when nothing else makes it smaller."""
from __future__ import annotations

from archiver.codecs.base import Codec, Progress
from archiver.codecs.registry import register
from archiver.errors import CorruptChunk


class StoreCodec(Codec):
    codec_id = 0x00
    name = "store"

    def encode(self, data: bytes, level: int, progress: Progress = None) -> bytes:
        return bytes(data)

    def decode(self, payload: bytes, size: int, progress: Progress = None) -> bytes:
        if len(payload) != size:
            raise CorruptChunk(f"stored payload has {len(payload)} bytes, expected {size}")
        return bytes(payload)


STORE = register(StoreCodec())
