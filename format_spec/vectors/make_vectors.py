"""Regenerate the golden archives of format_spec/vectors/ and their manifest vectors.json.

    .venv/bin/python format_spec/vectors/make_vectors.py

The archives are assembled here field by field from archiver.container.layout (not by the
writer), with store-coded chunks and index unless a vector is about zstd, so their bytes do
not depend on the zstd library version; tests regenerate them and require identical bytes
(`byte_exact`), then read each one and check the expected outcome.
"""
from __future__ import annotations

import hashlib
import json
import struct
import tempfile
import zlib
from pathlib import Path

import zstandard

from archiver.container import layout
from archiver.container.records import DIRECTORY, FILE, SYMLINK, ChunkInfo, Entry

HERE = Path(__file__).resolve().parent
MTIME = 1_700_000_000_123_456_789


class Builder:
    """Lay out an archive: header, an entries block for directories and links, then each
    chunk followed by an entries block for the files that end in it, index, trailer."""

    def __init__(self, hashes: list[bytes] = ()):
        self.hashes = list(hashes)
        self.entries: list[Entry] = []
        self.last_chunk: dict[int, int | None] = {}     # id(file entry) -> chunk it ends in
        self.chunk_raw: list[bytearray] = [bytearray()]
        self.codecs: list[int] = [0]

    def new_chunk(self, codec: int = 0) -> None:
        if self.chunk_raw[-1]:
            self.chunk_raw.append(bytearray())
            self.codecs.append(codec)
        else:
            self.codecs[-1] = codec

    def dir(self, path: bytes, mode: int = 0o755) -> None:
        self.entries.append(Entry(path, DIRECTORY, mode, MTIME))

    def link(self, path: bytes, target: bytes) -> None:
        self.entries.append(Entry(path, SYMLINK, 0o777, MTIME, link=target))

    def file(self, path: bytes, data: bytes, mode: int = 0o644, max_chunk: int = 1 << 30) -> None:
        e = Entry(path, FILE, mode, MTIME, len(data), sha256=hashlib.sha256(data).digest())
        self.last_chunk[id(e)] = None
        if data:
            e.chunk, e.offset = len(self.chunk_raw) - 1, len(self.chunk_raw[-1])
            rest = data
            while rest:
                room = max_chunk - len(self.chunk_raw[-1])
                self.chunk_raw[-1] += rest[:room]
                rest = rest[room:]
                if rest:
                    self.new_chunk(self.codecs[-1])
            self.last_chunk[id(e)] = len(self.chunk_raw) - 1
        self.entries.append(e)

    def build(self, index_codec: int = 0, header_size: int | None = None,
              hashes_copy: bool = False) -> bytes:
        """hashes_copy: format 1.1, the model hashes again in a block before the index."""
        minor = layout.MINOR_TAIL_BLOCKS if hashes_copy else layout.VERSION_MINOR
        out = bytearray(layout.pack_header(self.hashes, header_size, minor))
        chunks, segments = [], []

        def block(kind, codec, raw):
            payload = raw if codec != 0x01 else zstandard.ZstdCompressor(
                level=3, write_content_size=True).compress(raw)
            crc = zlib.crc32(payload)
            row = ChunkInfo(len(out), codec, len(raw), len(payload), crc)
            out.extend(layout.pack_block(kind, codec, crc, len(raw), len(payload)) + payload)
            return row

        def entries_block(group):
            if group:
                segments.append(block(layout.BLOCK_ENTRIES, index_codec, layout.pack_entries(group)))

        entries_block([e for e in self.entries if e.type != FILE])
        for i, (raw, codec) in enumerate(zip(self.chunk_raw, self.codecs)):
            if raw:
                chunks.append(block(layout.BLOCK_CHUNK, codec, bytes(raw)))
            entries_block([e for e in self.entries if e.type == FILE and self.last_chunk[id(e)] == i])
        entries_block([e for e in self.entries if e.type == FILE and self.last_chunk[id(e)] is None])
        if hashes_copy:
            out += layout.pack_hashes_block(self.hashes)
        index = block(layout.BLOCK_INDEX, index_codec, layout.pack_index(chunks, segments, len(self.entries)))
        out += layout.pack_trailer(index.offset)
        return bytes(out)


