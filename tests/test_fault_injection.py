"""Fault injection on a real archive: a bit flip at every block boundary and at random
offsets, truncation at every block boundary, bursts of zeros. Every fault is detected by
`verify --quick` (or on opening), and every file whose blocks the fault did not touch still
extracts byte for byte; nothing wrong is ever written."""
from __future__ import annotations

import os
import random

import pytest

import archiver
from archiver.container import layout
from archiver.errors import BBXError
from conftest import write_tree

RANDOM_FLIPS = 1000 if os.environ.get("BBX_SLOW_TESTS") else 150


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(archive bytes, original contents by member name, the archive's regions): each region
    is (start, end, names of the files it costs when damaged; None: every file)."""
    tmp = tmp_path_factory.mktemp("faults")
    rng = random.Random(5)
    spec = {b"f%02d%s" % (i, b".txt" if i % 2 else b".bin"):
            (b"line %d of a text file\n" % i) * rng.randrange(5, 60) if i % 2
            else rng.randbytes(rng.randrange(50, 900)) for i in range(14)}
    spec[b"sub/empty"] = b""
    spec[b"sub/link"] = ("link", b"../f01.txt")
    write_tree(tmp / "src", spec)
    archiver.create(tmp / "t.bbx", [tmp / "src"], chunk_size=1500, codecs=["zstd"])
    data = (tmp / "t.bbx").read_bytes()
    contents = {b"src/" + k: v for k, v in spec.items() if isinstance(v, bytes)}
    with archiver.open(tmp / "t.bbx") as a:
        r = a._reader
        regions = [(0, len(layout.MAGIC), frozenset(contents)),     # wrong magic: not an archive
                   (len(layout.MAGIC), r.header_size, frozenset())]
        for i, c in enumerate(r.chunks):
            regions.append((c.offset, c.offset + layout.BLOCK.size + c.stored_size,
                            frozenset(e.path for e in r.chunk_files(i))))
        _, segments, _ = r._read_tail()
        for s in segments:
            described = {e.path for e in r._read_entries(s, "x") if e.path in contents}
            regions.append((s.offset, s.offset + layout.BLOCK.size + s.stored_size, frozenset(described)))
        regions.append((r.index_offset, len(data), frozenset()))     # index and trailer
    assert len(r.chunks) >= 4 and len(segments) >= 4
    return data, contents, sorted(regions)


def _check(tmp_path, bad: bytes, contents: dict, must_survive: set, tag: str) -> None:
    path = tmp_path / "bad.bbx"
    path.write_bytes(bad)
    dest = tmp_path / ("out-" + tag)
    try:
        a = archiver.open(path)
    except BBXError:
        assert not must_survive, f"{tag}: archive unreadable, files lost: {sorted(must_survive)}"
        return
    with a:
        detected = bool(a.problems) or not a.verify(quick=True).ok
        assert detected, f"{tag}: damage not detected by verify --quick"
        a.extract(dest)
    got = {}
    for root, _, files in os.walk(os.fsencode(dest)):
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                with open(full, "rb") as f:
                    got[os.path.relpath(full, os.fsencode(dest))] = f.read()
    for name, content in got.items():
        assert contents[name] == content, f"{tag}: {name!r} extracted wrong"
    missing = must_survive - set(got)
    assert not missing, f"{tag}: undamaged files lost: {sorted(missing)}"


def _survivors(regions, contents, lo: int, hi: int) -> set:
    lost = set()
    for start, end, names in regions:
        if start < hi and lo < end:
            lost |= names
    return set(contents) - lost


def test_bit_flips_at_every_block_boundary_and_random_offsets(made, tmp_path):
    data, contents, regions = made
    rng = random.Random(11)
    offsets = set()
    for start, end, _ in regions:
        offsets |= {start, start + 1, end - 1, min(start + layout.BLOCK.size, end - 1)}
    offsets |= {rng.randrange(len(data)) for _ in range(RANDOM_FLIPS)}
    for off in sorted(o for o in offsets if 0 <= o < len(data)):
        bad = bytearray(data)
        bad[off] ^= 1 << rng.randrange(8)
        _check(tmp_path, bytes(bad), contents, _survivors(regions, contents, off, off + 1), f"flip{off}")


def test_truncation_at_every_block_boundary(made, tmp_path):
    data, contents, regions = made
    for start, _, _ in regions[2:]:
        for cut in (start, start + 1):
            # a file survives when its chunks and its entries block all end before the cut
            kept = {n for n in contents
                    if all(e <= cut for s, e, names in regions[1:] if n in names)}
            _check(tmp_path, data[:cut], contents, kept, f"cut{cut}")


def test_bursts_of_zeros(made, tmp_path):
    data, contents, regions = made
    rng = random.Random(13)
    for _ in range(60):
        lo = rng.randrange(len(data) - 8)
        hi = min(len(data), lo + rng.choice((8, 64, 512)))
        bad = data[:lo] + bytes(hi - lo) + data[hi:]
        if bad == data:
            continue
        _check(tmp_path, bad, contents, _survivors(regions, contents, lo, hi), f"zeros{lo}")
