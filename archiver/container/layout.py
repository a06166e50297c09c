"""The byte layout of a .bbx archive: every struct of format_spec/bbx_format.md lives here and
nowhere else. All integers little-endian.

    header | block (chunk) ... | block (index) | trailer

Parsing functions validate what they read (magic, CRC, reserved bits, limits) and raise
archiver.errors exceptions; they never allocate more than the limits below allow.
"""
from __future__ import annotations

import struct
import zlib

from archiver.container.records import DIRECTORY, FILE, SYMLINK, ChunkInfo, Entry
from archiver.errors import CorruptArchive, NotAnArchive, UnsupportedFeature, UnsupportedVersion

MAGIC = b"\x89BBX\r\n\x1a\n"
END_MAGIC = b"\xabBBXEND\xbb"
VERSION_MAJOR, VERSION_MINOR = 1, 0

# Limits (format_spec/bbx_format.md, "Limits"): writers never exceed them, readers refuse more.
MAX_CHUNK_RAW = 64 << 20
MAX_INDEX_RAW = 1 << 30
MAX_MODEL_HASHES = 255
MAX_HEADER = 1 << 16

HEADER_FIXED = struct.Struct("<8sBBHHHI")          # magic, major, minor, flags, M, unused, size
HEADER_CRC = struct.Struct("<I")
BLOCK = struct.Struct("<BBHIQQI")                  # kind, codec, flags, crc, raw, stored, hcrc
TRAILER = struct.Struct("<QI8s")                   # index offset, crc of offset, end magic
INDEX_HEAD = struct.Struct("<QQ")                  # chunk count, entry count
CHUNK_ROW = struct.Struct("<QQQIBBH")              # offset, raw, stored, crc, codec, flags, unused
ENTRY_FIXED = struct.Struct("<BBHHHqQII32s")       # type, flags, mode, P, L, mtime, size, chunk, off, sha

BLOCK_CHUNK, BLOCK_INDEX = 1, 2
INDEX_STORE, INDEX_ZSTD = 0x00, 0x01
MODE_MASK = 0o7777


def header_size(model_hash_count: int) -> int:
    return HEADER_FIXED.size + 32 * model_hash_count + HEADER_CRC.size


def pack_header(model_hashes: list[bytes], total_size: int | None = None) -> bytes:
    """The header; zero padding before the CRC when space was reserved (total_size)."""
    m = len(model_hashes)
    size = total_size if total_size is not None else header_size(m)
    assert m <= MAX_MODEL_HASHES and header_size(m) <= size <= MAX_HEADER
    body = HEADER_FIXED.pack(MAGIC, VERSION_MAJOR, VERSION_MINOR, 0, m, 0, size)
    body += b"".join(model_hashes)
    body += bytes(size - HEADER_CRC.size - len(body))
    return body + HEADER_CRC.pack(zlib.crc32(body))


def parse_header_fixed(buf: bytes, where: str) -> tuple[int, int]:
    """Check the first HEADER_FIXED.size bytes; return (model hash count, header size)."""
    if len(buf) < len(MAGIC) or buf[:len(MAGIC)] != MAGIC:
        raise NotAnArchive(where)
    if len(buf) < HEADER_FIXED.size:
        raise CorruptArchive(where, "file ends inside the header (truncated)")
    _, major, minor, _flags, m, _unused, size = HEADER_FIXED.unpack(buf[:HEADER_FIXED.size])
    if major != VERSION_MAJOR:
        if major > VERSION_MAJOR:
            raise UnsupportedVersion(where, f"{major}.{minor}", VERSION_MAJOR)
        raise CorruptArchive(where, f"format version {major}.{minor} does not exist")
    if not header_size(m) <= size <= MAX_HEADER:
        raise CorruptArchive(where, f"header size {size} out of range for {m} model hashes")
    return m, size  # flags are checked after the CRC: a flipped bit is damage, not a feature


def parse_header(buf: bytes, where: str) -> tuple[list[bytes], int]:
    """Validate a whole header (fixed part, hashes, CRC); return (model hashes, header size)."""
    m, size = parse_header_fixed(buf, where)
    if len(buf) < size:
        raise CorruptArchive(where, "file ends inside the header (truncated)")
    (crc,) = HEADER_CRC.unpack_from(buf, size - HEADER_CRC.size)
    if crc != zlib.crc32(buf[:size - HEADER_CRC.size]):
        raise CorruptArchive(where, "header checksum mismatch")
    flags = HEADER_FIXED.unpack_from(buf)[3]
    if flags:
        raise UnsupportedFeature(where, "the header")
    hashes = [bytes(buf[HEADER_FIXED.size + 32 * i: HEADER_FIXED.size + 32 * (i + 1)])
              for i in range(m)]
    return hashes, size


def pack_block(kind: int, codec_id: int, payload_crc: int, raw: int, stored: int) -> bytes:
    head = BLOCK.pack(kind, codec_id, 0, payload_crc, raw, stored, 0)[:-4]
    return head + struct.pack("<I", zlib.crc32(head))


def parse_block(buf: bytes, where: str, what: str) -> tuple[int, int, int, int, int]:
    """Validate a block header; return (kind, codec, payload crc, raw size, stored size)."""
    if len(buf) < BLOCK.size:
        raise CorruptArchive(where, f"{what}: file ends inside its block header (truncated)")
    kind, codec, flags, crc, raw, stored, hcrc = BLOCK.unpack(buf[:BLOCK.size])
    if hcrc != zlib.crc32(buf[:BLOCK.size - 4]):
        raise CorruptArchive(where, f"{what}: block header checksum mismatch")
    if flags:
        raise UnsupportedFeature(where, what)
    if kind not in (BLOCK_CHUNK, BLOCK_INDEX):
        raise CorruptArchive(where, f"{what}: unknown block kind {kind}")
    return kind, codec, crc, raw, stored


