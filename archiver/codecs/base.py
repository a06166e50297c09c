"""The contract every codec fulfils. A codec turns one chunk (whole files concatenated, or a
piece of a large file) into a payload and back; the container stores its one-byte id with
the chunk so a reader never has to be told which codec was used."""
from __future__ import annotations

import abc
from typing import ClassVar


class Codec(abc.ABC):
    codec_id: ClassVar[int]      # stable one byte, written with every chunk; never reused
    name: ClassVar[str]

    def model_hashes(self) -> tuple[str, ...]:
        """Hex SHA-256 of every weights file needed to decode; recorded in the archive header."""
        return ()

    def accepts(self, sample: bytes, path: str) -> bool:
        """Cheap test on the head of a chunk: is this codec worth trying on it?"""
        return True

    @abc.abstractmethod
    def encode(self, data: bytes, level: int) -> bytes:
        """Payload for `data`; `level` is 1..22 (higher: smaller and slower)."""

    @abc.abstractmethod
    def decode(self, payload: bytes, size: int) -> bytes:
        """Exactly `size` bytes back; raise archiver.errors.CorruptChunk on bad input,
        never hang, crash or allocate far beyond `size`."""
