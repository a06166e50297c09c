"""The byte layout of a .bbx archive: every struct of format_spec/bbx_format.md lives here and
nowhere else. All integers little-endian.

    header | entries block | chunk block ... entries block ... | [hashes block] [recovery block]
        | index block | trailer

Entries blocks (file metadata) follow the chunks holding their content, so the blocks before
any cut still describe themselves: a truncated archive is salvaged by walking them.

Parsing functions validate what they read (magic, CRC, reserved bits, limits) and raise
archiver.errors exceptions; they never allocate more than the limits below allow.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from archiver.container.records import DIRECTORY, FILE, SYMLINK, ChunkInfo, Entry
from archiver.errors import CorruptArchive, NotAnArchive, UnsupportedFeature, UnsupportedVersion

MAGIC = b"\x89BBX\r\n\x1a\n"
END_MAGIC = b"\xabBBXEND\xbb"
VERSION_MAJOR, VERSION_MINOR = 1, 0
MINOR_TAIL_BLOCKS = 1       # format 1.1: blocks of kind 4 (recovery) and 5 (hashes copy) may sit
                            # before the index block; 1.x readers find blocks through the index

# Limits (format_spec/bbx_format.md, "Limits"): writers never exceed them, readers refuse more.
MAX_CHUNK_RAW = 64 << 20
MAX_INDEX_RAW = 1 << 30
# An index or entries block decodes to at most MAX_META_RATIO x its stored size + META_SLACK:
# honest metadata compresses ~150:1 at worst (258,096 empty files, benchmarks/hostile_limits.py),
# a zstd bomb thousands to one. The reader's memory for names is so bounded by the archive's
# size; writers store a block raw rather than exceed the ratio.
MAX_META_RATIO = 256
META_SLACK = 1 << 20
MAX_MODEL_HASHES = 255
MAX_HEADER = 1 << 16

HEADER_FIXED = struct.Struct("<8sBBHHHI")          # magic, major, minor, flags, M, unused, size
HEADER_CRC = struct.Struct("<I")
BLOCK = struct.Struct("<BBHIQQI")                  # kind, codec, flags, crc, raw, stored, hcrc
TRAILER = struct.Struct("<QI8s")                   # index offset, crc of offset, end magic
INDEX_HEAD = struct.Struct("<QQQ")                 # chunk count, entries-block count, entry count
BLOCK_ROW = struct.Struct("<QQQIBBH")              # offset, raw, stored, crc, codec, flags, unused
ENTRY_FIXED = struct.Struct("<BBHHHqQII32s")       # type, flags, mode, P, L, mtime, size, chunk, off, sha

BLOCK_CHUNK, BLOCK_INDEX, BLOCK_ENTRIES, BLOCK_RECOVERY, BLOCK_HASHES = 1, 2, 3, 4, 5
INDEX_STORE, INDEX_ZSTD = 0x00, 0x01
MODE_MASK = 0o7777


def meta_size_ok(raw: int, stored: int) -> bool:
    """May an index or entries block of `stored` bytes decode to `raw` bytes?"""
    return raw <= MAX_INDEX_RAW and raw <= MAX_META_RATIO * stored + META_SLACK


def header_size(model_hash_count: int) -> int:
    return HEADER_FIXED.size + 32 * model_hash_count + HEADER_CRC.size


def pack_header(model_hashes: list[bytes], total_size: int | None = None,
                minor: int = VERSION_MINOR) -> bytes:
    """The header; zero padding before the CRC when space was reserved (total_size)."""
    m = len(model_hashes)
    size = total_size if total_size is not None else header_size(m)
    assert m <= MAX_MODEL_HASHES and header_size(m) <= size <= MAX_HEADER
    body = HEADER_FIXED.pack(MAGIC, VERSION_MAJOR, minor, 0, m, 0, size)
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


def pack_hashes_block(model_hashes: list[bytes]) -> bytes:
    """Format 1.1: the tail copy of the header's model hashes (block kind 5, stored)."""
    payload = b"".join(model_hashes)
    return pack_block(BLOCK_HASHES, 0, zlib.crc32(payload), len(payload), len(payload)) + payload


