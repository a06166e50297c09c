"""Extraction of hostile member lists, decided the same way by verify and extract: long
names, paths beyond PATH_MAX, symlink chains, duplicate names, setuid bits, and a directory
swapped for a symlink while bbx runs."""
from __future__ import annotations

import hashlib
import os
import stat

import archiver
from archiver.container.records import DIRECTORY, FILE, SYMLINK, Entry
from archiver.errors import NameTooLong, UnsafePath
from hostile_craft import craft


def _archive(tmp_path, members: list[tuple]) -> str:
    """An archive of (path, content bytes | ("link", target) | None for a directory)."""
    data, entries = b"", []
    for path, what in members:
        if what is None:
            entries.append(Entry(path, DIRECTORY, 0o755, 0))
        elif isinstance(what, tuple):
            entries.append(Entry(path, SYMLINK, 0o777, 0, link=what[1]))
        else:
            entries.append(Entry(path, FILE, 0o644, 0, len(what), 0, len(data),
                                 hashlib.sha256(what).digest()))
            data += what
    for e in entries:
        if e.type == FILE and not e.size:
            e.offset = 0
    path = tmp_path / "a.bbx"
    path.write_bytes(craft([(0, data, len(data))] if data else [], entries))
    return path


def _escapes(dest) -> list[str]:
    """Links under `dest` whose target, resolved by the kernel, lies outside it."""
    root = os.path.realpath(dest)
    out = []
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                real = os.path.realpath(full)
                if not (real == root or real.startswith(root + os.sep)):
                    out.append(full)
    return out


def _verify_refuses(path, names: set[str]) -> None:
    with archiver.open(path) as a:
        for quick in (True, False):
            errors = a.verify(quick=quick).errors
            assert {e.args[0] for e in errors if isinstance(e, UnsafePath)} == names


def test_symlink_chain_through_other_links_is_refused_by_verify_and_extract(tmp_path):
    path = _archive(tmp_path, [(b"d", None), (b"d/l2", ("link", b"..")),
                               (b"l1", ("link", b"d/l2/../outside")),
                               (b"ok", ("link", b"d/l2/d")), (b"loop", ("link", b"loop"))])
    _verify_refuses(path, {"l1"})
    with archiver.open(path) as a:
        report = a.extract(tmp_path / "out")
    assert [e.args[0] for e in report.errors] == ["l1"]
    assert not os.path.lexists(tmp_path / "out/l1")
    assert os.readlink(tmp_path / "out/ok") == "d/l2/d"
    assert _escapes(tmp_path / "out") == []


def test_duplicate_names_keep_the_first_copy_and_are_reported(tmp_path):
    path = _archive(tmp_path, [(b"f", b"first"), (b"f", b"second")])
    _verify_refuses(path, {"f"})
    with archiver.open(path) as a:
        report = a.extract(tmp_path / "out")
    assert (tmp_path / "out/f").read_bytes() == b"first"
    assert [type(e) for e in report.errors] == [UnsafePath]


def test_verify_reports_every_name_extract_refuses(tmp_path):
    path = _archive(tmp_path, [(b"../up", b"x"), (b"/abs", b"y"), (b"a\0b", b"z"),
                               (b"fine", b"w"), (b"esc", ("link", b"../../etc"))])
    _verify_refuses(path, {"../up", "/abs", "a\\x00b", "esc"})


def test_long_names_and_paths_beyond_path_max(tmp_path):
    deep = b"/".join([b"d" * 200] * 30) + b"/deep.txt"      # 6 KB: beyond PATH_MAX
    path = _archive(tmp_path, [(b"n" * 300, b"too long a name"), (deep, b"deep"),
                               (b"after", b"still extracted")])
    with archiver.open(path) as a:
        report = a.extract(tmp_path / "out")
    assert [type(e) for e in report.errors] == [NameTooLong]
    assert (tmp_path / "out/after").read_bytes() == b"still extracted"
    fd = os.open(tmp_path / "out", os.O_RDONLY)
    try:
        for part in deep.split(b"/")[:-1]:
            fd, old = os.open(part, os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
        got = os.open(b"deep.txt", os.O_RDONLY, dir_fd=fd)
        assert os.read(got, 10) == b"deep"
        os.close(got)
    finally:
        os.close(fd)


def test_setuid_and_setgid_restored_only_when_asked(tmp_path):
    path = _archive(tmp_path, [(b"tool", b"#!/bin/sh\n")])
    with archiver.open(path) as a:
        a._reader.entries[0].mode = 0o6755
        a.extract(tmp_path / "plain")
        a.extract(tmp_path / "kept", keep_setid=True)
    assert stat.S_IMODE(os.stat(tmp_path / "plain/tool").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "kept/tool").st_mode) == 0o6755


def test_directory_swapped_for_a_symlink_during_extraction_is_not_followed(tmp_path):
    files = [(b"d/%03d" % i, b"content %d" % i) for i in range(40)]
    path = _archive(tmp_path, [(b"d", None)] + files)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    swapped = []

    def swap(n):                       # after the first file: d becomes a link to outside
        if not swapped:
            os.rename(dest / "d", dest / "moved")
            os.symlink(outside, dest / "d")
            swapped.append(1)

    with archiver.open(path) as a:
        a.extract(dest, on_bytes=swap)
    assert swapped and list(outside.iterdir()) == []
