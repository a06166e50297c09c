"""Write a .bbx archive: scan the inputs, cut their content into chunks, code each chunk with
the best codec, then write the index, the trailer and finally the header.

Chunks are cut here, in reading order, and coded in the one pool (archiver/container/pool.py,
or Dask workers through archiver/container/cluster.py), which hands them back in order: this
module alone writes, so the archive is the same whatever the number of workers. Memory stays
bounded: content is read in blocks and reading waits while the pool has its bound of chunks
in flight; small files are grouped into one chunk, a large file is split across several. The archive is written to a temporary
file beside the output and renamed into place only when complete, so an interrupted create
never leaves a truncated archive under the final name."""
from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import zlib
from dataclasses import dataclass, field

import zstandard

from archiver.codecs import registry
from archiver.container import chunking, layout, router
from archiver.container.chunk_coder import (STORE_ID, ZSTD_ID, ChunkCoder, coder_for,
                                            encode_chunk, resolve)
from archiver.container.pool import NoProgress, Pool, Task
from archiver.container.records import DIRECTORY, FILE, SYMLINK, ChunkInfo, Entry, display
from archiver.container.scanner import Excluder, Item, Skipped, open_input, scan
from archiver import tempfiles
from archiver.recovery.record import add_record, geometry
from archiver.errors import BBXError, DiskFull, InputError, OutputError, WouldOverwrite

DEFAULT_LEVEL = 19
DEFAULT_CHUNK_SIZE = 16 << 20
READ_BLOCK = 1 << 20
INDEX_LEVEL = 19


@dataclass
class CodecStats:
    files: int = 0
    chunks: int = 0
    raw: int = 0
    stored: int = 0
    seconds: float = 0.0    # spent coding its chunks, summed over workers (every codec tried)


@dataclass
class CreateReport:
    path: str
    files: int = 0
    dirs: int = 0
    links: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    by_codec: dict[str, CodecStats] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)     # something was skipped: exit code 1


def _route(item: Item) -> str:
    """The router's class of one file, from its head (OTHER when it cannot be read now: the
    read that follows reports why). A whole-file class needs the file in one chunk."""
    try:
        with open_input(item) as f:
            head = f.read(router.HEAD_BYTES) or b""
    except (OSError, Skipped):
        return router.OTHER
    cls = router.classify(head)
    if cls in router.WHOLE_FILE and item.stat_size > layout.MAX_CHUNK_RAW:
        return router.OTHER
    return cls


def _content_order(items: list[Item], chunk_size: int, parts: int = chunking.PARTS
                   ) -> tuple[list[tuple[str, Item]], dict[str, int]]:
    """Files grouped by content class, then similar files side by side (by extension, then
    name; photos and JPEGs, one chunk each, largest first): each class fills chunks of its
    own, and similar neighbours make better chunks.
    The classes come in archiver/container/chunking.py's order (longest chunks first), each
    with its chunk size (from the class's total size): both from the input alone."""
    routed = [(_route(i), i) for i in items if i.entry.type == FILE]
    totals: dict[str, int] = {}
    largest: dict[str, int] = {}
    for cls, item in routed:
        totals[cls] = totals.get(cls, 0) + item.stat_size
        largest[cls] = max(largest.get(cls, 0), item.stat_size)
    sizes = {cls: chunking.chunk_size(cls, total, chunk_size, parts)
             for cls, total in totals.items()}
    rank = {cls: k for k, cls in enumerate(chunking.class_order(totals, sizes, largest))}

    def key(pair: tuple[str, Item]):
        cls, item = pair
        base = item.entry.path.rsplit(b"/", 1)[-1]
        ext = base.rsplit(b".", 1)[-1].lower() if b"." in base[1:] else b""
        # a whole-file class is one chunk per file: largest first, as the classes are (a big
        # photo coded last would keep one worker busy while the others idle)
        size = -item.stat_size if cls in router.WHOLE_FILE else 0
        return rank[cls], size, ext, base, item.entry.path
    return sorted(routed, key=key), sizes


def _write_block(out, kind: int, codec_id: int, payload: bytes, raw_size: int) -> ChunkInfo:
    crc = zlib.crc32(payload)
    offset = out.tell()
    out.write(layout.pack_block(kind, codec_id, crc, raw_size, len(payload)))
    out.write(payload)
    return ChunkInfo(offset, codec_id, raw_size, len(payload), crc)


