"""Walk the inputs of `bbx create` and list what to archive, without reading any content.

Each input contributes its own last path component as a top-level member (`bbx create
~/photos` stores `photos/...`). Nested symlinks are stored as links, never followed;
sockets, FIFOs and devices are skipped with a warning."""
from __future__ import annotations

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
        _visit(source, name, st, items, exclude, skip_inodes, warn)
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