def pack_trailer(index_offset: int) -> bytes:
    off = struct.pack("<Q", index_offset)
    return TRAILER.pack(index_offset, zlib.crc32(off), END_MAGIC)


def parse_trailer(buf: bytes, where: str) -> int:
    if len(buf) < TRAILER.size or buf[-len(END_MAGIC):] != END_MAGIC:
        raise CorruptArchive(where, "no end marker in the last bytes (truncated, or not "
                                    "a complete archive)")
    offset, crc, _ = TRAILER.unpack(buf[-TRAILER.size:])
    if crc != zlib.crc32(struct.pack("<Q", offset)):
        raise CorruptArchive(where, "trailer checksum mismatch")
    return offset


def pack_index(chunks: list[ChunkInfo], entries: list[Entry]) -> bytes:
    parts = [INDEX_HEAD.pack(len(chunks), len(entries))]
    for c in chunks:
        parts.append(CHUNK_ROW.pack(c.offset, c.raw_size, c.stored_size, c.crc32, c.codec_id, 0, 0))
    for e in entries:
        parts.append(ENTRY_FIXED.pack(e.type, 0, e.mode & MODE_MASK, len(e.path), len(e.link),
                                      e.mtime_ns, e.size, e.chunk, e.offset, e.sha256))
        parts.append(e.path)
        parts.append(e.link)
    return b"".join(parts)


class _Cursor:
    """Reads fields from the decoded index, refusing to run past its end."""

    def __init__(self, buf: bytes, where: str):
        self.buf, self.pos, self.where = memoryview(buf), 0, where

    def take(self, n: int, what: str) -> memoryview:
        if self.pos + n > len(self.buf):
            raise CorruptArchive(self.where, f"index ends inside {what}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


def parse_index(buf: bytes, where: str) -> tuple[list[ChunkInfo], list[Entry]]:
    """Decode the index. Counts are checked against the bytes actually present before any
    list is built, so a hostile count cannot make the reader allocate."""
    cur = _Cursor(buf, where)
    n_chunks, n_entries = INDEX_HEAD.unpack(cur.take(INDEX_HEAD.size, "its counts"))
    room = len(buf) - INDEX_HEAD.size
    if n_chunks * CHUNK_ROW.size > room:
        raise CorruptArchive(where, f"index claims {n_chunks} chunks but holds only {room} bytes")
    if n_entries * (ENTRY_FIXED.size + 1) > room - n_chunks * CHUNK_ROW.size:
        raise CorruptArchive(where, f"index claims {n_entries} entries but is too short for them")
    chunks, raw_start = [], 0
    for i in range(n_chunks):
        off, raw, stored, crc, codec, flags, _ = CHUNK_ROW.unpack(cur.take(CHUNK_ROW.size, "chunk table"))
        if flags:
            raise UnsupportedFeature(where, f"chunk {i}")
        if raw > MAX_CHUNK_RAW or stored > raw:
            raise CorruptArchive(where, f"chunk {i}: sizes raw={raw} stored={stored} out of range")
        chunks.append(ChunkInfo(off, codec, raw, stored, crc, raw_start))
        raw_start += raw
    entries = []
    for i in range(n_entries):
        (etype, flags, mode, plen, llen, mtime, size, chunk, offset,
         sha) = ENTRY_FIXED.unpack(cur.take(ENTRY_FIXED.size, f"entry {i}"))
        path = bytes(cur.take(plen, f"entry {i}'s path"))
        link = bytes(cur.take(llen, f"entry {i}'s link target"))
        e = Entry(path, etype, mode, mtime, size, chunk, offset, bytes(sha), link)
        if flags or mode & ~MODE_MASK:
            raise UnsupportedFeature(where, f"entry {i} ({e.name})")
        _check_entry(e, i, chunks, raw_start, where)
        entries.append(e)
    if cur.pos != len(buf):
        raise CorruptArchive(where, f"{len(buf) - cur.pos} stray bytes after the last entry")
    return chunks, entries


def _check_entry(e: Entry, i: int, chunks: list[ChunkInfo], total_raw: int, where: str) -> None:
    label = f"entry {i} ({e.name})"
    if e.type not in (FILE, DIRECTORY, SYMLINK):
        raise CorruptArchive(where, f"{label}: unknown type {e.type}")
    if not e.path:
        raise CorruptArchive(where, f"entry {i} has an empty path")
    if (e.type == SYMLINK) != bool(e.link):
        raise CorruptArchive(where, f"{label}: link target present only for symlinks")
    if e.type != FILE or e.size == 0:
        if e.size or e.chunk or e.offset or (e.type != FILE and any(e.sha256)):
            raise CorruptArchive(where, f"{label}: content fields set on an entry without content")
        return
    if e.chunk >= len(chunks) or e.offset >= chunks[e.chunk].raw_size:
        raise CorruptArchive(where, f"{label}: content position chunk {e.chunk} "
                                    f"offset {e.offset} outside the archive")
    if chunks[e.chunk].raw_start + e.offset + e.size > total_raw:
        raise CorruptArchive(where, f"{label}: content runs past the last chunk")
