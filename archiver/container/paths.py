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


MAX_LINK_HOPS = 40     # Linux's MAXSYMLINKS: the kernel never follows a longer chain


def chain_problem(path: bytes, links: dict[bytes, bytes]) -> str | None:
    """Why the symlink at `path` may not be created once every link in `links` (member path
    -> target, as the extraction will create them) exists, or None. The target is resolved
    component by component the way the kernel will, following those links, so a chain such
    as `l1 -> d/l2/../x` with `d/l2 -> ..` is seen to leave the directory."""
    resolved = path.split(b"/")[:-1]
    todo = list(reversed(links[path].split(b"/")))
    hops = 0
    while todo:
        part = todo.pop()
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not resolved:
                return "symlink resolves outside the extraction directory (through other links)"
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get(b"/".join(resolved))
        if target is not None:
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None             # a loop: the kernel refuses to follow it (ELOOP)
            if target.startswith(b"/"):
                return "symlink chain leads to an absolute path"
            resolved.pop()
            todo.extend(reversed(target.split(b"/")))
    return None


def member_problems(entries) -> list[tuple[object, str]]:
    """(entry, why) for every member an extraction refuses: unsafe paths and link targets,
    a name seen before (the first copy wins), links whose chain leaves the directory."""
    from archiver.container.records import SYMLINK
    out, seen, links, link_entries = [], set(), {}, {}
    for e in entries:
        problem = path_problem(e.path) or (link_problem(e.path, e.link) if e.type == SYMLINK else None)
        if problem is None and e.path in seen:
            problem = "a second member with this name (the first copy is kept)"
        if problem:
            out.append((e, problem))
            continue
        seen.add(e.path)
        if e.type == SYMLINK:
            links[e.path], link_entries[e.path] = e.link, e
    for path in links:
        problem = chain_problem(path, links)
        if problem:
            out.append((link_entries[path], problem))
    return out