def parse_hashes_payload(payload: bytes, where: str) -> list[bytes]:
    if len(payload) % 32 or len(payload) > 32 * MAX_MODEL_HASHES:
        raise CorruptArchive(where, "copy of the model hashes has an impossible size")
    return [bytes(payload[i:i + 32]) for i in range(0, len(payload), 32)]


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
    if kind not in (BLOCK_CHUNK, BLOCK_INDEX, BLOCK_ENTRIES, BLOCK_RECOVERY, BLOCK_HASHES):
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


def _row(c: ChunkInfo) -> bytes:
    return BLOCK_ROW.pack(c.offset, c.raw_size, c.stored_size, c.crc32, c.codec_id, 0, 0)


def pack_index(chunks: list[ChunkInfo], segments: list[ChunkInfo], entry_count: int) -> bytes:
    """The tail index: counts, one row per chunk, one row per entries block."""
    return b"".join([INDEX_HEAD.pack(len(chunks), len(segments), entry_count)]
                    + [_row(c) for c in chunks] + [_row(s) for s in segments])


def pack_entries(entries: list[Entry]) -> bytes:
    """The raw data of an entries block: entry records back to back."""
    parts = []
    for e in entries:
        parts.append(ENTRY_FIXED.pack(e.type, 0, e.mode & MODE_MASK, len(e.path), len(e.link),
                                      e.mtime_ns, e.size, e.chunk, e.offset, e.sha256))
        parts.append(e.path)
        parts.append(e.link)
    return b"".join(parts)