def _write_meta(out, kind: int, raw: bytes) -> ChunkInfo:
    """An index or entries block: zstd when that is smaller and within the format's ratio
    limit (readers refuse more, as they would a zstd bomb), else stored."""
    packed = zstandard.ZstdCompressor(level=INDEX_LEVEL, write_content_size=True).compress(raw)
    use_zstd = len(packed) < len(raw) and layout.meta_size_ok(len(raw), len(packed))
    codec, payload = (ZSTD_ID, packed) if use_zstd else (STORE_ID, raw)
    return _write_block(out, kind, codec, payload, len(raw))


@dataclass
class _Cut:
    """What the writer needs back with a coded chunk."""
    raw_size: int
    content_class: str
    done: list[Entry]          # entries completed before the cut: their entries block follows


class _Chunker:
    """Collects content into chunks of at most chunk_size bytes; each full chunk becomes a
    pool Task (made by `make_task`) waiting in `ready`. Chunk numbers are fixed here, in
    reading order, so the archive does not depend on how the chunks are coded."""

    def __init__(self, chunk_size: int, make_task):
        self.chunk_size, self.make_task = chunk_size, make_task
        self.parts: list[bytes] = []
        self.pieces: list[tuple[bytes, int, int]] = []    # (source, offset, length) of parts
        self.fill = 0
        self.first_path = ""
        self.content_class = router.OTHER
        self.packed = False         # fill every chunk to the byte (chunking.PACKED)
        self.count = 0
        self.pending: list[Entry] = []      # complete entries not yet after a chunk
        self.ready: list = []

    @property
    def room(self) -> int:
        return self.chunk_size - self.fill

    def position(self) -> tuple[int, int]:
        return self.count, self.fill

    def add(self, data: bytes, path: str, source: bytes, offset: int) -> None:
        if not self.fill:
            self.first_path = path
        self.parts.append(data)
        self.pieces.append((source, offset, len(data)))
        self.fill += len(data)
        if self.fill >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        if not self.fill:
            return
        raw = b"".join(self.parts)
        cut = _Cut(len(raw), self.content_class, self.pending)
        self.ready.append(self.make_task(self.count, raw, self.pieces, self.first_path,
                                         self.content_class, cut))
        self.parts, self.pieces, self.fill, self.pending = [], [], 0, []
        self.count += 1

    def take(self) -> list:
        out, self.ready = self.ready, []
        return out


class _LocalTasks:
    """Makes the task of a chunk sent to a local worker as bytes."""

    def __init__(self, settings: tuple):
        self.settings = settings

    def __call__(self, seq: int, raw: bytes, pieces, first_path: str, content_class: str,
                 cut: _Cut) -> Task:
        return Task(encode_chunk, (seq, raw, None, first_path, content_class, *self.settings),
                    len(raw), content_class, cut)


class _Blocks:
    """Writes coded chunks, and entries blocks after them, in order."""

    def __init__(self, out, report: CreateReport, progress):
        self.out, self.report, self.progress = out, report, progress
        self.chunks: list[ChunkInfo] = []
        self.segments: list[ChunkInfo] = []
        self.entries: list[Entry] = []      # every entry written
        self.entries_raw = 0

    def write_entries(self, entries: list[Entry], content_class: str | None = None) -> None:
        if not entries:
            return
        raw = layout.pack_entries(entries)
        self.entries_raw += len(raw)
        if self.entries_raw > layout.MAX_INDEX_RAW:
            raise OutputError(self.out.name, "more entries than the format allows in one "
                                             "archive; split the input into several archives")
        self.segments.append(_write_meta(self.out, layout.BLOCK_ENTRIES, raw))
        self.entries += entries
        files = sum(e.type == FILE for e in entries)
        if files:
            self.progress.advance(files=files, content_class=content_class)

    def write_chunk(self, cut: _Cut, codec_id: int, payload: bytes, seconds: float = 0.0) -> None:
        self.chunks.append(_write_block(self.out, layout.BLOCK_CHUNK, codec_id, payload,
                                        cut.raw_size))
        stats = self.report.by_codec.setdefault(registry.get(codec_id).name, CodecStats())
        stats.chunks += 1
        stats.raw += cut.raw_size
        stats.stored += len(payload) + layout.BLOCK.size
        stats.seconds += seconds
        self.write_entries(cut.done, cut.content_class)


