"""Member paths: what the writer stores and what the reader agrees to create.

A member path is relative, b"/"-separated, made of non-empty components other than "." and
"..", without NUL bytes. Anything else in an archive is hostile or damaged and is refused, as
is a symlink whose target leaves the extraction directory."""
from __future__ import annotations

MAX_PATH = 0xFFFF


def path_problem(path: bytes) -> str | None:
    """Why `path` may not be extracted, or None when it is safe."""
    if not path:
        return "empty path"
    if len(path) > MAX_PATH:
        return "path longer than 65535 bytes"
    if b"\0" in path:
        return "path contains a NUL byte"
    if path.startswith(b"/"):
        return "absolute path"
    parts = path.split(b"/")
    if b".." in parts:
        return "path contains '..'"
    if b"" in parts or b"." in parts:
        return "path has empty or '.' components"
    return None


def link_problem(path: bytes, target: bytes) -> str | None:
    """Why a symlink at `path` pointing to `target` may not be created, or None."""
    if not target:
        return "empty symlink target"
    if b"\0" in target:
        return "symlink target contains a NUL byte"
    if target.startswith(b"/"):
        return "symlink points to an absolute path"
    depth = path.count(b"/")           # directories above the link, inside the target dir
    for part in target.split(b"/"):
        if part == b"..":
            depth -= 1
            if depth < 0:
                return "symlink points outside the extraction directory"
        elif part not in (b"", b"."):
            depth += 1
    return None