class _Cursor:
    """Reads fields from decoded bytes, refusing to run past their end."""

    def __init__(self, buf: bytes, where: str, what: str):
        self.buf, self.pos, self.where, self.what = memoryview(buf), 0, where, what

    def take(self, n: int, field: str) -> memoryview:
        if self.pos + n > len(self.buf):
            raise CorruptArchive(self.where, f"{self.what} ends inside {field}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    @property
    def left(self) -> int:
        return len(self.buf) - self.pos


def parse_index(buf: bytes, where: str) -> tuple[list[ChunkInfo], list[ChunkInfo], int]:
    """Decode the tail index into (chunk rows, entries-block rows, entry count). Counts are
    checked against the bytes present before any list is built, so a hostile count cannot
    make the reader allocate."""
    cur = _Cursor(buf, where, "index")
    n_chunks, n_segments, n_entries = INDEX_HEAD.unpack(cur.take(INDEX_HEAD.size, "its counts"))
    if (n_chunks + n_segments) * BLOCK_ROW.size != cur.left:
        raise CorruptArchive(where, f"index claims {n_chunks} chunks and {n_segments} entries "
                                    f"blocks but holds {cur.left} bytes of rows")
    chunks, raw_start = [], 0
    for i in range(n_chunks):
        c = _parse_row(cur, where, f"chunk {i}")
        if not chunk_sizes_ok(c.raw_size, c.stored_size):
            raise CorruptArchive(where, f"chunk {i}: sizes raw={c.raw_size} "
                                        f"stored={c.stored_size} out of range")
        c.raw_start = raw_start
        raw_start += c.raw_size
        chunks.append(c)
    segments = [_parse_row(cur, where, f"entries block {i}") for i in range(n_segments)]
    total = sum(s.raw_size for s in segments)
    if total > MAX_INDEX_RAW or n_entries * (ENTRY_FIXED.size + 1) > total:
        raise CorruptArchive(where, f"index claims {n_entries} entries in {total} bytes of "
                                    "entries blocks: out of range")
    return chunks, segments, n_entries


def chunk_sizes_ok(raw: int, stored: int) -> bool:
    """Writers never write an empty chunk, nor one larger than the limit or its raw data."""
    return 0 < raw <= MAX_CHUNK_RAW and stored <= raw


def _parse_row(cur: _Cursor, where: str, what: str) -> ChunkInfo:
    off, raw, stored, crc, codec, flags, _ = BLOCK_ROW.unpack(cur.take(BLOCK_ROW.size, what))
    if flags:
        raise UnsupportedFeature(where, what)
    return ChunkInfo(off, codec, raw, stored, crc)


ZERO_SHA = bytes(32)


def parse_entries(buf: bytes, chunks: list[ChunkInfo], where: str, what: str) -> list[Entry]:
    """Decode a whole entries block; every entry is checked against the chunks it refers to."""
    parser = EntryParser(chunks, where, what)
    entries = parser.feed(buf)
    parser.finish()
    return entries


class EntryParser:
    """Decodes an entries block from pieces of its raw data as they arrive, so that a reader
    never holds a whole block's raw bytes next to the entries made from them."""

    def __init__(self, chunks: list[ChunkInfo], where: str, what: str):
        self.chunks, self.where, self.what = chunks, where, what
        self.total_raw = chunks[-1].raw_start + chunks[-1].raw_size if chunks else 0
        self.buf = bytearray()

    def feed(self, piece) -> list[Entry]:
        buf = self.buf
        buf += piece
        entries, pos, end = [], 0, len(buf)
        while end - pos >= ENTRY_FIXED.size:
            (etype, flags, mode, plen, llen, mtime, size, chunk, offset,
             sha) = ENTRY_FIXED.unpack_from(buf, pos)
            start = pos + ENTRY_FIXED.size
            if end - start < plen + llen:
                break                                  # the rest comes with the next piece
            path = bytes(buf[start:start + plen])
            link = bytes(buf[start + plen:start + plen + llen])
            e = Entry(path, etype, mode, mtime, size, chunk, offset,
                      ZERO_SHA if sha == ZERO_SHA else sha, link)
            if flags or mode & ~MODE_MASK:
                raise UnsupportedFeature(self.where, f"entry {e.name}")
            _check_entry(e, self.chunks, self.total_raw, self.where)
            entries.append(e)
            pos = start + plen + llen
        del buf[:pos]
        return entries

    def finish(self) -> None:
        if len(self.buf) >= ENTRY_FIXED.size:
            raise CorruptArchive(self.where, f"{self.what} ends inside an entry's path or link target")
        if self.buf:
            raise CorruptArchive(self.where, f"{self.what} ends inside an entry")


def _check_entry(e: Entry, chunks: list[ChunkInfo], total_raw: int, where: str) -> None:
    if e.type not in (FILE, DIRECTORY, SYMLINK):
        raise CorruptArchive(where, f"entry {e.name}: unknown type {e.type}")
    if not e.path:
        raise CorruptArchive(where, "an entry has an empty path")
    if (e.type == SYMLINK) != bool(e.link):
        raise CorruptArchive(where, f"entry {e.name}: link target present only for symlinks")
    if e.type != FILE or e.size == 0:
        if e.size or e.chunk or e.offset or (e.type != FILE and any(e.sha256)):
            raise CorruptArchive(where, f"entry {e.name}: content fields set on an entry without content")
        return
    if e.chunk >= len(chunks) or e.offset >= chunks[e.chunk].raw_size:
        raise CorruptArchive(where, f"entry {e.name}: content position chunk {e.chunk} "
                                    f"offset {e.offset} outside the archive")
    if chunks[e.chunk].raw_start + e.offset + e.size > total_raw:
        raise CorruptArchive(where, f"entry {e.name}: content runs past the last chunk")


# -- recovery record (format 1.1) ---------------------------------------------------------------
# One block of kind BLOCK_RECOVERY, codec 0 (raw = stored), just before the index block:
#   descriptor | parity blocks | the same descriptor again | locator
# The descriptor gives the code's geometry and a CRC32 per data and parity block, so damage is
# located block by block; the locator, the last bytes before the index block, says where the
# record starts. archiver/recovery/ owns the code; this is its byte layout.
RECOVERY_MAGIC = b"\x8dBBXRCV\n"
RECOVERY_END_MAGIC = b"\xabBBXRCV\xbb"
# magic, flags, parity blocks per group M, groups G, block size B, unused,
# protected size L, record offset, SHA-256 of the protected bytes
RECOVERY_HEAD = struct.Struct("<8sHHIIIQQ32s")
RECOVERY_LOCATOR = struct.Struct("<QII8s")         # record offset, descriptor size, crc, magic
RECOVERY_ALIGN = 64                                # block sizes are multiples of this
MAX_RECOVERY_BLOCK = 1 << 24
MAX_RECOVERY_TABLE = 1 << 22                       # data + parity blocks (16 MiB of CRCs)


@dataclass(frozen=True)
class RecoveryHead:
    parity: int             # M: parity blocks per group
    groups: int             # G
    block_size: int         # B
    protected: int          # L: bytes of the archive outside the recovery block
    offset: int             # file position of the recovery block header
    sha256: bytes           # of the protected bytes

    @property
    def data_blocks(self) -> int:
        return -(-self.protected // self.block_size)

    @property
    def parity_blocks(self) -> int:
        return self.groups * self.parity

    @property
    def descriptor_size(self) -> int:
        return RECOVERY_HEAD.size + 4 * (self.data_blocks + self.parity_blocks) + 4

    @property
    def payload_size(self) -> int:
        return 2 * self.descriptor_size + self.parity_blocks * self.block_size + RECOVERY_LOCATOR.size

    @property
    def record_size(self) -> int:
        """Bytes of the whole recovery block, its block header included."""
        return BLOCK.size + self.payload_size


def pack_recovery_descriptor(head: RecoveryHead, data_crcs, parity_crcs) -> bytes:
    assert len(data_crcs) == head.data_blocks and len(parity_crcs) == head.parity_blocks
    body = RECOVERY_HEAD.pack(RECOVERY_MAGIC, 0, head.parity, head.groups, head.block_size, 0,
                              head.protected, head.offset, head.sha256)
    body += struct.pack(f"<{len(data_crcs) + len(parity_crcs)}I", *data_crcs, *parity_crcs)
    return body + struct.pack("<I", zlib.crc32(body))


def parse_recovery_head(buf: bytes, where: str) -> RecoveryHead:
    """The fixed part of a descriptor, its ranges checked (so the table it implies is
    bounded) but not yet its CRC, which covers the table too, nor its flags."""
    if len(buf) < RECOVERY_HEAD.size or buf[:8] != RECOVERY_MAGIC:
        raise CorruptArchive(where, "recovery record: no descriptor here")
    _, flags, m, g, b, _, size, offset, sha = RECOVERY_HEAD.unpack_from(buf)
    head = RecoveryHead(m, g, b, size, offset, sha)
    if (not 0 < b <= MAX_RECOVERY_BLOCK or b % RECOVERY_ALIGN or not m or not g or not size
            or offset > size or -(-head.data_blocks // g) + m > 256
            or head.data_blocks + head.parity_blocks > MAX_RECOVERY_TABLE):
        raise CorruptArchive(where, "recovery record: impossible geometry")
    return head


def parse_recovery_descriptor(buf: bytes, where: str) -> tuple[RecoveryHead, list[int], list[int]]:
    """A whole descriptor: (head, CRC32 of each data block, CRC32 of each parity block)."""
    head = parse_recovery_head(buf, where)
    size = head.descriptor_size
    if len(buf) < size or struct.unpack_from("<I", buf, size - 4)[0] != zlib.crc32(buf[:size - 4]):
        raise CorruptArchive(where, "recovery record: descriptor checksum mismatch")
    if RECOVERY_HEAD.unpack_from(buf)[1]:      # flags, trusted once the CRC holds
        raise UnsupportedFeature(where, "the recovery record")
    table = struct.unpack_from(f"<{head.data_blocks + head.parity_blocks}I", buf, RECOVERY_HEAD.size)
    return head, list(table[:head.data_blocks]), list(table[head.data_blocks:])


def pack_recovery_locator(offset: int, descriptor_size: int) -> bytes:
    fields = struct.pack("<QI", offset, descriptor_size)
    return RECOVERY_LOCATOR.pack(offset, descriptor_size, zlib.crc32(fields), RECOVERY_END_MAGIC)


def parse_recovery_locator(buf: bytes) -> tuple[int, int] | None:
    """(record offset, descriptor size) from the bytes before the index block, or None."""
    if len(buf) != RECOVERY_LOCATOR.size or buf[-8:] != RECOVERY_END_MAGIC:
        return None
    offset, dsize, crc, _ = RECOVERY_LOCATOR.unpack(buf)
    if crc != zlib.crc32(struct.pack("<QI", offset, dsize)):
        return None
    return offset, dsize


def header_with_minor(buf: bytes, minor: int) -> bytes:
    """A valid header with its version_minor replaced (and its CRC made again)."""
    body = bytearray(buf[:-HEADER_CRC.size])
    body[9] = minor
    return bytes(body) + HEADER_CRC.pack(zlib.crc32(body))
