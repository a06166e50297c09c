"""Extract members of an archive into a directory, and nowhere else.

Hostile paths (absolute, '..', NUL), a second member of the same name and symlinks that leave
the directory, directly or through other links of the archive, are refused (the same list
`verify` reports). Every directory, file and link is made relative to the file descriptor of
its parent directory, opened component by component with O_NOFOLLOW (archiver.container.tree),
so no path is looked up twice: a directory swapped for a symlink while bbx runs is refused,
never followed. Existing files are never replaced without `force`. Each file is written to a
temporary name, checked against its SHA-256 and renamed into place, so a damaged chunk never
leaves a half-written file; every undamaged file still extracts. Setuid and setgid bits are
restored only when asked (`keep_setid`), as tar does only for root with -p."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from archiver import tempfiles
from archiver.container.content import stream_files
from archiver.container.members import select as members_select
from archiver.container.paths import member_problems
from archiver.container.reader import ArchiveReader
from archiver.container.records import DIRECTORY, FILE, SYMLINK, Entry, display
from archiver.container.tree import Tree, check_replaceable, output_error
from archiver.container.weights_check import require_weights
from archiver.errors import BBXError, DiskFull, MemberNotFound, OutputError, UnsafePath, WouldOverwrite

SHOWN_CONFLICTS = 3
SETID = stat.S_ISUID | stat.S_ISGID


@dataclass
class ExtractReport:
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    errors: list[BBXError] = field(default_factory=list)
    repair_note: str | None = None      # damage its recovery record undid (archiver.recovery.auto)


def select(reader: ArchiveReader, members: list[str] | None) -> list[Entry]:
    """Entries selected by the member patterns (archiver.container.members), or all."""
    if not members:
        return list(reader.entries)
    out, unmatched = members_select(reader.entries, members)
    if unmatched:
        raise MemberNotFound(reader.path, display(unmatched[0]))
    return out


def refused(entries: list[Entry]) -> tuple[list[Entry], list[BBXError]]:
    """(the entries an extraction creates, an UnsafePath error for each one it refuses)."""
    problems = member_problems(entries)
    bad = {id(e) for e, _ in problems}
    return ([e for e in entries if id(e) not in bad],
            [UnsafePath(e.name, why) for e, why in problems])


class _FileSink:
    """One file being extracted: a temporary file in its parent directory, renamed into place
    once its content is complete and matches its SHA-256."""

    def __init__(self, tree: Tree, e: Entry, report: ExtractReport, force: bool, mode_mask: int):
        self.e, self.report, self.force, self.mode = e, report, force, e.mode & mode_mask
        self.dir_fd = os.dup(tree.parent_fd(e.path))       # ours: the tree may close its copy
        self.name = e.path.rsplit(b"/", 1)[-1]
        try:
            check_replaceable(self.dir_fd, self.name, e.path, force)
            self.tmp, fd = tree.create_temp(self.dir_fd, e.path)
        except BaseException:
            os.close(self.dir_fd)
            raise
        self.token = tempfiles.track(self.tmp, self.dir_fd)
        self.f = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        try:
            self.f.write(data)
        except OSError as exc:
            raise output_error(self.e.path, exc) from None

    def commit(self) -> None:
        try:
            self.f.flush()                  # before the times: a later write would move mtime
            os.fchmod(self.f.fileno(), self.mode)
            os.utime(self.f.fileno(), ns=(self.e.mtime_ns, self.e.mtime_ns))
            self.f.close()
            check_replaceable(self.dir_fd, self.name, self.e.path, self.force)
            os.replace(self.tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except OSError as exc:
            self.abort()
            raise output_error(self.e.path, exc) from None
        except BBXError:
            self.abort()
            raise
        tempfiles.forget(self.token)
        os.close(self.dir_fd)
        self.report.files += 1
        self.report.bytes += self.e.size

    def abort(self) -> None:
        self.f.close()
        try:
            os.unlink(self.tmp, dir_fd=self.dir_fd)
        except FileNotFoundError:       # already renamed or removed
            pass
        tempfiles.forget(self.token)
        os.close(self.dir_fd)


def extract(reader: ArchiveReader, dest: str | bytes = ".", members: list[str] | None = None,
            force: bool = False, on_bytes=lambda n: None, jobs: int | None = None,
            keep_setid: bool = False, progress=None) -> ExtractReport:
    report = ExtractReport(errors=list(reader.problems))    # damage found on opening
    root = os.fsencode(dest)
    entries = select(reader, members)
    require_weights(reader.path, reader.model_hashes)
    safe, errors = refused(entries)
    report.errors += errors
    if not force:
        _refuse_overwrites(root, safe)
    mode_mask = 0o7777 if keep_setid else 0o7777 & ~SETID
    with Tree(root) as tree:
        dirs = [e for e in safe if e.type == DIRECTORY
                and _guard(report, lambda e=e: tree.dir_fd(e.path))]
        files = [e for e in safe if e.type == FILE]

        def open_sink(e: Entry) -> _FileSink:
            return _FileSink(tree, e, report, force, mode_mask)

        report.errors += _wrap_stream(reader, files, open_sink, on_bytes, jobs, progress)
        for e in (e for e in safe if e.type == SYMLINK):
            _guard(report, lambda e=e: _make_link(tree, e, report, force))
        for e in sorted(dirs, key=lambda e: e.path.count(b"/"), reverse=True):
            _guard(report, lambda e=e: _finish_dir(tree, e, report, mode_mask))
    return report


def _wrap_stream(reader, files, open_sink, on_bytes, jobs, progress) -> list[BBXError]:
    try:
        return stream_files(reader, files, open_sink, on_bytes, jobs, progress)
    except (OutputError, DiskFull) as exc:      # the disk, not the archive: stop here
        return [exc]


def _guard(report: ExtractReport, action) -> bool:
    try:
        action()
        return True
    except BBXError as exc:
        report.errors.append(exc)
        return False


def _refuse_overwrites(root: bytes, entries: list[Entry]) -> None:
    """Refuse up front when existing files would be replaced (checked again, through the
    directory descriptors, just before each rename)."""
    clashes = [e for e in entries if e.type != DIRECTORY and os.path.lexists(os.path.join(root, e.path))]
    if clashes:
        names = ", ".join(display(os.path.join(root, e.path)) for e in clashes[:SHOWN_CONFLICTS])
        more = f" (and {len(clashes) - SHOWN_CONFLICTS} more)" if len(clashes) > SHOWN_CONFLICTS else ""
        raise WouldOverwrite(names + more)


def _make_link(tree: Tree, e: Entry, report: ExtractReport, force: bool) -> None:
    dir_fd = tree.parent_fd(e.path)
    name = e.path.rsplit(b"/", 1)[-1]
    tmp = b".bbx-link-" + os.urandom(6).hex().encode()
    try:
        check_replaceable(dir_fd, name, e.path, force)
        os.symlink(e.link, tmp, dir_fd=dir_fd)
    except OSError as exc:
        raise output_error(e.path, exc) from None
    token = tempfiles.track(tmp, dir_fd)
    try:
        os.utime(tmp, ns=(e.mtime_ns, e.mtime_ns), dir_fd=dir_fd, follow_symlinks=False)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        _unlink_quietly(tmp, dir_fd)
        raise output_error(e.path, exc) from None
    finally:
        tempfiles.forget(token)
    report.links += 1


def _unlink_quietly(name: bytes, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _finish_dir(tree: Tree, e: Entry, report: ExtractReport, mode_mask: int) -> None:
    fd = tree.dir_fd(e.path)            # still no symlink on the way
    try:
        os.fchmod(fd, e.mode & mode_mask)
        os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
    except OSError as exc:
        raise output_error(e.path, exc) from None
    report.dirs += 1
