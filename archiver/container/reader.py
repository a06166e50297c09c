"""Open a .bbx archive: header, trailer and index are read and validated up front (the index
is found from the last bytes, so listing never touches the chunks); chunks are read, checked
against their CRC and decoded on demand, one at a time."""
from __future__ import annotations

import os
import zlib

import zstandard

from archiver.codecs import registry
from archiver.container import layout
from archiver.container.records import FILE, Entry, display
from archiver.errors import (CorruptArchive, CorruptChunk, InputError, InputNotFound,
                             NotAnArchive, UnknownCodec)

INDEX_MAX_RATIO = 1024      # a real index never expands more than this; a zstd bomb would


class ArchiveReader:
    def __init__(self, path: str | bytes):
        self.path = display(path)
        self._by_chunk: dict[int, list[Entry]] | None = None
        try:
            self.f = open(path, "rb")
        except FileNotFoundError:
            raise InputNotFound(self.path) from None
        except OSError as exc:
            raise InputError(self.path, exc.strerror) from None
        try:
            self.size = os.fstat(self.f.fileno()).st_size
            self._read_header()
            self._read_index()
        except BaseException:
            self.f.close()
            raise

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- structure ---------------------------------------------------------------------------

    def _pread(self, offset: int, n: int) -> bytes:
        return os.pread(self.f.fileno(), n, offset)

    def _read_header(self) -> None:
        fixed = self._pread(0, layout.HEADER_FIXED.size)
        if len(fixed) < len(layout.MAGIC) or fixed[:len(layout.MAGIC)] != layout.MAGIC:
            raise NotAnArchive(self.path)
        _, size = layout.parse_header_fixed(fixed, self.path)
        buf = self._pread(0, size)
        hashes, self.header_size = layout.parse_header(buf, self.path)
        self.model_hashes = [h.hex() for h in hashes]
        if self.header_size + layout.TRAILER.size > self.size:
            raise CorruptArchive(self.path, "file ends before the first chunk (truncated)")

    def _read_index(self) -> None:
        tail = self._pread(max(0, self.size - layout.TRAILER.size), layout.TRAILER.size)
        offset = layout.parse_trailer(tail, self.path)
        end = self.size - layout.TRAILER.size
        if not self.header_size <= offset <= end - layout.BLOCK.size:
            raise CorruptArchive(self.path, f"index offset {offset} outside the archive")
        kind, codec, crc, raw, stored = layout.parse_block(
            self._pread(offset, layout.BLOCK.size), self.path, "index")
        if kind != layout.BLOCK_INDEX or offset + layout.BLOCK.size + stored != end:
            raise CorruptArchive(self.path, "the trailer does not point at the index")
        if raw > layout.MAX_INDEX_RAW or raw > INDEX_MAX_RATIO * stored + (1 << 20):
            raise CorruptArchive(self.path, f"index claims {raw} bytes from {stored}: implausible")
        payload = self._pread(offset + layout.BLOCK.size, stored)
        if zlib.crc32(payload) != crc:
            raise CorruptArchive(self.path, "index checksum mismatch")
        if codec == layout.INDEX_STORE and raw == stored:
            data = payload
        elif codec == layout.INDEX_ZSTD:
            data = _unzstd(payload, raw, self.path)
        else:
            raise CorruptArchive(self.path, f"index coded with unknown codec 0x{codec:02x}")
        self.index_offset = offset
        self.chunks, self.entries = layout.parse_index(data, self.path)
        for i, c in enumerate(self.chunks):
            if not self.header_size <= c.offset or c.offset + layout.BLOCK.size + c.stored_size > offset:
                raise CorruptArchive(self.path, f"chunk {i} lies outside the chunk area")

    # -- content -----------------------------------------------------------------------------

    def chunk_files(self, index: int) -> list[Entry]:
        """Files whose content touches chunk `index` (to name them when it is damaged)."""
        if self._by_chunk is None:
            self._by_chunk = {}
            for e in self.entries:
                for i in self.chunks_of(e):
                    self._by_chunk.setdefault(i, []).append(e)
        return self._by_chunk.get(index, [])

    def read_stored(self, index: int) -> bytes:
        """The chunk's payload after checking its block header and CRC (no decoding)."""
        c = self.chunks[index]
        what = f"chunk {index}"
        head = self._pread(c.offset, layout.BLOCK.size)
        try:
            kind, codec, crc, raw, stored = layout.parse_block(head, self.path, what)
        except CorruptArchive as exc:
            raise CorruptChunk(f"{what} at byte {c.offset}: {exc.args[1]}") from None
        if (kind, codec, crc, raw, stored) != (layout.BLOCK_CHUNK, c.codec_id, c.crc32,
                                               c.raw_size, c.stored_size):
            raise CorruptChunk(f"{what} at byte {c.offset}: block header disagrees with the index")
        payload = self._pread(c.offset + layout.BLOCK.size, c.stored_size)
        if len(payload) != c.stored_size:
            raise CorruptChunk(f"{what} at byte {c.offset}: archive ends inside it (truncated)")
        if zlib.crc32(payload) != c.crc32:
            raise CorruptChunk(f"{what} at byte {c.offset}: checksum mismatch")
        return payload

    def read_chunk(self, index: int) -> bytes:
        """The chunk's raw content, checked and decoded."""
        c = self.chunks[index]
        payload = self.read_stored(index)
        try:
            codec = registry.get(c.codec_id)
        except KeyError:
            raise UnknownCodec(index, c.codec_id) from None
        try:
            return codec.decode(payload, c.raw_size)
        except CorruptChunk as exc:
            raise CorruptChunk(f"chunk {index} at byte {c.offset}: {exc.args[0]}") from None

    def content_span(self, e: Entry) -> tuple[int, int]:
        """(start, end) of a file's content in the concatenated raw data of all chunks."""
        if e.type != FILE or not e.size:
            return 0, 0
        start = self.chunks[e.chunk].raw_start + e.offset
        return start, start + e.size

    def chunks_of(self, e: Entry) -> range:
        """Indices of the chunks holding a file's content."""
        if e.type != FILE or not e.size:
            return range(0)
        start, end = self.content_span(e)
        last = e.chunk
        while self.chunks[last].raw_start + self.chunks[last].raw_size < end:
            last += 1
        return range(e.chunk, last + 1)


def _unzstd(payload: bytes, raw: int, where: str) -> bytes:
    try:
        if zstandard.frame_content_size(payload) != raw:
            raise CorruptArchive(where, "index frame size disagrees with its block header")
        out = zstandard.ZstdDecompressor().decompress(payload, max_output_size=raw)
    except zstandard.ZstdError as exc:
        raise CorruptArchive(where, f"index does not decode ({exc})") from None
    if len(out) != raw:
        raise CorruptArchive(where, "index decodes to the wrong size")
    return out


def codec_name(codec_id: int) -> str:
    try:
        return registry.get(codec_id).name
    except KeyError:
        return f"0x{codec_id:02x}"
