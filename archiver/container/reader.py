"""Open a .bbx archive: header, trailer, index and entries blocks are read and validated up
front (the index is found from the last bytes, so listing never touches a chunk); chunks are
read, checked against their CRC and decoded on demand, one at a time. When the tail is lost
the archive is salvaged from its blocks, and the damage is kept in `problems`."""
from __future__ import annotations

import os
import zlib

import zstandard

from archiver.codecs import registry
from archiver.container import layout
from archiver.container.records import FILE, ChunkInfo, Entry, display
from archiver.errors import (CorruptArchive, CorruptChunk, InputError, InputNotFound,
                             NotAnArchive, UnknownCodec, UnsupportedFeature, UnsupportedVersion)

PIECE = 1 << 20             # entries blocks are decoded and parsed this many bytes at a time


class ArchiveReader:
    def __init__(self, path: str | bytes):
        self.path = display(path)
        self._by_chunk: dict[int, list[Entry]] | None = None
        self.problems: list[CorruptArchive] = []   # damage found on opening; reported, not fatal
        self._entries_raw = 0
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
        self.header_damage = None
        try:
            try:
                _, size = layout.parse_header_fixed(fixed, self.path)
            except UnsupportedVersion as newer:
                self._newer_or_damaged(fixed, newer)
            buf = self._pread(0, size)
            hashes, self.header_size = layout.parse_header(buf, self.path)
        except CorruptArchive as exc:
            # A damaged header costs only what it alone holds (the model hashes): the tail
            # index says where every block is. Without an intact tail the archive is lost.
            self.header_damage = exc
            self.header_size, hashes = layout.header_size(0), []
        self.model_hashes = [h.hex() for h in hashes]
        if self.header_size + layout.TRAILER.size > self.size:
            raise CorruptArchive(self.path, "file ends before the first chunk (truncated)")

    def _newer_or_damaged(self, fixed: bytes, newer: UnsupportedVersion) -> None:
        """A major version above ours: a newer archive if the header's CRC holds (re-raise),
        else a damaged version byte (CorruptArchive, so the reader goes on from the tail)."""
        size = layout.HEADER_FIXED.unpack(fixed)[6]
        buf = self._pread(0, size) if layout.HEADER_CRC.size <= size <= layout.MAX_HEADER else b""
        if len(buf) == size and buf[-4:] == layout.HEADER_CRC.pack(zlib.crc32(buf[:-4])):
            raise newer
        raise CorruptArchive(self.path, "header checksum mismatch")

    def _read_index(self) -> None:
        try:
            chunks, segments, count = self._read_tail()
        except CorruptArchive as exc:
            if self.header_damage is not None:
                raise self.header_damage from None
            self._salvage(exc.args[1])
            return
        if self.header_damage is not None:
            self.header_size = min([c.offset for c in chunks + segments] + [self.index_offset])
            copy = self._tail_hashes(chunks + segments)
            if copy is not None:
                self.model_hashes = [h.hex() for h in copy]
                self.header_damage.detail = ("read on from the intact index, with the model "
                                             "hashes from their copy at the tail: nothing lost")
            else:
                self.header_damage.detail = ("read on from the intact index; the model weights "
                                             "it needs are unknown, so only the files' SHA-256 "
                                             "shows whether the installed ones fit")
            self.problems.append(self.header_damage)
        self.chunks, self.entries = chunks, []
        for i, seg in enumerate(segments):
            try:
                self.entries += self._read_entries(seg, f"entries block {i}")
            except CorruptArchive as exc:          # names lost; the other files still extract
                exc.detail = "the files it describes cannot be named or extracted"
                self.problems.append(exc)
        if not self.problems and len(self.entries) != count:
            raise CorruptArchive(self.path, f"index promises {count} entries, blocks hold "
                                            f"{len(self.entries)}")
        self.entries.sort(key=lambda e: e.path)

    def _read_tail(self):
        """Trailer, then the index it points at: (chunk rows, entries-block rows, count)."""
        tail = self._pread(max(0, self.size - layout.TRAILER.size), layout.TRAILER.size)
        offset = layout.parse_trailer(tail, self.path)
        end = self.size - layout.TRAILER.size
        if not self.header_size <= offset <= end - layout.BLOCK.size:
            raise CorruptArchive(self.path, f"index offset {offset} outside the archive")
        row = self._block_row(offset, "index")
        if row is None or row[0] != layout.BLOCK_INDEX or offset + layout.BLOCK.size + row[1].stored_size != end:
            raise CorruptArchive(self.path, "the trailer does not point at the index")
        data = self._payload(row[1], "index")
        self.index_offset = offset
        chunks, segments, count = layout.parse_index(data, self.path)
        for what, rows in (("chunk", chunks), ("entries block", segments)):
            for i, c in enumerate(rows):
                if c.offset < self.header_size or c.offset + layout.BLOCK.size + c.stored_size > offset:
                    raise CorruptArchive(self.path, f"{what} {i} lies outside the block area")
        return chunks, segments, count

    def _tail_hashes(self, rows: list[ChunkInfo]) -> list[bytes] | None:
        """The copy of the model hashes (format 1.1): a block after the last block the index
        lists and before the index. None when there is none (1.0, or no model codec) or it is
        damaged too."""
        pos = max([r.offset + layout.BLOCK.size + r.stored_size for r in rows]
                  + [self.header_size])
        while pos + layout.BLOCK.size <= self.index_offset:
            try:
                found = self._block_row(pos, "copy of the model hashes")
                if found is None:
                    return None
                kind, row = found
                if kind == layout.BLOCK_HASHES:
                    payload = self._pread(pos + layout.BLOCK.size, row.stored_size)
                    if zlib.crc32(payload) != row.crc32 or len(payload) != row.raw_size:
                        return None
                    return layout.parse_hashes_payload(payload, self.path)
            except (CorruptArchive, UnsupportedFeature):
                return None
            pos += layout.BLOCK.size + row.stored_size
        return None

    def _block_row(self, offset: int, what: str):
        """(kind, row) from the block header at `offset`, or None past the end of the file."""
        head = self._pread(offset, layout.BLOCK.size)
        if len(head) < layout.BLOCK.size:
            return None
        kind, codec, crc, raw, stored = layout.parse_block(head, self.path, what)
        return kind, ChunkInfo(offset, codec, raw, stored, crc)

    def _stored(self, row: ChunkInfo, what: str) -> bytes:
        """The stored payload of an index or entries block, its sizes and CRC checked."""
        if not layout.meta_size_ok(row.raw_size, row.stored_size):
            raise CorruptArchive(self.path, f"{what} claims {row.raw_size} bytes from "
                                            f"{row.stored_size}: beyond the format's limits")
        payload = self._pread(row.offset + layout.BLOCK.size, row.stored_size)
        if len(payload) != row.stored_size:
            raise CorruptArchive(self.path, f"{what}: archive ends inside it (truncated)")
        if zlib.crc32(payload) != row.crc32:
            raise CorruptArchive(self.path, f"{what}: checksum mismatch")
        return payload

    def _pieces(self, row: ChunkInfo, what: str):
        """The decoded data of an index or entries block (store or zstd), PIECE bytes at a
        time, never more than its block header promises."""
        payload = self._stored(row, what)
        if row.codec_id == layout.INDEX_STORE and row.raw_size == row.stored_size:
            yield payload
            return
        if row.codec_id != layout.INDEX_ZSTD:
            raise CorruptArchive(self.path, f"{what} coded with unknown codec 0x{row.codec_id:02x}")
        yield from _unzstd(payload, row.raw_size, self.path, what)

    def _payload(self, row: ChunkInfo, what: str) -> bytes:
        return b"".join(self._pieces(row, what))

    def _read_entries(self, row: ChunkInfo, what: str) -> list[Entry]:
        found = self._block_row(row.offset, what)
        if found is None or found[0] != layout.BLOCK_ENTRIES or found[1] != row:
            raise CorruptArchive(self.path, f"{what}: block header disagrees with the index")
        self._entries_raw += row.raw_size
        if self._entries_raw > layout.MAX_INDEX_RAW:
            raise CorruptArchive(self.path, "entries blocks exceed the format's limit")
        parser = layout.EntryParser(self.chunks, self.path, what)
        entries = []
        for piece in self._pieces(row, what):
            entries += parser.feed(piece)
        parser.finish()
        return entries

    def _salvage(self, reason: str) -> None:
        """The tail is lost or damaged: walk the blocks from the header and keep every entry
        whose entries block (and so every chunk before it) is intact."""
        self.chunks, self.entries, self.index_offset = [], [], self.size
        pos, raw_start = self.header_size, 0
        while True:
            what = f"block at byte {pos}"
            try:
                found = self._block_row(pos, what)
            except (CorruptArchive, UnsupportedFeature):
                break
            if found is None or found[0] == layout.BLOCK_INDEX:
                break
            kind, row = found
            if pos + layout.BLOCK.size + row.stored_size > self.size:
                break                                   # cut inside this block
            if kind in (layout.BLOCK_RECOVERY, layout.BLOCK_HASHES):
                pass                        # parity for bbx repair, a copy of the header's
            elif kind == layout.BLOCK_CHUNK:
                if not layout.chunk_sizes_ok(row.raw_size, row.stored_size):
                    break
                row.raw_start = raw_start
                raw_start += row.raw_size
                self.chunks.append(row)
            else:
                try:
                    self.entries += self._read_entries(row, f"entries block at byte {pos}")
                except CorruptArchive as exc:
                    self.problems.append(exc)
            pos += layout.BLOCK.size + row.stored_size
        self.entries.sort(key=lambda e: e.path)
        self.problems.insert(0, CorruptArchive(
            self.path, f"{reason}; recovered {len(self.entries)} entries and {len(self.chunks)} "
                       f"chunks from the blocks before byte {pos}, anything after is lost"))

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

    def check_ratio(self, index: int, codec) -> None:
        """Refuse a chunk claiming more raw bytes than its codec's payload can hold."""
        c = self.chunks[index]
        check_ratio(index, c.offset, codec, c.raw_size, c.stored_size)

    def read_chunk(self, index: int) -> bytes:
        """The chunk's raw content, checked and decoded."""
        c = self.chunks[index]
        return decode_chunk(index, c.offset, c.codec_id, self.read_stored(index), c.raw_size)

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


