"""Temporary files bbx has made and not yet renamed into place (the archive being written,
files being extracted). When a signal ends bbx the command line removes them all from the
main thread, even while a worker is busy inside a codec."""
from __future__ import annotations

import contextlib
import os
import shutil
import threading

_lock = threading.Lock()
_live: dict[int, tuple[bytes, int | None]] = {}
_next = 0


def track(name: bytes, dir_fd: int | None = None) -> int:
    """Remember a temporary file or directory (a path, or a name in the directory `dir_fd`);
    the token given back forgets it again."""
    global _next
    with _lock:
        _next += 1
        _live[_next] = (name, dir_fd)
        return _next


def forget(token: int) -> None:
    with _lock:
        _live.pop(token, None)


def remove_all() -> None:
    """Unlink every temporary file still tracked (on a signal, just before exiting)."""
    with _lock:
        live = list(_live.values())
        _live.clear()
    for name, dir_fd in live:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except IsADirectoryError:           # a spool directory (archiver.cli.streams)
            shutil.rmtree(name, ignore_errors=True)
        except OSError:
            pass


@contextlib.contextmanager
def tracked(path):
    """Track `path` (a temporary file or directory) while the with-block runs."""
    token = track(os.fsencode(path))
    try:
        yield path
    finally:
        forget(token)
