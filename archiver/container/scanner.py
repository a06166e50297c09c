"""Walk the inputs of `bbx create` and list what to archive, without reading any content.

Each input contributes its own last path component as a top-level member (`bbx create
~/photos` stores `photos/...`). Nested symlinks are stored as links, never followed;
sockets, FIFOs and devices are skipped with a warning."""
from __future__ import annotations

import errno
import fnmatch
import os
import stat
from dataclasses import dataclass

from archiver.container.records import DIRECTORY, FILE, SYMLINK, Entry, display
from archiver.errors import InputError, InputNotFound, UnsafePath


@dataclass
class Item:
    entry: Entry
    source: bytes          # where to read the content (files) on this machine
    stat_size: int = 0
    follow: bool = False   # a top-level input named on the command line: a symlink is followed


class Skipped(Exception):
    """A scanned file that can no longer be read as a regular file; args[0] says why."""


def open_input(item: Item):
    """Open a file found by the scan for reading, without ever blocking: O_NONBLOCK (a FIFO
    or device that replaced it opens at once, and is then refused on the descriptor's own
    type), O_NOFOLLOW below the top level (a file swapped for a symlink is not followed).
    Returns an unbuffered binary file whose read() gives None where it would block (e.g.
    /proc/kmsg); raises Skipped."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if item.follow else os.O_NOFOLLOW)
    try:
        fd = os.open(item.source, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Skipped("it was replaced by a symlink after the scan") from None
        raise Skipped(exc.strerror) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Skipped("it is no longer a regular file (replaced by a FIFO, device or "
                      "directory after the scan)")
    return os.fdopen(fd, "rb", buffering=0)


class Excluder:
    """--exclude patterns (shell globs) matched against member paths and their last component."""

    def __init__(self, patterns: tuple[str, ...] | list[str] = ()):
        self.patterns = [os.fsencode(p).rstrip(b"/") for p in patterns]

    def __call__(self, member: bytes) -> bool:
        base = member.rsplit(b"/", 1)[-1]
        return any(fnmatch.fnmatchcase(member, p) or fnmatch.fnmatchcase(base, p)
                   for p in self.patterns)


def _entry(member: bytes, st: os.stat_result, etype: int, link: bytes = b"") -> Entry:
    return Entry(path=member, type=etype, mode=stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns,
                 link=link)


def top_name(source: bytes) -> bytes:
    name = os.path.basename(os.path.normpath(os.path.abspath(source)))
    if not name or name in (b".", b".."):
        raise UnsafePath(display(source), "cannot name the root directory as a member; "
                                              "archive what is inside it instead")
    return name


def scan(inputs: list[str | bytes], exclude: Excluder, skip_inodes: set = frozenset(),
         warn=lambda msg: None) -> list[Item]:
    """All members under `inputs` in sorted order; files whose (dev, ino) is in `skip_inodes`
    (the archive being written, the one it replaces) are never archived."""
    items: list[Item] = []
    seen: set[bytes] = set()
    for raw in inputs:
        source = os.fsencode(raw)
        try:
            st = os.stat(source)
        except FileNotFoundError:
            raise InputNotFound(display(source)) from None
        except OSError as exc:
            raise InputError(display(source), exc.strerror) from None
        name = top_name(source)
        if name in seen:
            raise UnsafePath(display(name), "two inputs have the same name; archive their "
                                                "common parent instead")
        seen.add(name)
        if exclude(name):
            continue
        first = len(items)
        _visit(source, name, st, items, exclude, skip_inodes, warn)
        if len(items) > first and items[first].entry.path == name:
            items[first].follow = True
    return items


def _visit(source: bytes, member: bytes, st: os.stat_result, items: list[Item],
           exclude: Excluder, skip_inodes, warn) -> None:
    mode = st.st_mode
    if (st.st_dev, st.st_ino) in skip_inodes:
        return
    if stat.S_ISLNK(mode):
        items.append(Item(_entry(member, st, SYMLINK, os.readlink(source)), source))
    elif stat.S_ISREG(mode):
        items.append(Item(_entry(member, st, FILE), source, st.st_size))
    elif stat.S_ISDIR(mode):
        items.append(Item(_entry(member, st, DIRECTORY), source))
        try:
            names = sorted(os.listdir(source))
        except OSError as exc:
            warn(f"skipped the contents of {display(source)}: {exc.strerror}")
            return
        for name in names:
            child_member = member + b"/" + name
            if exclude(child_member):
                continue
            child = os.path.join(source, name)
            try:
                child_st = os.lstat(child)
            except OSError as exc:
                warn(f"skipped {display(child)}: {exc.strerror}")
                continue
            _visit(child, child_member, child_st, items, exclude, skip_inodes, warn)
    else:
        warn(f"skipped {display(source)}: not a regular file, directory or symlink")
