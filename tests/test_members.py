"""Member patterns of `bbx extract` and `bbx list`: names, directories, wildcards, ./ prefixes."""
from __future__ import annotations

import pytest

from archiver.container.members import select
from archiver.container.records import DIRECTORY, FILE, Entry

PATHS = [b"photos", b"photos/2019", b"photos/2019/a.png", b"photos/2019/b.jpg",
         b"photos/2020", b"photos/2020/c.png", b"notes.txt", b"docs/[draft].txt",
         b"caf\xc3\xa9/menu.txt", b"odd\xff.png"]


def entries():
    return [Entry(p, DIRECTORY if b"." not in p else FILE, 0o644, 0) for p in PATHS]


def chosen(*patterns):
    out, unmatched = select(entries(), patterns)
    return {e.path for e in out}, unmatched


@pytest.mark.parametrize("pattern,expected", [
    ("*.png", {b"photos/2019/a.png", b"photos/2020/c.png", b"odd\xff.png"}),   # any depth
    ("photos/2019/", {b"photos/2019", b"photos/2019/a.png", b"photos/2019/b.jpg"}),
    ("./photos/2019", {b"photos/2019", b"photos/2019/a.png", b"photos/2019/b.jpg"}),
    ("photos/*/a.png", {b"photos/2019/a.png"}),
    ("photos/*.png", {b"photos/2019/a.png", b"photos/2020/c.png"}),            # * crosses /
    ("photos/20?0", {b"photos/2020", b"photos/2020/c.png"}),
    ("notes.txt", {b"notes.txt"}),
    ("docs/[draft].txt", {b"docs/[draft].txt"}),                    # a literal name first
    ("caf\u00e9", {b"caf\xc3\xa9/menu.txt"}),
    (b"odd\xff.png", {b"odd\xff.png"}),
    ("./", set(PATHS)),
])
def test_patterns(pattern, expected):
    got, unmatched = chosen(pattern)
    assert got == expected and unmatched == []


def test_no_partial_names_and_unmatched_patterns_are_reported():
    assert chosen("photo") == (set(), ["photo"])              # not a prefix match
    assert chosen("photos/201")[0] == set()
    got, unmatched = chosen("*.gif", "notes.txt")
    assert got == {b"notes.txt"} and unmatched == ["*.gif"]


def test_order_is_the_archive_order_and_each_entry_once():
    out, _ = select(entries(), ["photos/", "*.png"])
    assert [e.path for e in out] == [p for p in PATHS if p.startswith(b"photos")] + [b"odd\xff.png"]