def check_ratio(index: int, offset: int, codec, raw_size: int, stored_size: int) -> None:
    """Refuse a chunk claiming more raw bytes than `stored_size` bytes of its codec can hold
    (a hostile chunk must not make a decoder work through a size it cannot honestly have)."""
    if not codec.ratio_ok(raw_size, stored_size):
        raise CorruptChunk(f"chunk {index} at byte {offset}: {stored_size} bytes of "
                           f"{codec.name} data cannot hold {raw_size} bytes")


def decode_chunk(index: int, offset: int, codec_id: int, payload: bytes, raw_size: int,
                 progress=None) -> bytes:
    """A chunk's raw content from its checked payload; runs in a pool worker too. A chunk
    claiming more than its codec's payload can hold is refused before any decoding."""
    try:
        codec = registry.get(codec_id)
    except KeyError:
        raise UnknownCodec(index, codec_id) from None
    check_ratio(index, offset, codec, raw_size, len(payload))
    try:
        return codec.decode(payload, raw_size, progress)
    except CorruptChunk as exc:
        raise CorruptChunk(f"chunk {index} at byte {offset}: {exc.args[0]}") from None


def _unzstd(payload: bytes, raw: int, where: str, what: str):
    """Stream-decode one zstd frame of exactly `raw` bytes, PIECE bytes at a time."""
    try:
        if zstandard.frame_content_size(payload) != raw:
            raise CorruptArchive(where, f"{what}: frame size disagrees with its block header")
        reader = zstandard.ZstdDecompressor().stream_reader(payload, read_across_frames=False)
        left = raw
        while left:
            piece = reader.read(min(PIECE, left))
            if not piece:
                raise CorruptArchive(where, f"{what} decodes to fewer bytes than it claims")
            left -= len(piece)
            yield piece
        if reader.read(1):
            raise CorruptArchive(where, f"{what} decodes to more bytes than it claims")
    except zstandard.ZstdError as exc:
        raise CorruptArchive(where, f"{what} does not decode ({exc})") from None


def codec_name(codec_id: int) -> str:
    try:
        return registry.get(codec_id).name
    except KeyError:
        return f"0x{codec_id:02x}"