def write_archive(output: str | bytes, inputs: list, *, level: int = DEFAULT_LEVEL,
                  exclude: tuple[str, ...] = (), force: bool = False,
                  chunk_size: int = DEFAULT_CHUNK_SIZE, progress=None,
                  codecs: list[str] | None = None, jobs: int | None = None,
                  scheduler=None, shared: bool = False,
                  parts: int = chunking.PARTS, recovery: int | None = None) -> CreateReport:
    """`recovery`: add a recovery record of that many percent (archiver/recovery/). `jobs`
    worker processes code the chunks (None or 0: every core); with `scheduler` (a
    Dask scheduler address or distributed.Client) the chunks are coded on that cluster, and
    with `shared` its workers read the inputs from the same paths instead of being sent the
    bytes. The archive is the same byte for byte in every case. `parts`: text is cut into up
    to this many chunks for parallelism (archiver/container/chunking.py; 1: the smallest
    archive, in as few chunks as chunk_size allows)."""
    if not 0 < chunk_size <= layout.MAX_CHUNK_RAW:
        raise ValueError(f"chunk size must be in 1..{layout.MAX_CHUNK_RAW}")
    if recovery is not None:
        geometry(1, recovery)           # an impossible size is refused before any work
    progress = progress or NoProgress()
    allowed = resolve(codecs)
    out_path = os.fsencode(output)
    report = CreateReport(display(out_path))
    warn = report.warnings.append
    if os.path.isdir(out_path):
        raise OutputError(report.path, "it is a directory")
    if os.path.lexists(out_path) and not force:
        raise WouldOverwrite(report.path)
    if os.path.islink(out_path):
        # As cp and tar do, an output that is a symlink is written through: the file it
        # points at is replaced and the link stays.
        out_path = os.path.realpath(out_path)
        if os.path.isdir(out_path):
            raise OutputError(report.path, "it is a symlink to a directory")
    coder = ChunkCoder(level, warn, allowed)
    settings = (level, allowed, coder.hashes)      # a worker's coder is built from these
    if scheduler is not None:
        from archiver.container.cluster import DaskPool
        pool = DaskPool(scheduler, settings, progress, shared=shared)
        make_task = pool.make_task
    else:
        pool = Pool(jobs, init=coder_for, initargs=settings, progress=progress)
        make_task = _LocalTasks(settings)
    try:
        _write_tmp(out_path, inputs, exclude, coder, pool, make_task, (chunk_size, parts),
                   progress, report, recovery)
    finally:
        pool.close(cancel=True)             # no-op when the pool finished its work
    return report


def _write_tmp(out_path: bytes, inputs, exclude, coder, pool, make_task, cutting, progress,
               report, recovery):
    """Write to a temporary file beside the output, renamed into place when complete."""
    warn = report.warnings.append
    out_dir = os.path.dirname(os.path.abspath(out_path))
    try:
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=b"." + os.path.basename(out_path) + b".",
                                   suffix=b".tmp")
    except OSError as exc:
        raise _output_error(report.path, exc) from None
    token = tempfiles.track(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            skip = {_inode(os.fstat(out.fileno()))}     # never archive the archive itself
            if os.path.exists(out_path):
                skip.add(_inode(os.stat(out_path)))
            items = scan(inputs, Excluder(exclude), skip, warn)
            _write(out, items, coder, pool, make_task, cutting, progress, report)
            out.flush()
            if recovery is not None:
                add_record(out.fileno(), recovery, report.path)
            os.fsync(out.fileno())
            report.output_bytes = os.fstat(out.fileno()).st_size
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, out_path)
    except OSError as exc:             # reading errors are InputError already: this is output
        _remove(tmp)
        raise _output_error(report.path, exc) from None
    except BaseException:
        _remove(tmp)
        raise
    finally:
        tempfiles.forget(token)


def _remove(tmp: bytes) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _output_error(path: str, exc: OSError) -> BBXError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(path)
    return OutputError(path, exc.strerror)


