"""Repair an archive from its recovery record: the damaged blocks of every group whose parity
still covers its losses are rebuilt, the record's damaged parity and frame are made again,
and the result goes to a temporary file renamed over the output, never written in place.
Blocks beyond the record's capacity stay as they were (zeros where the file was cut), and
are named, with the archive structures and files they hold."""
from __future__ import annotations

import os
import tempfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from archiver import tempfiles
from archiver.container import layout
from archiver.recovery.code import Accumulator, coefficient, decoder
from archiver.recovery.record import (READ, Damage, Protected, Record, block_crcs, check,
                                      find, parity_pos, write_record_frame)
from archiver.errors import (BBXError, CorruptArchive, DamagedRepairable, InputError,
                             InputNotFound, OutputError, Unrepairable, WouldOverwrite)


@dataclass
class RepairReport:
    damage: Damage
    repaired_blocks: int = 0
    lost: list[str] = field(default_factory=list)       # what the unrepaired blocks hold
    written: bool = False


def open_checked(path: bytes | str):
    """(fd, record, damage) for an archive; record and damage are None without a record."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise InputNotFound(os.fsdecode(path)) from None
    except OSError as exc:
        raise InputError(os.fsdecode(path), exc.strerror) from None
    try:
        rec = find(fd, os.fsdecode(path))
        return fd, rec, (check(fd, rec) if rec is not None else None)
    except BaseException:
        os.close(fd)
        raise


def assess(path: bytes | str) -> tuple[Damage | None, BBXError | None]:
    """(damage found against the recovery record, the error that says so) for verify;
    (None, None) for an archive without a record, (damage, None) for an intact one."""
    fd, rec, dmg = open_checked(path)
    os.close(fd)
    return dmg, (verdict(os.fsencode(path), dmg) if dmg is not None else None)


def verdict(path: bytes, dmg: Damage) -> BBXError | None:
    where = os.fsdecode(path)
    if not dmg.damaged:
        return None
    if dmg.repairable:
        return DamagedRepairable(where, dmg.summary(), where)
    return Unrepairable(where, dmg.summary(), "; ".join(describe(path, dmg.record, dmg)))


def repair(path: bytes | str, output: bytes | str | None = None,
           force: bool = False) -> RepairReport:
    """Repair `path` into `output` (default: `path` itself, replaced by rename); another
    existing `output` is replaced only with `force`."""
    where = os.fsdecode(path)
    if output is not None and os.path.lexists(output) and not force and not (
            os.path.exists(path) and os.path.samefile(path, output)):
        raise WouldOverwrite(os.fsdecode(output))
    fd, rec, dmg = open_checked(path)
    try:
        if rec is None:
            raise CorruptArchive(where, "it has no recovery record (or none that can be "
                                        "read), so it cannot be repaired")
        report = RepairReport(dmg)
        if not dmg.damaged and output is None:
            return report
        _plausible(fd, rec, where)
        out_path = os.fsencode(output if output is not None else path)
        _write_repaired(fd, rec, dmg, out_path, report)
    finally:
        os.close(fd)
    if not dmg.repairable:
        report.lost = describe(out_path, rec, dmg)
    return report


def _plausible(fd: int, rec: Record, where: str) -> None:
    """Refuse a record (hostile, or of another archive) that would make repair write or hold
    more than this file can justify: an archive longer than the file by more than the
    record's parity, or a group needing more memory than the file's size."""
    head, size = rec.head, os.fstat(fd).st_size
    missing = head.protected + head.record_size - size
    parity = head.parity_blocks * head.block_size
    if missing > parity:
        raise CorruptArchive(where, f"the recovery record describes an archive {missing} bytes "
                                    f"longer than this file, more than its {parity} bytes of "
                                    "parity can rebuild")
    if 3 * head.parity * head.block_size > max(size, MEMORY_FLOOR):
        raise CorruptArchive(where, "recovery record's geometry asks for more memory than "
                                    "the archive's size can justify")


MEMORY_FLOOR = 256 << 20


def _write_repaired(fd: int, rec: Record, dmg: Damage, out_path: bytes, report) -> None:
    head = rec.head
    out_dir = os.path.dirname(os.path.abspath(out_path))
    try:
        ofd, tmp = tempfile.mkstemp(dir=out_dir, prefix=b"." + os.path.basename(out_path) + b".",
                                    suffix=b".tmp")
    except OSError as exc:
        raise OutputError(os.fsdecode(out_path), exc.strerror) from None
    token = tempfiles.track(tmp)
    try:
        total = head.protected + head.record_size
        _copy(fd, ofd, total)
        os.ftruncate(ofd, total)
        report.repaired_blocks = _rebuild(fd, ofd, dmg)
        data_crcs, parity_crcs = rec.data_crcs, rec.parity_crcs
        if dmg.repairable:
            data_crcs, parity_crcs = _confirm(ofd, rec, os.fsdecode(out_path))
        write_record_frame(ofd, head, data_crcs, parity_crcs)
        os.fsync(ofd)
        os.close(ofd)
        ofd = -1
        if os.path.exists(out_path):
            os.chmod(tmp, os.stat(out_path).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
        report.written = True
    except BaseException:
        if ofd >= 0:
            os.close(ofd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        tempfiles.forget(token)


def _copy(src: int, dst: int, total: int) -> None:
    pos = 0
    while pos < total:
        piece = os.pread(src, min(READ, total - pos), pos)
        if not piece:
            break
        os.pwrite(dst, piece, pos)
        pos += len(piece)


def _rebuild(fd: int, ofd: int, dmg: Damage) -> int:
    """Rebuild the lost data and parity blocks of every group that can be; returns how many
    data blocks were rebuilt."""
    head = dmg.head
    src = Protected(fd, head)
    g, b, m = head.groups, head.block_size, head.parity
    rebuilt = 0
    for group, (lost, bad_rows) in sorted(dmg.group_losses().items()):
        good_rows = [j for j in range(m) if j not in bad_rows]
        if len(lost) > len(good_rows):
            continue
        rows = good_rows[:len(lost)]
        ks = range(-(-(head.data_blocks - group) // g))      # data positions of this group
        syn = Accumulator.zeros(len(rows), b)
        par = Accumulator.zeros(len(bad_rows), b)
        for k in ks:
            if k in lost:
                continue
            block = src.block(k * g + group)
            syn.add([coefficient(j, k) for j in rows], block)
            par.add([coefficient(j, k) for j in bad_rows], block)
        for r, j in enumerate(rows):
            syn.rows[r] ^= np.frombuffer(os.pread(fd, b, parity_pos(head, j * g + group)), np.uint8)
        data = Accumulator.zeros(len(lost), b)
        if lost:
            x = decoder(lost, rows)
            for r in range(len(rows)):
                data.add(x[:, r], syn.rows[r].tobytes())
        for n, k in enumerate(lost):
            i = k * g + group
            block = data.rows[n, :src.block_len(i)].tobytes()
            _write_protected(ofd, head, i * b, block)
            par.add([coefficient(j, k) for j in bad_rows], block)
            rebuilt += 1
        for r, j in enumerate(bad_rows):
            os.pwrite(ofd, par.rows[r].tobytes(), parity_pos(head, j * g + group))
    return rebuilt


def _write_protected(ofd: int, head, pos: int, block: bytes) -> None:
    """Write protected bytes at protected position `pos`; a block straddling the recovery
    block goes either side of it."""
    cut = head.offset - pos
    if 0 < cut < len(block):
        os.pwrite(ofd, block[:cut], pos)
        os.pwrite(ofd, block[cut:], head.offset + head.record_size)
    else:
        os.pwrite(ofd, block, pos if pos < head.offset else pos + head.record_size)


def _confirm(ofd: int, rec: Record, where: str) -> tuple[list[int], list[int]]:
    """The repaired protected bytes must hash to the SHA-256 recorded when the record was
    made: a repair is byte for byte or it is an error. Returns the CRC tables of the repaired
    blocks, written into the new record: the bytes the SHA-256 vouches for are the truth, so
    a table entry that disagrees with them (a hostile descriptor) does not outlive the repair."""
    head = rec.head
    data_crcs, sha = block_crcs(Protected(ofd, head))
    if sha != head.sha256:
        raise CorruptArchive(where, "repaired bytes do not match the recovery record's "
                                    "SHA-256 (damage its checksums could not see); the "
                                    "repair was not written")
    parity_crcs = [zlib.crc32(os.pread(ofd, head.block_size, parity_pos(head, q)))
                   for q in range(head.parity_blocks)]
    return data_crcs, parity_crcs


def describe(path: bytes, rec: Record, dmg: Damage) -> list[str]:
    """Name what the unrepaired byte ranges hold: header, chunks (with their files), entries
    blocks, index, trailer, read from the (partly repaired) archive at `path`."""
    from archiver.container.reader import ArchiveReader      # the reader needs the codecs
    out = Protected(-1, rec.head)
    ranges = [(out.file_pos(s), out.file_pos(e - 1) + 1) for s, e in dmg.lost_ranges()]
    names = [f"bytes {s}..{e - 1}" for s, e in ranges]

    def hits(start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in ranges)
    try:
        reader = ArchiveReader(path)
    except Exception as exc:      # noqa: BLE001 - whatever is left cannot be opened at all
        return names + [f"the archive cannot be opened ({exc})"]
    with reader:
        if hits(0, reader.header_size):
            names.append("the header (its model hashes)")
        for i, c in enumerate(reader.chunks):
            if hits(c.offset, c.offset + layout.BLOCK.size + c.stored_size):
                files = [e.name for e in reader.chunk_files(i)]
                names.append(f"chunk {i} (files: {', '.join(files) or 'none named'})")
        if hits(reader.index_offset, reader.size):
            names.append("the index and trailer")
        names += [p.message() for p in reader.problems]
    return names
