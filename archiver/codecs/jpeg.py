"""Codec 0x30: JPEG files recompressed without loss by Lepton (lepton_jpeg_python, the Rust
port by Lepton's authors), about 20% smaller than the JPEG, given back byte for byte.

Payload (format_spec/codec-jpeg.md):
    u8  library: 1 = Lepton (the only one)
    u8  the library's stream format version (Lepton: 1, byte 2 of its own header)
    the Lepton stream

Lepton was chosen over JPEG XL's lossless JPEG transcoding by side-by-side measurement
(benchmarks/results/jpeg.md): 2% smaller on camera and web photos and on every odd JPEG both
take, faster to encode, Rust rather than C++; JPEG XL decodes faster. On some damaged JPEGs
Lepton's round trip is not exact, which the create-time check below catches. It runs in a helper process with bounded memory and time
(jpeg_sandbox.py), both ways. Every JPEG is decoded again at create time and kept only if it
comes back byte for byte; JPEGs Lepton cannot take (CMYK, arithmetic coded, 12-bit, lossless,
damaged beyond what it tolerates) are declined quietly and go to zstd or store.
"""
from __future__ import annotations

import atexit
import importlib.util
import re

from archiver.codecs.base import Codec, Declined, Progress, no_progress
from archiver.codecs.jpeg_sandbox import LibraryMissing, Refused, Sandbox
from archiver.codecs.registry import register
from archiver import threads
from archiver.container.router import JPEG as JPEG_CLASS
from archiver.errors import CorruptChunk, MissingDecoder

LEPTON = 1
LEPTON_FORMAT = 1
LEPTON_MAGIC = b"\xcf\x84"
MODULE, PACKAGE = "lepton_jpeg_python", "lepton-jpeg-python"
# Lepton's own limits (its EnabledFeatures defaults): larger JPEGs are refused by it anyway,
# so they are declined before reaching the helper.
MAX_SIDE = 16386
# Frame types Lepton codes: baseline, extended (8-bit) and progressive Huffman.
LEPTON_FRAMES = frozenset({0xC0, 0xC1, 0xC2})
OTHER_FRAMES = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def frame_header(head: bytes) -> tuple[int, int, int, int, int] | None:
    """(frame marker, precision, height, width, components) of the first SOFn segment in the
    head of a JPEG, or None if the head ends before one (a huge EXIF block) or is not a
    marker sequence."""
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:                 # fill byte before a marker
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(head[i + 2:i + 4], "big")
        if marker in LEPTON_FRAMES or marker in OTHER_FRAMES:
            if i + 10 > len(head):
                return None
            p, h, w, nc = head[i + 4], int.from_bytes(head[i + 5:i + 7], "big"), \
                int.from_bytes(head[i + 7:i + 9], "big"), head[i + 9]
            return marker, p, h, w, nc
        if marker in (0xDA, 0xD9) or length < 2:     # scan or end before any frame
            return None
        i += 2 + length
    return None


# zstd at any level codes a JPEG to no less than ZSTD_FLOOR x its quick frame
# (zstd_codec.quick_size), apart from what is outside the scans; measured by
# benchmarks/jpeg_zstd_floor.py (benchmarks/results/jpeg.md), see JpegCodec.zstd_floor.
ZSTD_FLOOR = 0.90
# The end of entropy-coded data: 0xFF then a byte other than a stuffed 0x00 or a restart marker.
SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def entropy_coded_bytes(data: bytes) -> int:
    """Bytes of `data` inside entropy-coded scans (what follows each SOS header up to the next
    marker); headers, metadata, thumbnails and anything after EOI or after a parse failure
    are not counted."""
    i, total = 2, 0
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:                 # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xD9 or length < 2:
            break
        i += 2 + length
        if marker == 0xDA:
            end = SCAN_END.search(data, i)
            stop = end.start() if end else len(data)
            total += max(0, stop - i)
            i = stop
    return total


def lepton_can_take(head: bytes) -> bool:
    """Cheap test on a JPEG's head: a frame Lepton codes (8-bit Huffman, 1 to 3 components,
    within its size limits)? Unknown (frame not in the head): let Lepton decide."""
    frame = frame_header(head)
    if frame is None:
        return True
    marker, precision, height, width, components = frame
    return (marker in LEPTON_FRAMES and precision == 8 and 1 <= components <= 3
            and width <= MAX_SIDE and height <= MAX_SIDE)


class JpegCodec(Codec):
    codec_id = 0x30
    name = "jpeg"
    content_classes = frozenset({JPEG_CLASS})

    def __init__(self):
        self._sandbox: Sandbox | None = None

    def _helper(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox()
            atexit.register(self._sandbox.close)
        return self._sandbox

    def _missing(self, reason: str) -> MissingDecoder:
        return MissingDecoder("JPEG", MODULE, reason, PACKAGE)

    def model_hashes(self) -> tuple[str, ...]:
        """No weights; raises MissingDecoder when Lepton is not installed, so the chunk coder
        leaves this codec out (with a note) instead of failing on every JPEG."""
        if importlib.util.find_spec(MODULE) is None:
            raise self._missing("not installed")
        return ()

    def zstd_floor(self, data: bytes, quick) -> int:
        """ZSTD_FLOOR x the quick frame, less every byte outside the scans: on scan data the
        slow levels gain less than 1 - ZSTD_FLOOR over the quick one (measured: at most 2% on
        camera photos, 6.5% on a smooth gradient wallpaper); on the rest (metadata,
        thumbnails, whatever follows EOI) they could gain anything, at most all of it."""
        return int(ZSTD_FLOOR * quick()) - (len(data) - entropy_coded_bytes(data))

    def accepts(self, sample: bytes, path: str) -> bool:
        return sample.startswith(b"\xff\xd8") and lepton_can_take(sample)

    def encode(self, data: bytes, level: int, progress: Progress = None) -> bytes:
        try:
            stream = self._helper().encode(data, threads.budget())
        except Refused as exc:
            raise Declined(str(exc)) from None
        except LibraryMissing as exc:
            raise self._missing(str(exc)) from None
        if not stream.startswith(LEPTON_MAGIC) or len(stream) < 3 or stream[2] != LEPTON_FORMAT:
            raise Declined(f"Lepton wrote a stream of format {stream[2:3].hex()}, bbx reads {LEPTON_FORMAT}")
        (progress or no_progress)(len(data))
        return bytes((LEPTON, LEPTON_FORMAT)) + stream

    def decode(self, payload: bytes, size: int, progress: Progress = None) -> bytes:
        if len(payload) < 2:
            raise CorruptChunk("JPEG payload shorter than its 2-byte header")
        library, version = payload[0], payload[1]
        if library != LEPTON:
            raise CorruptChunk(f"JPEG payload made by library {library}, which this bbx does not "
                               f"know; a newer bbx may read it")
        if version != LEPTON_FORMAT:
            raise CorruptChunk(f"JPEG payload in Lepton format {version}; this bbx reads format "
                               f"{LEPTON_FORMAT}; a newer bbx may read it")
        if importlib.util.find_spec(MODULE) is None:
            raise self._missing("not installed")
        try:
            out = self._helper().decode(payload[2:], size, threads.budget())
        except Refused as exc:
            raise CorruptChunk(f"Lepton: {exc}") from None
        except LibraryMissing as exc:
            raise self._missing(str(exc)) from None
        if len(out) != size:
            raise CorruptChunk(f"Lepton gave {len(out)} bytes, expected {size}")
        (progress or no_progress)(size)
        return out


JPEG = register(JpegCodec())
