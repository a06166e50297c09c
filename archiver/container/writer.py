"""Write a .bbx archive: scan the inputs, cut their content into chunks, code each chunk with
the best codec, then write the index, the trailer and finally the header.

Memory stays bounded by the chunk size: content is read in blocks, small files are grouped
into one chunk, a large file is split across several. The archive is written to a temporary
file beside the output and renamed into place only when complete, so an interrupted create
never leaves a truncated archive under the final name."""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field

import zstandard

from archiver.codecs import registry
from archiver.container import layout, router
from archiver.container.chunk_coder import STORE_ID, ZSTD_ID, ChunkCoder, resolve
from archiver.container.records import DIRECTORY, FILE, SYMLINK, ChunkInfo, Entry, display
from archiver.container.scanner import Excluder, Item, scan
from archiver.errors import InputError, OutputError, WouldOverwrite

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
    seconds: float = 0.0    # spent coding its chunks (every codec tried on them included)


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
    notes: list[str] = field(default_factory=list)        # for information only


class NoProgress:
    def start(self, files: int, total_bytes: int) -> None: ...
    def advance(self, files: int = 0, nbytes: int = 0) -> None: ...


def _route(item: Item) -> str:
    """The router's class of one file, from its head (OTHER when it cannot be read now: the
    read that follows reports why). A whole-file class needs the file in one chunk."""
    try:
        with open(item.source, "rb") as f:
            head = f.read(router.HEAD_BYTES)
    except OSError:
        return router.OTHER
    cls = router.classify(head)
    if cls in router.WHOLE_FILE and item.stat_size > layout.MAX_CHUNK_RAW:
        return router.OTHER
    return cls


def _content_order(items: list[Item]) -> list[tuple[str, Item]]:
    """Files grouped by content class, then similar files side by side (by extension, then
    name): each class fills chunks of its own, and similar neighbours make better chunks."""
    def key(pair: tuple[str, Item]):
        cls, item = pair
        base = item.entry.path.rsplit(b"/", 1)[-1]
        ext = base.rsplit(b".", 1)[-1].lower() if b"." in base[1:] else b""
        return router.CLASSES.index(cls), ext, base, item.entry.path
    return sorted(((_route(i), i) for i in items if i.entry.type == FILE), key=key)


def _write_block(out, kind: int, codec_id: int, payload: bytes, raw_size: int) -> ChunkInfo:
    crc = zlib.crc32(payload)
    offset = out.tell()
    out.write(layout.pack_block(kind, codec_id, crc, raw_size, len(payload)))
    out.write(payload)
    return ChunkInfo(offset, codec_id, raw_size, len(payload), crc)


def _write_meta(out, kind: int, raw: bytes) -> ChunkInfo:
    """An index or entries block: zstd when that is smaller, else stored."""
    packed = zstandard.ZstdCompressor(level=INDEX_LEVEL, write_content_size=True).compress(raw)
    codec, payload = (ZSTD_ID, packed) if len(packed) < len(raw) else (STORE_ID, raw)
    return _write_block(out, kind, codec, payload, len(raw))


class _ChunkSink:
    """Collects content into chunks of at most chunk_size bytes and writes each coded chunk,
    followed by an entries block for the files completed in it (so that the blocks before
    any point of the archive describe themselves)."""

    def __init__(self, out, coder: ChunkCoder, chunk_size: int, report: CreateReport):
        self.out, self.coder, self.chunk_size, self.report = out, coder, chunk_size, report
        self.parts: list[bytes] = []
        self.fill = 0
        self.first_path = ""
        self.content_class = router.OTHER
        self.chunks: list[ChunkInfo] = []
        self.segments: list[ChunkInfo] = []
        self.pending: list[Entry] = []      # complete entries not yet in an entries block
        self.entries: list[Entry] = []      # every entry written
        self.entries_raw = 0

    def write_entries(self) -> None:
        if not self.pending:
            return
        raw = layout.pack_entries(self.pending)
        self.entries_raw += len(raw)
        if self.entries_raw > layout.MAX_INDEX_RAW:
            raise OutputError(self.out.name, "more entries than the format allows in one "
                                             "archive; split the input into several archives")
        self.segments.append(_write_meta(self.out, layout.BLOCK_ENTRIES, raw))
        self.entries += self.pending
        self.pending = []

    @property
    def room(self) -> int:
        return self.chunk_size - self.fill

    def position(self) -> tuple[int, int]:
        return len(self.chunks), self.fill

    def add(self, data: bytes, path: str) -> None:
        if not self.fill:
            self.first_path = path
        self.parts.append(data)
        self.fill += len(data)
        if self.fill >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        if not self.fill:
            return
        raw = b"".join(self.parts)
        raw_size = len(raw)
        self.parts, self.fill = [], 0
        t0 = time.perf_counter()
        codec_id, payload = self.coder.code(raw, self.first_path, self.content_class)
        seconds = time.perf_counter() - t0
        del raw
        self.chunks.append(_write_block(self.out, layout.BLOCK_CHUNK, codec_id, payload, raw_size))
        stats = self.report.by_codec.setdefault(registry.get(codec_id).name, CodecStats())
        stats.chunks += 1
        stats.raw += raw_size
        stats.stored += len(payload) + layout.BLOCK.size
        stats.seconds += seconds
        self.write_entries()


