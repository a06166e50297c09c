"""What an archive holds, independent of its byte layout: entries and chunks."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

FILE, DIRECTORY, SYMLINK = 0, 1, 2
TYPE_NAMES = {FILE: "file", DIRECTORY: "dir", SYMLINK: "symlink"}


@dataclass(slots=True)
class Entry:
    path: bytes                 # relative, b"/"-separated, validated by archiver.container.paths
    type: int                   # FILE, DIRECTORY or SYMLINK
    mode: int                   # permission bits (0..0o7777)
    mtime_ns: int
    size: int = 0               # content bytes (files only)
    chunk: int = 0              # first chunk holding the content (files with size > 0)
    offset: int = 0             # position of the content in that chunk's raw data
    sha256: bytes = bytes(32)   # of the content (files); zero for directories and symlinks
    link: bytes = b""           # symlink target

    @property
    def name(self) -> str:
        """The path for people, on one line: undecodable bytes and control characters are
        shown as \\x escapes."""
        return display(self.path)


_CONTROL = {c: f"\\x{c:02x}" for c in list(range(0x20)) + [0x7F]}
_NEEDS_ESCAPE = re.compile(rb"[^\x20-\x7e]")


def display(raw) -> str:
    """Any path (bytes, str or PathLike) as one printable line for messages."""
    raw = raw if isinstance(raw, bytes) else os.fsencode(raw)
    if not _NEEDS_ESCAPE.search(raw):          # plain ASCII: the common case, made fast
        return raw.decode("ascii")
    return raw.decode("utf-8", "backslashreplace").translate(_CONTROL)


@dataclass(slots=True)
class ChunkInfo:
    offset: int                 # file position of the chunk's block header
    codec_id: int
    raw_size: int
    stored_size: int
    crc32: int
    raw_start: int = field(default=0, compare=False)   # position in the concatenated content