def _inode(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write(out, items: list[Item], coder: ChunkCoder, pool, make_task,
           cutting: tuple[int, int], progress, report: CreateReport) -> None:
    chunk_size, parts = cutting
    reserved = layout.header_size(len(coder.possible_hashes()))
    out.write(bytes(reserved))
    files, sizes = _content_order(items, chunk_size, parts)
    by_class: dict[str, int] = {}
    for cls, item in files:
        by_class[cls] = by_class.get(cls, 0) + item.stat_size
    progress.start(len(files), sum(by_class.values()), by_class)
    for cls in sorted({cls for cls, _ in files}):
        coder.warn_unusable(cls)        # a model that would apply but cannot run: say so once
    chunker = _Chunker(chunk_size, make_task)
    blocks = _Blocks(out, report, progress)
    blocks.write_entries([i.entry for i in items if i.entry.type != FILE])  # dirs and links
    for task, result in pool.map(_read(files, chunker, sizes, report.warnings.append)):
        codec_id, payload, warnings, seconds = result.result()
        report.warnings += warnings
        blocks.write_chunk(task.ref, codec_id, payload, seconds)
    blocks.write_entries(chunker.pending)
    for e in blocks.entries:
        report.files += e.type == FILE
        report.dirs += e.type == DIRECTORY
        report.links += e.type == SYMLINK
        report.input_bytes += e.size
        if e.type == FILE and e.size:
            report.by_codec[registry.get(blocks.chunks[e.chunk].codec_id).name].files += 1
    used = sorted({h for c in {c.codec_id for c in blocks.chunks} for h in coder.hashes.get(c, ())})
    hashes = [bytes.fromhex(h) for h in used]
    if hashes:                  # a damaged header then costs nothing (format 1.1)
        out.write(layout.pack_hashes_block(hashes))
    index = _write_meta(out, layout.BLOCK_INDEX,
                        layout.pack_index(blocks.chunks, blocks.segments, len(blocks.entries)))
    out.write(layout.pack_trailer(index.offset))
    out.seek(0)
    out.write(layout.pack_header(hashes, reserved,
                                 layout.MINOR_TAIL_BLOCKS if hashes else layout.VERSION_MINOR))
    out.seek(0, os.SEEK_END)


def _read(files: list[tuple[str, Item]], chunker: _Chunker, sizes: dict[str, int], warn):
    """Read the files in content order and yield the chunk tasks as they fill; `sizes`: the
    chunk size of each class."""
    for cls, item in files:
        whole = cls in router.WHOLE_FILE
        if cls != chunker.content_class or whole:
            chunker.flush()                 # a class change, or a whole file, starts a chunk
            chunker.content_class = cls
            chunker.chunk_size = max(sizes[cls], item.stat_size) if whole else sizes[cls]
            chunker.packed = cls in chunking.PACKED
        if (yield from _add_file(item, chunker, warn)):
            chunker.pending.append(item.entry)
        if whole:
            chunker.flush()
        yield from chunker.take()
    chunker.flush()
    yield from chunker.take()


def _add_file(item: Item, chunker: _Chunker, warn):
    """Stream one file into the chunks, yielding chunks as they fill; returns False when it
    could not be read as a regular file (vanished, or replaced by a FIFO, device or symlink
    since the scan): skipped with a warning. A file that changes while it is read is
    archived as read, with a warning."""
    e, name = item.entry, item.entry.name
    try:
        f = open_input(item)
    except Skipped as exc:
        warn(f"skipped {display(item.source)}: {exc.args[0]}")
        return False
    with f:
        if chunker.fill and not chunker.packed and (item.stat_size >= chunker.chunk_size
                                                    or item.stat_size > chunker.room):
            chunker.flush()      # a file that does not fit starts a chunk of its own
        e.chunk, e.offset = chunker.position()
        sha, size = hashlib.sha256(), 0
        while True:
            try:
                data = f.read(min(READ_BLOCK, chunker.room))
            except OSError as exc:
                raise InputError(display(item.source), exc.strerror) from None
            if data is None:            # would block: not an ordinary file after all
                if not size:
                    warn(f"skipped {display(item.source)}: reading it would block")
                    return False
                raise InputError(display(item.source), "reading would block")
            if not data:
                break
            sha.update(data)
            chunker.add(data, name, item.source, size)
            size += len(data)
            yield from chunker.take()
        after = os.fstat(f.fileno())
    # Against the scan's stat, whose mtime the archive records (as tar does); a size of 0
    # is not believed (files in /proc have content but no size).
    if (after.st_mtime_ns, after.st_size) != (e.mtime_ns, item.stat_size) or (
            size != item.stat_size and item.stat_size):
        warn(f"{display(item.source)} changed while it was read; the archive holds what was read")
    e.size, e.sha256 = size, sha.digest()
    if not size:
        e.chunk = e.offset = 0
    return True
