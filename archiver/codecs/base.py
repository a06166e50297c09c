"""The contract every codec fulfils. A codec turns one chunk (whole files concatenated, or a
piece of a large file; one whole file for the image and JPEG classes) into a payload and back;
the container stores its one-byte id with the chunk so a reader never has to be told which
codec was used.

Which chunks a codec is tried on is decided by the one content router
(archiver/container/router.py): a codec names the content classes it serves; store and zstd
serve every class. Progress is reported through one callback, `progress(n)`, called with the
number of raw bytes finished since the last call (at least about once a second on long
work); it may raise to interrupt the codec (KeyboardInterrupt)."""
from __future__ import annotations

import abc
from typing import Callable, ClassVar, Optional

Progress = Optional[Callable[[int], None]]
RATIO_SLACK = 4096


class Declined(Exception):
    """Raised by encode() for an input the codec cannot code exactly (e.g. an image file that
    cannot be rebuilt byte for byte, a JPEG its library does not take): the chunk coder moves
    on to the other codecs without a warning. Any other exception is a failure, warned about."""


def no_progress(n: int) -> None:
    """The progress callback used when nobody listens."""


class Codec(abc.ABC):
    codec_id: ClassVar[int]      # stable one byte, written with every chunk; never reused
    name: ClassVar[str]
    # Router classes (archiver.container.router) whose chunks this codec is tried on; None:
    # every class (store and zstd).
    content_classes: ClassVar[Optional[frozenset[str]]] = None
    # Slow decoders bound their work by their payload: a chunk coded with this codec holds at
    # most max_ratio x its payload size + RATIO_SLACK raw bytes. The chunk coder never keeps a
    # payload beyond that and readers refuse one before decoding, so a tiny hostile chunk
    # cannot claim minutes of work. None: decoding is cheap per raw byte (store, zstd).
    max_ratio: ClassVar[Optional[int]] = None

    def ratio_ok(self, raw_size: int, payload_size: int) -> bool:
        return self.max_ratio is None or raw_size <= self.max_ratio * payload_size + RATIO_SLACK

    def model_hashes(self) -> tuple[str, ...]:
        """Hex SHA-256 of the weights this codec encodes with; recorded in the archive header."""
        return ()

    def decodable_hashes(self) -> tuple[str, ...]:
        """Hex SHA-256 of every weights file this codec can decode with (older ones included,
        so archives written before new weights shipped still open)."""
        return self.model_hashes()

    def zstd_floor(self, data: bytes, quick: Callable[[], int]) -> int:
        """A size below which zstd at the archive's level cannot code `data` (a chunk this
        codec just coded), measured-safe on the data this codec serves; `quick()` is the size
        of a cheap zstd frame of it (zstd_codec.quick_size). Where this codec's payload is
        smaller, the chunk coder skips the slow zstd (most of a fast codec's time, as JPEG's).
        0 (default, without calling quick): no floor known, zstd always runs."""
        return 0

    def accepts(self, sample: bytes, path: str) -> bool:
        """Cheap test on the head of a chunk of a class this codec serves: worth trying?"""
        return True

    @abc.abstractmethod
    def encode(self, data: bytes, level: int, progress: Progress = None) -> bytes:
        """Payload for `data`; `level` is 1..22 (higher: smaller and slower)."""

    @abc.abstractmethod
    def decode(self, payload: bytes, size: int, progress: Progress = None) -> bytes:
        """Exactly `size` bytes back; raise archiver.errors.CorruptChunk on bad input,
        never hang, crash or allocate far beyond `size`."""