def write_archive(output: str | bytes, inputs: list, *, level: int = DEFAULT_LEVEL,
                  exclude: tuple[str, ...] = (), force: bool = False,
                  chunk_size: int = DEFAULT_CHUNK_SIZE, progress=None,
                  codecs: list[str] | None = None, screen: bool = True) -> CreateReport:
    if not 0 < chunk_size <= layout.MAX_CHUNK_RAW:
        raise ValueError(f"chunk size must be in 1..{layout.MAX_CHUNK_RAW}")
    progress = progress or NoProgress()
    allowed = resolve(codecs)
    out_path = os.fsencode(output)
    report = CreateReport(display(out_path))
    warn = report.warnings.append
    if os.path.isdir(out_path):
        raise OutputError(report.path, "it is a directory")
    if os.path.lexists(out_path) and not force:
        raise WouldOverwrite(report.path)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    try:
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=b"." + os.path.basename(out_path) + b".",
                                   suffix=b".tmp")
    except OSError as exc:
        raise OutputError(report.path, exc.strerror) from None
    try:
        with os.fdopen(fd, "wb") as out:
            skip = {_inode(os.fstat(out.fileno()))}     # never archive the archive itself
            if os.path.exists(out_path):
                skip.add(_inode(os.stat(out_path)))
            items = scan(inputs, Excluder(exclude), skip, warn)
            _write(out, items, ChunkCoder(level, warn, allowed, report.notes.append, screen=screen), chunk_size, progress, report)
            out.flush()
            os.fsync(out.fileno())
            report.output_bytes = out.tell()
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, out_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return report


def _inode(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write(out, items: list[Item], coder: ChunkCoder, chunk_size: int, progress,
           report: CreateReport) -> None:
    warn = report.warnings.append
    reserved = layout.header_size(len(coder.possible_hashes()))
    out.write(bytes(reserved))
    files = _content_order(items)
    progress.start(len(files), sum(i.stat_size for _, i in files))
    sink = _ChunkSink(out, coder, chunk_size, report)
    sink.pending = [i.entry for i in items if i.entry.type != FILE]    # directories and links
    sink.write_entries()
    for cls, item in files:
        whole = cls in router.WHOLE_FILE
        if cls != sink.content_class or whole:
            sink.flush()                    # a class change, or a whole file, starts a chunk
            sink.content_class = cls
            sink.chunk_size = max(chunk_size, item.stat_size) if whole else chunk_size
        if _add_file(item, sink, progress, warn):
            sink.pending.append(item.entry)
        if whole:
            sink.flush()
    sink.flush()
    sink.write_entries()
    for e in sink.entries:
        report.files += e.type == FILE
        report.dirs += e.type == DIRECTORY
        report.links += e.type == SYMLINK
        report.input_bytes += e.size
        if e.type == FILE and e.size:
            report.by_codec[registry.get(sink.chunks[e.chunk].codec_id).name].files += 1
    index = _write_meta(out, layout.BLOCK_INDEX,
                        layout.pack_index(sink.chunks, sink.segments, len(sink.entries)))
    out.write(layout.pack_trailer(index.offset))
    used = sorted({h for c in {c.codec_id for c in sink.chunks} for h in coder.hashes.get(c, ())})
    out.seek(0)
    out.write(layout.pack_header([bytes.fromhex(h) for h in used], reserved))
    out.seek(0, os.SEEK_END)


def _add_file(item: Item, sink: _ChunkSink, progress, warn) -> bool:
    """Stream one file into the chunks; False when it vanished before it could be read."""
    e, name = item.entry, item.entry.name
    try:
        f = open(item.source, "rb")
    except OSError as exc:
        warn(f"skipped {display(item.source)}: {exc.strerror}")
        return False
    with f:
        if sink.fill and (item.stat_size >= sink.chunk_size or item.stat_size > sink.room):
            sink.flush()       # a file that does not fit starts a chunk of its own
        e.chunk, e.offset = sink.position()
        sha, size = hashlib.sha256(), 0
        while True:
            try:
                data = f.read(min(READ_BLOCK, sink.room))
            except OSError as exc:
                raise InputError(display(item.source), exc.strerror) from None
            if not data:
                break
            sha.update(data)
            size += len(data)
            sink.add(data, name)
            progress.advance(nbytes=len(data))
    e.size, e.sha256 = size, sha.digest()
    if not size:
        e.chunk = e.offset = 0
    progress.advance(files=1)
    return True
