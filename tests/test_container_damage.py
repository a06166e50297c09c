"""Damaged and hostile archives: every flipped bit is detected, truncation is reported,
a damaged chunk costs only its own files, and nothing is written outside the target."""
from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import archiver
from archiver.container import layout
from archiver.errors import BBXError, CorruptChunk, UnsafePath, WouldOverwrite
from conftest import snapshot, write_tree


@pytest.fixture
def archive(tmp_path) -> tuple[Path, Path]:
    write_tree(tmp_path / "src", {
        b"one.txt": b"first file, compressible " * 40,
        b"two.bin": random.Random(1).randbytes(700),
        b"dir/three.txt": b"third file\n" * 30,
        b"dir/link": ("link", b"../one.txt"),
    })
    # zstd and store only: these tests are about the container, not a model codec's decoder
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], chunk_size=600, codecs=["zstd"])
    return tmp_path / "t.bbx", tmp_path / "src"


def _outcome(path: Path, dest: Path, original: dict) -> bool:
    """True when damage was reported; asserts that whatever was extracted is correct."""
    try:
        a = archiver.open(path)
    except BBXError:
        return True
    with a:
        damaged = not a.verify().ok or not a.verify(quick=True).ok
        report = a.extract(dest)
    got = snapshot(dest / "src") if (dest / "src").exists() else {}
    for rel, value in got.items():
        if value[0] == "file":
            assert value[:2] == original[rel][:2], rel     # never a wrong file
    return damaged or bool(report.errors)


def test_every_single_bit_flip_is_detected(archive, tmp_path):
    path, src = archive
    data = path.read_bytes()
    original = snapshot(src)
    rng = random.Random(7)
    offsets = range(len(data)) if len(data) < 2500 else sorted(rng.sample(range(len(data)), 2500))
    for i, off in enumerate(offsets):
        bad = tmp_path / "bad.bbx"
        bad.write_bytes(data[:off] + bytes([data[off] ^ (1 << rng.randrange(8))]) + data[off + 1:])
        dest = tmp_path / f"out{i}"
        assert _outcome(bad, dest, original), f"flip at byte {off} went unnoticed"


