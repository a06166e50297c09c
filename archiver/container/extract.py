"""Extract members of an archive into a directory, and nowhere else.

Hostile paths (absolute, '..', NUL) and symlinks that leave the directory are refused;
nothing is written through a symlink (links are created last, and a path whose parent on disk
is a symlink is refused). Existing files are never replaced without `force`. Each file is
written to a temporary name, checked against its SHA-256 and renamed into place, so a damaged
chunk never leaves a half-written file; every undamaged file still extracts."""
from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field

from archiver.container.content import stream_files
from archiver.container.paths import link_problem, path_problem
from archiver.container.reader import ArchiveReader
from archiver.container.records import DIRECTORY, FILE, SYMLINK, Entry, display
from archiver.container.weights_check import require_weights
from archiver.errors import BBXError, MemberNotFound, OutputError, UnsafePath, WouldOverwrite

SHOWN_CONFLICTS = 3


@dataclass
class ExtractReport:
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    errors: list[BBXError] = field(default_factory=list)


def select(reader: ArchiveReader, members: list[str] | None) -> list[Entry]:
    """Entries named by `members` (a directory selects everything under it), or all."""
    if not members:
        return list(reader.entries)
    wanted = [os.fsencode(m).rstrip(b"/") for m in members]
    hits = {w: False for w in wanted}
    out = []
    for e in reader.entries:
        for w in wanted:
            if e.path == w or e.path.startswith(w + b"/"):
                hits[w] = True
                out.append(e)
                break
    for w, hit in hits.items():
        if not hit:
            raise MemberNotFound(reader.path, display(w))
    return out


def _parent(root: bytes, path: bytes, *, include_self: bool = False) -> bytes:
    """Create the directories leading to `path` under `root`, refusing to pass a symlink."""
    cur = root
    parts = path.split(b"/")
    for part in parts if include_self else parts[:-1]:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            try:
                os.mkdir(cur)
            except OSError as exc:
                raise OutputError(display(cur), exc.strerror) from None
            continue
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(display(path), f"{display(cur)} is a symlink; "
                                                "bbx never writes through one")
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(display(cur), "exists and is not a directory")
    return cur


class _FileSink:
    def __init__(self, root: bytes, e: Entry, report: ExtractReport):
        self.e, self.report = e, report
        parent = _parent(root, e.path)
        self.final = os.path.join(root, e.path)
        if os.path.isdir(self.final) and not os.path.islink(self.final):
            raise OutputError(display(self.final), "a directory is in the way")
        try:
            fd, self.tmp = tempfile.mkstemp(dir=parent, prefix=b".bbx-", suffix=b".part")
        except OSError as exc:
            raise OutputError(display(self.final), exc.strerror) from None
        self.f = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        try:
            self.f.write(data)
        except OSError as exc:
            raise OutputError(display(self.final), exc.strerror) from None

    def commit(self) -> None:
        try:
            os.fchmod(self.f.fileno(), self.e.mode)
            self.f.close()
            os.utime(self.tmp, ns=(self.e.mtime_ns, self.e.mtime_ns))
            os.replace(self.tmp, self.final)
        except OSError as exc:
            self.abort()
            raise OutputError(display(self.final), exc.strerror) from None
        self.report.files += 1
        self.report.bytes += self.e.size

    def abort(self) -> None:
        self.f.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:       # already renamed or removed
            pass


def extract(reader: ArchiveReader, dest: str | bytes = ".", members: list[str] | None = None,
            force: bool = False, on_bytes=lambda n: None, jobs: int | None = None) -> ExtractReport:
    report = ExtractReport(errors=list(reader.problems))    # damage found on opening
    root = os.fsencode(dest)
    entries = select(reader, members)
    require_weights(reader.path, reader.model_hashes)
    safe = []
    for e in entries:
        problem = path_problem(e.path) or (link_problem(e.path, e.link) if e.type == SYMLINK else None)
        if problem:
            report.errors.append(UnsafePath(e.name, problem))
        else:
            safe.append(e)
    if not force:
        _refuse_overwrites(root, safe)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise OutputError(display(root), exc.strerror) from None

    dirs = [e for e in safe if e.type == DIRECTORY
            and _guard(report, lambda e=e: _parent(root, e.path, include_self=True))]
    files = [e for e in safe if e.type == FILE]

    def open_sink(e: Entry) -> _FileSink:
        return _FileSink(root, e, report)

    report.errors += _wrap_stream(reader, files, open_sink, on_bytes, jobs)
    for e in (e for e in safe if e.type == SYMLINK):
        _guard(report, lambda e=e: _make_link(root, e, report))
    for e in sorted(dirs, key=lambda e: e.path.count(b"/"), reverse=True):
        _guard(report, lambda e=e: _finish_dir(root, e, report))
    return report


def _wrap_stream(reader, files, open_sink, on_bytes, jobs) -> list[BBXError]:
    try:
        return stream_files(reader, files, open_sink, on_bytes, jobs)
    except OutputError as exc:      # the disk, not the archive: stop here
        return [exc]


def _guard(report: ExtractReport, action) -> bool:
    try:
        action()
        return True
    except BBXError as exc:
        report.errors.append(exc)
        return False


def _refuse_overwrites(root: bytes, entries: list[Entry]) -> None:
    clashes = [e for e in entries if e.type != DIRECTORY and os.path.lexists(os.path.join(root, e.path))]
    if clashes:
        names = ", ".join(display(os.path.join(root, e.path)) for e in clashes[:SHOWN_CONFLICTS])
        more = f" (and {len(clashes) - SHOWN_CONFLICTS} more)" if len(clashes) > SHOWN_CONFLICTS else ""
        raise WouldOverwrite(names + more)


def _make_link(root: bytes, e: Entry, report: ExtractReport) -> None:
    parent = _parent(root, e.path)
    final = os.path.join(root, e.path)
    tmp = os.path.join(parent, b".bbx-link-" + os.urandom(6).hex().encode())
    try:
        os.symlink(e.link, tmp)
        os.utime(tmp, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
        if os.path.isdir(final) and not os.path.islink(final):
            raise OutputError(display(final), "a directory is in the way")
        os.replace(tmp, final)
    except OSError as exc:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise OutputError(display(final), exc.strerror) from None
    except BBXError:
        os.unlink(tmp)
        raise
    report.links += 1


def _finish_dir(root: bytes, e: Entry, report: ExtractReport) -> None:
    path = _parent(root, e.path, include_self=True)     # still no symlink on the way
    try:
        os.chmod(path, e.mode)
        os.utime(path, ns=(e.mtime_ns, e.mtime_ns))
    except OSError as exc:
        raise OutputError(display(path), exc.strerror) from None
    report.dirs += 1
