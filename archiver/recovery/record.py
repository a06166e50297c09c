"""Recovery records (format 1.1): Reed-Solomon parity over an archive's own bytes, so that
damage to any of them (header, chunks, entries, index, trailer, the record itself) up to the
record's capacity is repaired byte for byte. Building one, finding it, checking an archive
against it; archiver/recovery/repair.py writes the repaired archive.

The protected bytes are every byte of the archive outside the recovery block. They are cut
into N blocks of B bytes (the last one zero-padded); block i belongs to group i mod G, as
its data block number i // G, so a burst of damage is spread over the groups. Each group has
M parity blocks (archiver/recovery/code.py) and survives the loss of any M of its blocks."""
from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from archiver.container import layout
from archiver.container.layout import RecoveryHead
from archiver.errors import BBXError, CorruptArchive, UsageError
from archiver.recovery.code import MAX_SYMBOLS, Accumulator, columns

MAX_FILE_OFFSET = 1 << 62        # far past any real file, and pos + n stays within off_t

MIN_BLOCK = 512                 # smallest block: granularity of small archives
TARGET_BLOCKS = 8192            # larger archives: about this many blocks (CRC table ~64 KiB)
PARITY_MEMORY = 64 << 20        # parity held at once while encoding; more groups: more passes
READ = 4 << 20
MIN_PERCENT, MAX_PERCENT, DEFAULT_PERCENT = 1, 50, 5