def _basic() -> Builder:
    b = Builder()
    b.dir(b"top")
    b.dir(b"top/empty-dir", 0o700)
    b.file(b"top/hello.txt", b"hello, bbx\n")
    b.file(b"top/empty", b"")
    b.file(b"top/run.sh", b"#!/bin/sh\necho hi\n", 0o755)
    b.file(b"top/caf\xc3\xa9 \xff odd name", b"bytes in names are kept as they are\n")
    b.link(b"top/link", b"hello.txt")
    return b


def _patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new):]


def _recrc_header(data: bytes) -> bytes:
    end = struct.unpack_from("<I", data, 16)[0] - 4
    return _patch(data, end, struct.pack("<I", zlib.crc32(data[:end])))


def _index_with(raw_index: bytes, chunks_blob: bytes = b"") -> bytes:
    """An archive whose index (stored) is the given bytes, after an optional chunk area."""
    out = layout.pack_header([]) + chunks_blob
    offset = len(out)
    return out + layout.pack_block(layout.BLOCK_INDEX, 0, zlib.crc32(raw_index), len(raw_index),
                                   len(raw_index)) + raw_index + layout.pack_trailer(offset)


def vectors() -> dict[str, tuple[bytes, dict]]:
    v: dict[str, tuple[bytes, dict]] = {}
    basic = _basic()
    files = {e.name: e.sha256.hex() for e in basic.entries if e.type == FILE}
    basic_bytes = basic.build()
    v["empty"] = (Builder().build(), {"valid": True, "files": {}})
    v["basic"] = (basic_bytes, {"valid": True, "files": files, "links": {"top/link": "hello.txt"},
                                "dirs": ["top", "top/empty-dir"]})

    multi = Builder()
    multi.file(b"a/small-1", b"one\n")
    multi.file(b"a/small-2", b"two\n")
    multi.file(b"a/spanning", bytes(range(256)) * 40, max_chunk=4096)
    multi.file(b"a/tail", b"after the large file\n", max_chunk=4096)
    multi_bytes = multi.build()
    multi_files = {e.name: e.sha256.hex() for e in multi.entries}
    v["multichunk"] = (multi_bytes, {"valid": True, "files": multi_files,
                                     "chunks": len(multi.chunk_raw)})
    # Format 1.1: the same archive with a 20% recovery record; damaged, it repairs to it.
    rec = _with_recovery(multi_bytes, 20)
    v["recovery"] = (rec, {"valid": True, "files": multi_files, "chunks": len(multi.chunk_raw)})
    at = rec.index(bytes(range(256))) + 100
    hit = _patch(_patch(rec, at, bytes([rec[at] ^ 0x01])), 3, b"\x00")
    v["recovery_damaged"] = (hit, {"open_error": "NotAnArchive", "repairs_to": "recovery"})

    z = Builder()
    z.new_chunk(codec=0x01)
    z.file(b"z/text", b"zstd coded chunk, zstd coded index. " * 50)
    v["zstd"] = (z.build(index_codec=0x01), {"valid": True, "byte_exact": False, "files": {
        e.name: e.sha256.hex() for e in z.entries}})

    # Newer minor version with an unused field set: still readable.
    minor = _recrc_header(_patch(_patch(basic_bytes, 9, b"\x07"), 14, b"\x5a\xa5"))
    v["minor_version"] = (minor, {"valid": True, "files": files})

    v["bad_magic"] = (b"PK\x03\x04" + basic_bytes[4:], {"open_error": "NotAnArchive"})
    v["future_major"] = (_recrc_header(_patch(basic_bytes, 8, b"\x02")), {"open_error": "UnsupportedVersion"})
    v["reserved_flag"] = (_recrc_header(_patch(basic_bytes, 10, b"\x01\x00")), {"open_error": "UnsupportedFeature"})
    v["header_crc"] = (_patch(basic_bytes, 20, bytes([basic_bytes[20] ^ 0x10])),
                       {"extract_error": "CorruptArchive", "files": files})
    padded = Builder()
    padded.file(b"p", b"header with reserved room for 3 model hashes, none used\n")
    v["header_padding"] = (padded.build(header_size=layout.header_size(3)), {"valid": True, "files": {
        e.name: e.sha256.hex() for e in padded.entries}})
    v["trailer_crc"] = (_patch(basic_bytes, len(basic_bytes) - 20, b"\xff"),
                        {"extract_error": "CorruptArchive", "files": files})
    v["huge_counts"] = (_index_with(struct.pack("<QQQ", 0, 0, 1 << 60)),
                        {"extract_error": "CorruptArchive", "files": {}})
    v["huge_chunk"] = (_index_with(struct.pack("<QQQ", 1, 0, 0) + layout.BLOCK_ROW.pack(
        len(layout.pack_header([])), 1 << 40, 10, 0, 0, 0, 0), bytes(38)),
        {"extract_error": "CorruptArchive", "files": {}})
    # Cut inside the third chunk: the first two files and their entries blocks are salvaged.
    t = Builder()
    t.dir(b"t")
    for i in range(3):
        t.new_chunk()
        t.file(b"t/part-%d" % i, b"content of file %d\n" % i * 20)
    whole = t.build()
    cut = whole.index(b"content of file 2")
    v["truncated"] = (whole[:cut + 5], {"extract_error": "CorruptArchive", "dirs": ["t"], "files": {
        e.name: e.sha256.hex() for e in t.entries if e.type == FILE and not e.path.endswith(b"2")}})

    # Chunk damage: one file lost (named), the others still extract.
    d = Builder()
    d.file(b"d/good-1", b"first chunk\n")
    d.new_chunk()
    d.file(b"d/lost", b"this chunk will be damaged\n")
    d.new_chunk()
    d.file(b"d/good-2", b"third chunk\n")
    damaged = d.build()
    at = damaged.index(b"this chunk will")
    v["chunk_crc"] = (_patch(damaged, at, b"T"), {"extract_error": "CorruptChunk", "lost": ["d/lost"],
                                                 "files": {e.name: e.sha256.hex() for e in d.entries
                                                           if e.name != "d/lost"}})
    u = Builder()
    u.new_chunk(codec=0x7F)
    u.file(b"u/unknown-codec", b"payload of a codec nobody has")
    blob = u.build()
    v["unknown_codec"] = (blob, {"extract_error": "UnknownCodec", "lost": ["u/unknown-codec"], "files": {}})

    for name, path in (("traversal_dotdot", b"../evil"), ("traversal_abs", b"/tmp/bbx-evil"),
                       ("traversal_inner", b"ok/../../evil")):
        t = Builder()
        t.file(path, b"must never be written\n")
        t.file(b"safe", b"this one extracts\n")
        v[name] = (t.build(), {"extract_error": "UnsafePath", "files": {
            "safe": hashlib.sha256(b"this one extracts\n").hexdigest()}})
    s = Builder()
    s.link(b"up", b"../../etc")
    s.file(b"safe", b"this one extracts\n")
    v["symlink_escape"] = (s.build(), {"extract_error": "UnsafePath", "files": {
        "safe": hashlib.sha256(b"this one extracts\n").hexdigest()}})

    w = _basic()
    w.hashes = [hashlib.sha256(b"weights this bbx does not have").digest()]
    v["missing_weights"] = (w.build(), {"extract_error": "MissingWeights", "files": {}})
    # Format 1.1: the header's model hashes copied before the index. With the header damaged,
    # the reader still knows them (and so refuses weights it does not have, as with `missing_weights`).
    copied = w.build(hashes_copy=True)
    v["header_crc_hashes_copy"] = (_patch(copied, 25, bytes([copied[25] ^ 0x08])),
                                   {"extract_error": "MissingWeights", "files": {}})
    for meta in (m for _, m in v.values()):
        meta.setdefault("byte_exact", True)
    return v


def _with_recovery(archive: bytes, percent: int) -> bytes:
    """The archive with a recovery record added by archiver.recovery (the parity is the
    code's output, not a layout field, so it is made by the code the spec describes)."""
    from archiver.recovery.record import add_record
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.flush()
        add_record(f.fileno(), percent, "vector")
        f.seek(0)
        return f.read()


def main() -> None:
    manifest = {}
    for name, (data, meta) in vectors().items():
        (HERE / f"{name}.bbx").write_bytes(data)
        manifest[name] = dict(meta, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (HERE / "vectors.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(manifest)} vectors to {HERE}")


if __name__ == "__main__":
    main()
