"""Hostile archives whose checksums are all valid: every size a reader allocates or decodes is
bounded by the archive's own size, and every refusal is a clean error."""
from __future__ import annotations

import hashlib
import os

import pytest

import archiver
from archiver.container import layout
from archiver.container.records import DIRECTORY, FILE, Entry
from archiver.errors import CorruptChunk
from hostile_craft import craft


def _file(path: bytes, data: bytes, chunk=0, offset=0) -> Entry:
    return Entry(path, FILE, 0o644, 0, len(data), chunk, offset, hashlib.sha256(data).digest())


def test_entries_zstd_bomb_is_refused_before_decoding(tmp_path):
    # 64 MiB of identical entries compresses to a few KB: far beyond the format's ratio
    bomb = layout.pack_entries([Entry(b"d", DIRECTORY, 0o755, 0)]) * ((64 << 20) // 66)
    path = tmp_path / "bomb.bbx"
    path.write_bytes(craft([], bomb, entries_zstd=True))
    assert path.stat().st_size < 20_000
    with archiver.open(path) as a:
        assert a.entries == []
        assert any("beyond the format's limits" in str(p) for p in a.problems)


def test_entries_block_within_the_ratio_streams_and_parses(tmp_path):
    entries = [Entry(b"d/%06d" % i, FILE, 0o644, 0) for i in range(40_000)]
    path = tmp_path / "many.bbx"
    path.write_bytes(craft([], entries, entries_zstd=True))
    with archiver.open(path) as a:
        assert a.problems == []
        assert [e.path for e in a.entries] == [e.path for e in entries]


def test_entries_block_cut_inside_an_entry_is_damage(tmp_path):
    raw = layout.pack_entries([Entry(b"file", FILE, 0o644, 0)])
    for cut in (5, len(raw) - 2):
        path = tmp_path / f"cut{cut}.bbx"
        path.write_bytes(craft([], raw[:cut]))
        with archiver.open(path) as a:
            assert a.entries == [] and "ends inside" in str(a.problems[0])


def test_text_chunk_claiming_more_than_its_payload_can_hold_is_refused(tmp_path):
    payload = bytes([2]) + os.urandom(295)            # 296 bytes claiming 64 MiB of text
    path = tmp_path / "claim.bbx"
    path.write_bytes(craft([(0x10, payload, 64 << 20)], [_file(b"t.txt", b"x" * (64 << 20))]))
    with archiver.open(path) as a:
        assert [type(e) for e in a.verify(quick=True).errors] == [CorruptChunk]
        with pytest.raises(CorruptChunk, match="cannot hold"):
            a._reader.read_chunk(0)


def test_empty_chunk_in_a_files_span_is_damage_not_a_crash(tmp_path):
    data = b"hello world"       # spans chunk 0, an empty chunk 1 (never written), chunk 2
    path = tmp_path / "empty_chunk.bbx"
    path.write_bytes(craft([(0, data[:5], 5), (0, b"", 0), (0, data[5:], 6)], [_file(b"a", data)]))
    with archiver.open(path) as a:      # the index is refused; the salvage stops at the chunk
        assert a.problems and "out of range" in str(a.problems[0])
        assert a.rows() == [] and not a.verify().ok


def test_json_names_every_file_a_damaged_chunk_loses(tmp_path):
    import json
    import subprocess
    from conftest import BBX, write_tree
    names = {b"f%02d.txt" % i: b"file %d\n" % i * 20 for i in range(12)}
    write_tree(tmp_path / "src", names)
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], codecs=["zstd"])
    with archiver.open(tmp_path / "t.bbx") as a:
        (c,) = a.chunks
    data = bytearray((tmp_path / "t.bbx").read_bytes())
    data[c.offset + layout.BLOCK.size + 3] ^= 0x10
    (tmp_path / "t.bbx").write_bytes(bytes(data))
    for args in (["--quick"], []):
        r = subprocess.run([str(BBX), "verify", "--json", *args, str(tmp_path / "t.bbx")],
                           capture_output=True, text=True)
        (err,) = json.loads(r.stdout)["errors"]
        assert "and 7 more" in err["message"]
        assert sorted(err["lost"]) == sorted("src/" + n.decode() for n in names)


def test_tiny_image_payload_declaring_many_pixels_is_refused_before_decoding():
    import struct
    from archiver.codecs import registry
    image = registry.get(0x20)
    payload = struct.pack("<BBII", 1, 0, 1024, 1024) + struct.pack("<I", 0) + (1 << 32 | 5).to_bytes(8, "little")
    with pytest.raises(CorruptChunk, match="more than it can code"):
        image.decode(payload, 10_000)      # 10^6 pixels from 22 bytes: 25 s of decoding before