def geometry(protected: int, percent: int) -> tuple[int, int, int]:
    """(block size B, groups G, parity blocks per group M) giving at least `percent` % of
    the protected bytes as parity."""
    if not MIN_PERCENT <= percent <= MAX_PERCENT:
        raise UsageError(f"recovery record size {percent}% out of range "
                         f"{MIN_PERCENT}..{MAX_PERCENT}%")
    b = max(MIN_BLOCK, -(-protected // TARGET_BLOCKS))
    b = min(layout.MAX_RECOVERY_BLOCK, -(-b // layout.RECOVERY_ALIGN) * layout.RECOVERY_ALIGN)
    n = -(-protected // b)
    g = -(-n // MAX_SYMBOLS)
    while True:
        k = -(-n // g)
        m = -(-k * percent // 100)
        if k + m <= MAX_SYMBOLS:
            return b, g, m
        g += 1


class Protected:
    """Reads the protected bytes of an archive file (the file minus its recovery block).
    Past the end of a truncated file, reads come back short."""

    def __init__(self, fd: int, head: RecoveryHead):
        self.fd, self.head = fd, head

    def file_pos(self, pos: int) -> int:
        return pos if pos < self.head.offset else pos + self.head.record_size

    def read(self, pos: int, n: int) -> bytes:
        end = min(pos + n, self.head.protected)
        cut = self.head.offset
        if pos < cut < end:
            first = os.pread(self.fd, cut - pos, pos)
            if len(first) < cut - pos:
                return first
            return first + os.pread(self.fd, end - cut, self.file_pos(cut))
        return os.pread(self.fd, max(0, end - pos), self.file_pos(pos))

    def block(self, i: int) -> bytes:
        """Data block i as stored (the last one shorter: its padding is implied)."""
        b = self.head.block_size
        return self.read(i * b, b)

    def block_len(self, i: int) -> int:
        b = self.head.block_size
        return min(b, self.head.protected - i * b)


def parity_pos(head: RecoveryHead, q: int) -> int:
    """File position of parity block q (row q // G of group q % G)."""
    return head.offset + layout.BLOCK.size + head.descriptor_size + q * head.block_size


def descriptor_positions(head: RecoveryHead) -> tuple[int, int]:
    start = head.offset + layout.BLOCK.size
    return start, start + head.descriptor_size + head.parity_blocks * head.block_size


def locator_pos(head: RecoveryHead) -> int:
    return head.offset + head.record_size - layout.RECOVERY_LOCATOR.size


# -- building ----------------------------------------------------------------------------------

def add_record(fd: int, percent: int, where: str) -> RecoveryHead:
    """Give the complete archive open read-write on `fd` (no recovery block yet) a recovery
    record of `percent` %: the block goes before the index block, the trailer points at the
    moved index, the header says format 1.1."""
    size = os.fstat(fd).st_size
    index_offset = layout.parse_trailer(os.pread(fd, layout.TRAILER.size,
                                                 size - layout.TRAILER.size), where)
    index = os.pread(fd, size - layout.TRAILER.size - index_offset, index_offset)
    _, hsize = layout.parse_header_fixed(os.pread(fd, layout.HEADER_FIXED.size, 0), where)
    header = os.pread(fd, hsize, 0)
    layout.parse_header(header, where)
    os.pwrite(fd, layout.header_with_minor(header, layout.MINOR_TAIL_BLOCKS), 0)
    b, g, m = geometry(size, percent)
    head = RecoveryHead(m, g, b, size, index_offset, bytes(32))
    os.ftruncate(fd, index_offset)
    end = index_offset + head.record_size
    os.pwrite(fd, index + layout.pack_trailer(end), end)
    src = Protected(fd, head)
    data_crcs, sha = block_crcs(src)
    head = RecoveryHead(m, g, b, size, index_offset, sha)
    parity_crcs = [0] * head.parity_blocks
    for g0, g1 in _group_batches(head):
        parity = encode(src, g0, g1)
        for gi in range(g1 - g0):
            for j in range(m):
                q = j * g + g0 + gi
                row = parity[gi, j].tobytes()
                parity_crcs[q] = zlib.crc32(row)
                os.pwrite(fd, row, parity_pos(head, q))
    write_record_frame(fd, head, data_crcs, parity_crcs)
    return head


def write_record_frame(fd: int, head: RecoveryHead, data_crcs, parity_crcs) -> None:
    """Both descriptors, the locator and the block header (whose CRC covers the payload, so
    the parity must already be in place)."""
    desc = layout.pack_recovery_descriptor(head, data_crcs, parity_crcs)
    for pos in descriptor_positions(head):
        os.pwrite(fd, desc, pos)
    os.pwrite(fd, layout.pack_recovery_locator(head.offset, head.descriptor_size),
              locator_pos(head))
    crc, pos, end = 0, head.offset + layout.BLOCK.size, head.offset + head.record_size
    while pos < end:
        piece = os.pread(fd, min(READ, end - pos), pos)
        crc = zlib.crc32(piece, crc)
        pos += len(piece)
    os.pwrite(fd, layout.pack_block(layout.BLOCK_RECOVERY, 0, crc, head.payload_size,
                                    head.payload_size), head.offset)


def block_crcs(src: Protected) -> tuple[list[int], bytes]:
    """(CRC32 of every data block, SHA-256 of all protected bytes) in one sequential read;
    a block cut short by truncation gets -1 (a mismatch)."""
    head, sha, crcs = src.head, hashlib.sha256(), []
    per_read = max(1, READ // head.block_size)
    for first in range(0, head.data_blocks, per_read):
        count = min(per_read, head.data_blocks - first)
        buf = src.read(first * head.block_size, count * head.block_size)
        sha.update(buf)
        mv = memoryview(buf)
        for i in range(count):
            block = mv[i * head.block_size:(i + 1) * head.block_size]
            # a block cut short matches no CRC (not even a hostile table's CRC of its stub)
            short = len(block) < src.block_len(first + i)
            crcs.append(-1 if short else zlib.crc32(block))
    return crcs, sha.digest()


def _group_batches(head: RecoveryHead):
    per = max(1, PARITY_MEMORY // max(1, head.parity * head.block_size))
    for g0 in range(0, head.groups, per):
        yield g0, min(head.groups, g0 + per)


def encode(src: Protected, g0: int, g1: int) -> np.ndarray:
    """Parity of groups g0..g1-1: array [group - g0, row j, byte]. Reads, for every row of
    G blocks, only the blocks of these groups."""
    head = src.head
    g, b = head.groups, head.block_size
    rows = -(-head.data_blocks // g)
    cols = columns(head.parity, rows)
    parity = np.zeros((g1 - g0, head.parity, b), np.uint8)
    accs = [Accumulator(parity[gi]) for gi in range(g1 - g0)]
    for r in range(rows):
        first, last = r * g + g0, min(r * g + g1, head.data_blocks)
        if first >= last:
            break
        buf = memoryview(src.read(first * b, (last - first) * b))
        for i in range(last - first):
            accs[i].add(cols[r], buf[i * b:(i + 1) * b])
    return parity


# -- finding and checking ----------------------------------------------------------------------

@dataclass
class Record:
    head: RecoveryHead
    data_crcs: list[int]
    parity_crcs: list[int]
    descriptor: bytes           # the good descriptor's bytes


def find(fd: int, where: str) -> Record | None:
    """The archive's recovery record: through the trailer, index and locator when they are
    intact, else by scanning the file for a descriptor whose CRC holds. None: there is none
    (or none left that can be read)."""
    size = os.fstat(fd).st_size
    for pos in _likely_descriptors(fd, size, where):
        rec = _descriptor_at(fd, pos, where)
        if rec is not None:
            return rec
    if _intact_1_0(fd, where):
        return None                 # writers mark archives with a record 1.1: none to scan for
    for pos in _scan(fd, size, layout.RECOVERY_MAGIC):
        rec = _descriptor_at(fd, pos, where)
        if rec is not None:
            return rec
    return None


def _intact_1_0(fd: int, where: str) -> bool:
    try:
        _, hsize = layout.parse_header_fixed(os.pread(fd, layout.HEADER_FIXED.size, 0), where)
        header = os.pread(fd, hsize, 0)
        layout.parse_header(header, where)
    except BBXError:
        return False
    return header[9] < layout.MINOR_TAIL_BLOCKS


def _read_at(fd: int, n: int, pos: int) -> bytes:
    """os.pread at an offset read from the archive itself, which may be anything up to 2^64:
    nothing where no file could reach (os.pread would raise on an offset past 2^63)."""
    return os.pread(fd, n, pos) if 0 <= pos < MAX_FILE_OFFSET else b""


def _likely_descriptors(fd: int, size: int, where: str):
    try:
        index_offset = layout.parse_trailer(os.pread(fd, layout.TRAILER.size,
                                                     max(0, size - layout.TRAILER.size)), where)
    except CorruptArchive:
        return
    pos = index_offset - layout.RECOVERY_LOCATOR.size
    found = layout.parse_recovery_locator(_read_at(fd, layout.RECOVERY_LOCATOR.size, pos))
    if found is not None:
        offset, dsize = found
        yield offset + layout.BLOCK.size
        yield pos - dsize


def _descriptor_at(fd: int, pos: int, where: str) -> Record | None:
    """The descriptor whose head is at `pos`: that copy, the other copy (placed by the head's
    geometry), or, when both are damaged in different places, the two merged."""
    try:
        head = layout.parse_recovery_head(_read_at(fd, layout.RECOVERY_HEAD.size, pos), where)
    except CorruptArchive:
        return None
    places = descriptor_positions(head)
    if pos not in places:
        return None     # not where its own geometry puts it: e.g. an archive inside a chunk
    copies = [os.pread(fd, head.descriptor_size, at) for at in places]
    for buf in copies:
        rec = _parse(buf, where)
        if rec is not None and rec.head == head:
            return rec
    rec = _merge(*copies, where)
    return rec if rec is not None and descriptor_positions(rec.head) == places else None


def _parse(buf: bytes, where: str) -> Record | None:
    try:
        head, data_crcs, parity_crcs = layout.parse_recovery_descriptor(buf, where)
    except CorruptArchive:
        return None
    return Record(head, data_crcs, parity_crcs, buf[:head.descriptor_size])


MERGE_PIECE = 64        # the two copies are compared piece by piece ...
MERGE_MAX = 12          # ... and up to 2^12 mixes of the differing pieces tried


def _merge(a: bytes, b: bytes, where: str) -> Record | None:
    """Both copies damaged: try every mix of their differing pieces against the CRC (damage
    hitting the same piece of both copies is beyond this)."""
    if len(a) != len(b):
        return None
    diff = [i for i in range(0, len(a), MERGE_PIECE) if a[i:i + MERGE_PIECE] != b[i:i + MERGE_PIECE]]
    if not diff or len(diff) > MERGE_MAX:
        return None
    for mask in range(1, 1 << len(diff)):
        mix = bytearray(a)
        for bit, i in enumerate(diff):
            if mask >> bit & 1:
                mix[i:i + MERGE_PIECE] = b[i:i + MERGE_PIECE]
        rec = _parse(bytes(mix), where)
        if rec is not None:
            return rec
    return None


def _scan(fd: int, size: int, magic: bytes):
    overlap = len(magic) - 1
    pos = 0
    while pos < size:
        buf = os.pread(fd, READ + overlap, pos)
        at = buf.find(magic)
        while at >= 0:
            yield pos + at
            at = buf.find(magic, at + 1)
        pos += READ


@dataclass
class Damage:
    """What a check found: damaged data and parity blocks, damaged parts of the record's
    frame, and per group whether its parity still covers its losses."""
    record: Record
    bad_data: list[int] = field(default_factory=list)
    bad_parity: list[int] = field(default_factory=list)
    bad_frame: list[str] = field(default_factory=list)

    @property
    def head(self) -> RecoveryHead:
        return self.record.head

    def group_losses(self) -> dict[int, tuple[list[int], list[int]]]:
        """group -> (lost data positions k, lost parity rows j)."""
        g = self.head.groups
        out: dict[int, tuple[list[int], list[int]]] = {}
        for i in self.bad_data:
            out.setdefault(i % g, ([], []))[0].append(i // g)
        for q in self.bad_parity:
            out.setdefault(q % g, ([], []))[1].append(q // g)
        return out

    def lost_groups(self) -> list[int]:
        m = self.head.parity
        return sorted(g for g, (data, par) in self.group_losses().items()
                      if len(data) > m - len(par))

    @property
    def damaged(self) -> bool:
        return bool(self.bad_data or self.bad_parity or self.bad_frame)

    @property
    def repairable(self) -> bool:
        return not self.lost_groups()

    def lost_blocks(self) -> list[int]:
        lost = set(self.lost_groups())
        return sorted(i for i in self.bad_data if i % self.head.groups in lost)

    def lost_ranges(self) -> list[tuple[int, int]]:
        """Protected byte ranges [start, end) a repair cannot restore, adjacent blocks merged."""
        b, size, out = self.head.block_size, self.head.protected, []
        for i in self.lost_blocks():
            start, end = i * b, min((i + 1) * b, size)
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
        return out

    def summary(self) -> str:
        parts = []
        if self.bad_data:
            parts.append(f"{len(self.bad_data)} of {self.head.data_blocks} blocks of "
                         f"{self.head.block_size} bytes damaged")
        if self.bad_parity:
            parts.append(f"{len(self.bad_parity)} of {self.head.parity_blocks} parity blocks damaged")
        if self.bad_frame:
            parts.append("recovery record's " + ", ".join(self.bad_frame) + " damaged")
        return "; ".join(parts) or "no damage"


def check(fd: int, rec: Record) -> Damage:
    """Every data and parity block against its CRC, and the record's frame (its block header,
    both descriptors, the locator) against what the good descriptor implies."""
    head, dmg = rec.head, Damage(rec)
    crcs, _ = block_crcs(Protected(fd, head))
    dmg.bad_data = [i for i, (a, b) in enumerate(zip(crcs, rec.data_crcs)) if a != b]
    for q, want in enumerate(rec.parity_crcs):
        block = os.pread(fd, head.block_size, parity_pos(head, q))
        if len(block) < head.block_size or zlib.crc32(block) != want:
            dmg.bad_parity.append(q)
    for name, pos in zip(("first descriptor", "second descriptor"), descriptor_positions(head)):
        if os.pread(fd, len(rec.descriptor), pos) != rec.descriptor:
            dmg.bad_frame.append(name)
    if os.pread(fd, layout.RECOVERY_LOCATOR.size, locator_pos(head)) != \
            layout.pack_recovery_locator(head.offset, head.descriptor_size):
        dmg.bad_frame.append("locator")
    try:
        kind, codec, _, raw, stored = layout.parse_block(
            os.pread(fd, layout.BLOCK.size, head.offset), "", "recovery block")
        if (kind, codec, raw, stored) != (layout.BLOCK_RECOVERY, 0, head.payload_size,
                                          head.payload_size):
            raise CorruptArchive("", "")
    except BBXError:                # damaged, or reserved bits set: made again on repair
        dmg.bad_frame.append("block header")
    return dmg
