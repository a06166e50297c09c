"""The Python API, mirroring the command line:

    import archiver
    report = archiver.create("photos.bbx", ["photos/"])
    with archiver.open("photos.bbx") as a:
        for e in a.entries: print(e.name, e.size)
        a.verify()
        a.extract("out/")
"""
from __future__ import annotations

import builtins
import contextlib

from archiver.container.extract import ExtractReport, extract, select
from archiver.container.chunking import PARTS
from archiver.container.reader import ArchiveReader, codec_name
from archiver.container.records import FILE, TYPE_NAMES, display
from archiver.container.verify import VerifyReport, verify
from archiver.recovery.auto import AutoRepair, repaired
from archiver.recovery.repair import RepairReport, repair as _repair
from archiver.container.writer import DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL, CreateReport, write_archive


def create(output, inputs, *, level: int = DEFAULT_LEVEL, exclude=(), force: bool = False,
           chunk_size: int = DEFAULT_CHUNK_SIZE, progress=None, codecs=None,
           jobs: int | None = None, scheduler=None, shared: bool = False,
           parts: int = PARTS, recovery: int | None = None) -> CreateReport:
    """Archive `inputs` (paths of files or directories) into `output`. `codecs` names the
    codecs that may be tried (default: all installed; store is always allowed). Chunks are
    coded by `jobs` worker processes (None: every core), or on a Dask cluster: `scheduler`
    is its address (or a distributed.Client); `shared` when its workers see the inputs under
    the same paths (they read them instead of being sent the bytes). The archive is the same
    byte for byte either way. `parts`: text is cut into up to this many chunks so that the
    jobs share it (each chunk costs the text model some learning; 1: the smallest archive).
    `recovery` (percent, 1..50) adds a recovery record that `repair` uses to restore that
    much damage."""
    if isinstance(inputs, (str, bytes)):
        inputs = [inputs]
    return write_archive(output, builtins.list(inputs), level=level, exclude=tuple(exclude),
                         force=force, chunk_size=chunk_size, progress=progress,
                         codecs=None if codecs is None else builtins.list(codecs), jobs=jobs,
                         scheduler=scheduler, shared=shared, parts=parts, recovery=recovery)


def repair(path, output=None, force: bool = False) -> RepairReport:
    """Repair a damaged archive from its recovery record into `output` (default: `path`
    itself, replaced through a temporary file and a rename; another existing `output` only
    with `force`)."""
    return _repair(path, output, force)


class Archive:
    """An open archive; its index is read and validated on opening. With `repair`, an
    archive whose recovery record can undo its damage is repaired first into a temporary
    copy (removed on close) and read from there; `self.repair` says what was done. The
    archive's own file is never written."""

    def __init__(self, path, repair: bool = False):
        self._source = path
        self._stack = contextlib.ExitStack()
        self.repair: AutoRepair | None = None
        try:
            if repair:
                self.repair = self._stack.enter_context(repaired(path))
            self._reader = _reader(path, self.repair)
        except BaseException:
            self._stack.close()
            raise
        self.path = self._reader.path
        self.entries = self._reader.entries
        self.chunks = self._reader.chunks
        self.model_hashes = self._reader.model_hashes
        self.problems = self._reader.problems      # damage found on opening (salvaged archive)

    def rows(self, members=None) -> builtins.list[dict]:
        """One dict per entry: what `bbx list --json` prints. A file's compressed size is its
        share of its chunks' stored bytes, in proportion to its size; `shared` says whether
        other files were coded in the same (solid) chunks, so that the size is such a share
        rather than the file's own cost."""
        return builtins.list(self.iter_rows(members))

    def iter_rows(self, members=None):
        """rows(), one at a time (a listing of many entries never holds them all)."""
        for e in self.select(members):
            row = {"path": e.name, "type": TYPE_NAMES[e.type], "size": e.size,
                   "mode": f"{e.mode:04o}", "mtime_ns": e.mtime_ns}
            if e.type == FILE:
                stored, codecs = self._share(e)
                shared = any(f is not e for i in self._reader.chunks_of(e)
                             for f in self._reader.chunk_files(i))
                row.update(compressed=stored, shared=shared, codec="+".join(codecs),
                           ratio=round(e.size / stored, 3) if stored else None,
                           sha256=e.sha256.hex())
            else:
                row.update(compressed=0, shared=False, codec="", ratio=None)
            if e.link:
                row["link"] = display(e.link)
            yield row

    def select(self, members=None) -> builtins.list:
        """Entries selected by member patterns (wildcards, directories; see
        archiver.container.members), or all; MemberNotFound names a pattern matching none."""
        return select(self._reader, members)

    def _share(self, e) -> tuple[int, builtins.list[str]]:
        start, end = self._reader.content_span(e)
        stored, codecs = 0.0, []
        for i in self._reader.chunks_of(e):
            c = self.chunks[i]
            overlap = min(end, c.raw_start + c.raw_size) - max(start, c.raw_start)
            stored += c.stored_size * overlap / c.raw_size
            name = codec_name(c.codec_id)
            if name not in codecs:
                codecs.append(name)
        return round(stored), codecs

    def extract(self, dest=".", members=None, *, force: bool = False, on_bytes=lambda n: None,
                jobs: int | None = None, keep_setid: bool = False, progress=None,
                repair: bool = True) -> ExtractReport:
        """`jobs` worker processes decode chunks ahead (None: every core); setuid/setgid
        bits are restored only with keep_setid. `on_bytes(n)` hears of file bytes written;
        `progress.advance(nbytes=...)` of chunk bytes as the codecs decode them
        (decode_size() of the same members in all). With `repair` (unless the archive was
        opened with it), damage its recovery record can undo is repaired into a temporary
        copy that the files come from; `repair_note` in the report says so."""
        args = (dest, members, force, on_bytes, jobs, keep_setid, progress)
        if self.repair is not None or not repair:
            report = extract(self._reader, *args)
            report.repair_note = self.repair.note(self.path) if self.repair else None
            return report
        with repaired(self._source) as fix:
            if not fix.repaired_bytes:
                report = extract(self._reader, *args)
            else:
                with _reader(self._source, fix) as reader:
                    report = extract(reader, *args)
        report.repair_note = fix.note(self.path)
        return report

    def decode_size(self, members=None) -> int:
        """Raw bytes of the chunks that extracting `members` (default all) decodes."""
        needed = {i for e in self.select(members) for i in self._reader.chunks_of(e)}
        return sum(self.chunks[i].raw_size for i in needed)

    def verify(self, quick: bool = False, on_bytes=lambda n: None,
               jobs: int | None = None, progress=None) -> VerifyReport:
        return verify(self._reader, quick, on_bytes, jobs, progress)

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _reader(path, fix: AutoRepair | None) -> ArchiveReader:
    """A reader of `path`, or of its repaired copy, named as `path` in what it reports."""
    if fix is None or not fix.repaired_bytes:
        return ArchiveReader(path)
    reader = ArchiveReader(fix.path)
    reader.path = display(path)
    return reader


def open(path, repair: bool = False) -> Archive:  # noqa: A001 - mirrors the builtin on purpose: archiver.open(...)
    return Archive(path, repair)
