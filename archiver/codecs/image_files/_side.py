"""Serialisation of the side bytes: the envelope every format shares and bounded readers.

Side bytes come out of an archive, so they are hostile until checked: every read is bounded by
what is left, every count is capped by what the bytes left can hold, and anything out of range
raises CorruptChunk (never IndexError, never a huge allocation)."""
from __future__ import annotations

import io

import zstandard

from archiver.errors import CorruptChunk

SIDE_VERSION = 1
BODY_RAW, BODY_ZSTD = 0, 1
# A side body larger than this is not a side body (headers, chunk lists and the bytes around
# the pixels of one whole-file chunk; the container's chunks are smaller still).
MAX_BODY = 1 << 30
_ZSTD_LEVEL = 19


class SideWriter:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> "SideWriter":
        self._parts.append(bytes((value,)))
        return self

    def uint(self, value: int) -> "SideWriter":
        """Unsigned LEB128."""
        if value < 0:
            raise ValueError("negative varint")
        out = bytearray()
        while True:
            low, value = value & 0x7F, value >> 7
            out.append(low | (0x80 if value else 0))
            if not value:
                break
        self._parts.append(bytes(out))
        return self

    def blob(self, data: bytes) -> "SideWriter":
        """Length (uint) then the bytes."""
        self.uint(len(data))
        self._parts.append(bytes(data))
        return self

    def raw(self, data: bytes) -> "SideWriter":
        self._parts.append(bytes(data))
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class SideReader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    @property
    def left(self) -> int:
        return len(self._data) - self._at

    def u8(self) -> int:
        if self._at >= len(self._data):
            raise CorruptChunk("image side data ends early")
        value = self._data[self._at]
        self._at += 1
        return value

    def uint(self, cap: int) -> int:
        """LEB128 value, which must be <= cap."""
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 63:
                raise CorruptChunk("image side data holds an overlong number")
        if value > cap:
            raise CorruptChunk(f"image side data holds {value}, more than the {cap} allowed")
        return value

    def count(self, bytes_each: int = 1) -> int:
        """A count of items that each take at least bytes_each bytes of what is left."""
        return self.uint(self.left // max(1, bytes_each))

    def raw(self, n: int) -> bytes:
        if n < 0 or n > self.left:
            raise CorruptChunk("image side data ends early")
        out = bytes(self._data[self._at:self._at + n])
        self._at += n
        return out

    def blob(self) -> bytes:
        return self.raw(self.uint(self.left))

    def end(self) -> None:
        if self.left:
            raise CorruptChunk(f"image side data has {self.left} bytes too many")


def seal(format_id: int, body: bytes) -> bytes:
    """Envelope: version, format id, body encoding, (zstd: raw length), body."""
    # Level 19 on the usual few hundred bytes; a big verbatim part (an embedded profile or
    # thumbnail of megabytes) gets a level that does not dominate the file's time.
    level = _ZSTD_LEVEL if len(body) <= 1 << 20 else 9
    packed = zstandard.ZstdCompressor(level=level).compress(body)
    if len(packed) + 4 < len(body):
        head = SideWriter().u8(SIDE_VERSION).u8(format_id).u8(BODY_ZSTD).uint(len(body))
        return head.getvalue() + packed
    return bytes((SIDE_VERSION, format_id, BODY_RAW)) + body


def unseal(side: bytes) -> tuple[int, bytes]:
    """(format id, body) of an envelope."""
    r = SideReader(side)
    version = r.u8()
    if version != SIDE_VERSION:
        raise CorruptChunk(f"image side data has version {version}, this bbx reads {SIDE_VERSION}")
    format_id, encoding = r.u8(), r.u8()
    if encoding == BODY_RAW:
        return format_id, r.raw(r.left)
    if encoding != BODY_ZSTD:
        raise CorruptChunk(f"image side data has unknown body encoding {encoding}")
    size = r.uint(MAX_BODY)
    # Read at most size + 1 bytes whatever the frame claims, so a hostile frame cannot make
    # us allocate more than the side data justified.
    parts, got = [], 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(r.raw(r.left))) as reader:
            while got <= size:
                piece = reader.read(min(size + 1 - got, 1 << 20))
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
    except zstandard.ZstdError as e:
        raise CorruptChunk(f"image side data does not decompress: {e}") from None
    body = b"".join(parts)
    if len(body) != size:
        raise CorruptChunk("image side data decompresses to the wrong size")
    return format_id, body
