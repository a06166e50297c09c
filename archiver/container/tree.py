"""The extraction directory, reached only through directory file descriptors.

Every directory below the root is opened relative to its parent's descriptor with O_NOFOLLOW
(created first when missing), one component at a time, and files and links are made relative
to those descriptors: no path is looked up twice, so a directory that another process swaps
for a symlink during extraction is refused (ELOOP), never followed. Names are handed to the
kernel one component at a time, so member paths longer than PATH_MAX extract; a component the
file system cannot hold is refused on its own (NameTooLong) and the rest goes on."""
from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict

from archiver.container.records import display
from archiver.errors import DiskFull, NameTooLong, OutputError, UnsafePath, WouldOverwrite

OPEN_DIRS = 64          # directory descriptors kept open (least recently used closed first)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def output_error(member: bytes, exc: OSError) -> OutputError | NameTooLong | DiskFull:
    """The error for a failed write to `member`, by its errno."""
    if exc.errno == errno.ENAMETOOLONG:
        return NameTooLong(display(member))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(display(member))
    return OutputError(display(member), exc.strerror)


def check_replaceable(dir_fd: int, name: bytes, member: bytes, force: bool) -> None:
    """Refuse to put a file or link where a directory is, or over anything without force."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise output_error(member, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(display(member), "a directory is in the way")
    if not force:
        raise WouldOverwrite(display(member))


def _is_link(name: bytes, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


class Tree:
    def __init__(self, root: bytes):
        self.root = root
        try:
            os.makedirs(root, exist_ok=True)
            # The root itself is the user's choice and may be a symlink (as with tar -C).
            self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise OutputError(display(root), exc.strerror) from None
        self._open: OrderedDict[bytes, int] = OrderedDict()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
        os.close(self.root_fd)

    def parent_fd(self, member: bytes) -> int:
        """The descriptor of the directory that holds `member` (created as needed)."""
        return self.dir_fd(member.rpartition(b"/")[0])

    def dir_fd(self, rel: bytes) -> int:
        """The descriptor of directory `rel` (b"" for the root), creating what is missing and
        refusing any component that is a symlink or not a directory."""
        if not rel:
            return self.root_fd
        fd = self._open.get(rel)
        if fd is not None:
            self._open.move_to_end(rel)
            return fd
        parent, _, name = rel.rpartition(b"/")
        parent_fd = self.dir_fd(parent)
        try:
            os.mkdir(name, 0o777, dir_fd=parent_fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise output_error(rel, exc) from None
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise output_error(rel, exc) from None
            if _is_link(name, parent_fd):   # O_DIRECTORY | O_NOFOLLOW gives either errno
                raise UnsafePath(display(rel), "it is a symlink on disk; bbx never writes "
                                               "through one") from None
            raise OutputError(display(rel), "exists and is not a directory") from None
        self._open[rel] = fd
        while len(self._open) > OPEN_DIRS:
            os.close(self._open.popitem(last=False)[1])
        return fd

    def create_temp(self, dir_fd: int, member: bytes) -> tuple[bytes, int]:
        """(name, descriptor) of a new, exclusive temporary file beside `member`."""
        for _ in range(100):
            name = b".bbx-" + os.urandom(6).hex().encode() + b".part"
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
                return name, fd
            except FileExistsError:
                continue
            except OSError as exc:
                raise output_error(member, exc) from None
        raise OutputError(display(member), "no free temporary name")