def test_truncation_at_any_offset_is_reported_and_salvaged(archive, tmp_path):
    path, src = archive
    data = path.read_bytes()
    original = snapshot(src)
    with archiver.open(path) as a:
        n_files = sum(e.type == 0 for e in a.entries)
    recovered = []
    cuts = list(range(0, len(data), max(1, len(data) // 150))) + [len(data) - 1]
    for i, cut in enumerate(cuts):
        bad = tmp_path / "cut.bbx"
        bad.write_bytes(data[:cut])
        try:
            a = archiver.open(bad)
        except BBXError as exc:
            assert "truncated" in str(exc) or "not a bbx archive" in str(exc)
            recovered.append(-1)
            continue
        with a:
            assert a.problems and "truncated" in str(a.problems[0])
            report = a.extract(tmp_path / f"out{i}")
        assert report.errors
        assert _outcome(bad, tmp_path / f"again{i}", original)
        recovered.append(report.files)
    assert recovered == sorted(recovered)                   # a longer prefix never recovers less
    assert recovered[-1] == n_files                          # only the trailer lost: all files


def test_damaged_chunk_names_chunk_and_files_and_the_rest_extracts(archive, tmp_path):
    path, src = archive
    data = bytearray(path.read_bytes())
    with archiver.open(path) as a:
        victim = next(c for c in a.chunks if c.codec_id == 0)          # the stored random file
        lost = [e.name for e in a._reader.chunk_files(a.chunks.index(victim))]
    data[victim.offset + layout.BLOCK.size + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with archiver.open(path) as a:
        report = a.extract(tmp_path / "out")
        quick = a.verify(quick=True)
    assert len(report.errors) == 1 and isinstance(report.errors[0], CorruptChunk)
    message = str(report.errors[0])
    assert f"chunk {a.chunks.index(victim)}" in message and "checksum mismatch" in message
    assert all(name in message for name in lost) and lost == ["src/two.bin"]
    assert not (tmp_path / "out/src/two.bin").exists()
    assert (tmp_path / "out/src/one.txt").read_bytes() == (src / "one.txt").read_bytes()
    assert (tmp_path / "out/src/dir/three.txt").exists() and (tmp_path / "out/src/dir/link").is_symlink()
    assert [type(e) for e in quick.errors] == [CorruptChunk]
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".bbx-")]


def _rebuild(data: bytes, chunks, entries_raw: bytes) -> bytes:
    """The archive's chunks, then one stored entries block holding `entries_raw` (any bytes),
    with every checksum valid: hostile metadata that no CRC catches."""
    out = bytearray(data[:layout.parse_header(data, "x")[1]])
    rows = []
    for c in chunks:
        rows.append(layout.ChunkInfo(len(out), c.codec_id, c.raw_size, c.stored_size, c.crc32))
        out += data[c.offset:c.offset + layout.BLOCK.size + c.stored_size]
    seg = layout.ChunkInfo(len(out), 0, len(entries_raw), len(entries_raw), zlib.crc32(entries_raw))
    out += layout.pack_block(layout.BLOCK_ENTRIES, 0, seg.crc32, len(entries_raw), len(entries_raw))
    out += entries_raw
    index = layout.pack_index(rows, [seg], 1)
    offset = len(out)
    out += layout.pack_block(layout.BLOCK_INDEX, 0, zlib.crc32(index), len(index), len(index)) + index
    return bytes(out + layout.pack_trailer(offset))


@settings(max_examples=600 if os.environ.get("BBX_SLOW_TESTS") else 60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
                      min_size=1, max_size=4))
def test_hostile_entries_with_valid_checksums_never_escape_or_crash(archive, tmp_path_factory, edits):
    path, _ = archive
    data = path.read_bytes()
    with archiver.open(path) as a:
        chunks = a.chunks
        raw = bytearray(layout.pack_entries(a.entries))
    for pos, blob in edits:
        pos %= len(raw)
        raw[pos:pos + len(blob)] = blob
    work = tmp_path_factory.mktemp("hostile")
    bad = work / "bad.bbx"
    bad.write_bytes(_rebuild(data, chunks, bytes(raw)))
    dest = work / "dest"
    try:
        with archiver.open(bad) as a:
            a.verify()
            a.extract(dest)
    except BBXError:
        pass
    for root, dirs, files in os.walk(work):
        for name in dirs + files:
            full = Path(root) / name
            assert full == bad or full.is_relative_to(dest), full
            if full.is_symlink():
                target = (full.parent / os.readlink(full)).resolve()
                assert target.is_relative_to(dest.resolve()) or not os.readlink(full).startswith("/")


def test_hostile_counts_are_refused_before_allocating(archive):
    path, _ = archive
    data = path.read_bytes()
    with archiver.open(path) as a:
        n_entries = len(a.entries)
    offset = layout.parse_trailer(data[-layout.TRAILER.size:], "x")
    bad = path.with_name("counts.bbx")
    for counts in ((1 << 62, 0, 0), (0, 1 << 62, 0), (0, 0, 1 << 62), (1 << 31, 1 << 31, 1)):
        index = struct.pack("<QQQ", *counts) + bytes(96)
        bad.write_bytes(data[:offset] + layout.pack_block(
            layout.BLOCK_INDEX, 0, zlib.crc32(index), len(index), len(index)) + index
            + layout.pack_trailer(offset))
        with archiver.open(bad) as a:                  # refused, then salvaged from the blocks
            assert "claims" in str(a.problems[0])
            assert len(a.entries) == n_entries


def test_extraction_refuses_existing_files_and_symlinked_parents(archive, tmp_path):
    path, src = archive
    dest = tmp_path / "dest"
    with archiver.open(path) as a:
        a.extract(dest)
        (dest / "src/one.txt").write_bytes(b"user's own edits")
        with pytest.raises(WouldOverwrite, match="one.txt"):
            a.extract(dest)
        assert (dest / "src/one.txt").read_bytes() == b"user's own edits"
        report = a.extract(dest, force=True)
        assert report.errors == []
        assert (dest / "src/one.txt").read_bytes() == (src / "one.txt").read_bytes()

        outside = tmp_path / "outside"
        outside.mkdir()
        trap = tmp_path / "trap"
        trap.mkdir()
        (trap / "src").symlink_to(outside)               # a symlink already in the target
        report = a.extract(trap, force=True)
        assert report.errors and all(isinstance(e, UnsafePath) for e in report.errors)
        assert list(outside.iterdir()) == []


def test_interrupted_extraction_leaves_no_partial_file(archive, tmp_path):
    path, _ = archive

    def interrupt(n):
        raise KeyboardInterrupt

    with archiver.open(path) as a, pytest.raises(KeyboardInterrupt):
        a.extract(tmp_path / "out", on_bytes=interrupt)
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert leftovers == []
