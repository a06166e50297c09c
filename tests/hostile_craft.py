"""Build archives byte by byte with every checksum valid: hostile content no CRC catches."""
from __future__ import annotations

import zlib

import zstandard

from archiver.container import layout
from archiver.container.records import ChunkInfo, Entry


def craft(chunks: list[tuple[int, bytes, int]], entries: list[Entry] | bytes,
          entries_zstd: bool = False, model_hashes: list[bytes] = ()) -> bytes:
    """An archive of `chunks` (codec id, payload, raw size), then one entries block holding
    `entries` (records, or any raw bytes), the index and the trailer."""
    out = bytearray(layout.pack_header(list(model_hashes)))
    rows, start = [], 0
    for codec, payload, raw in chunks:
        rows.append(ChunkInfo(len(out), codec, raw, len(payload), zlib.crc32(payload)))
        out += layout.pack_block(layout.BLOCK_CHUNK, codec, zlib.crc32(payload), raw, len(payload))
        out += payload
    raw = entries if isinstance(entries, bytes) else layout.pack_entries(entries)
    stored = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(raw) \
        if entries_zstd else raw
    codec = layout.INDEX_ZSTD if entries_zstd else layout.INDEX_STORE
    seg = ChunkInfo(len(out), codec, len(raw), len(stored), zlib.crc32(stored))
    out += layout.pack_block(layout.BLOCK_ENTRIES, codec, seg.crc32, len(raw), len(stored)) + stored
    count = 0 if isinstance(entries, bytes) else len(entries)
    index = layout.pack_index(rows, [seg], count)
    offset = len(out)
    out += layout.pack_block(layout.BLOCK_INDEX, 0, zlib.crc32(index), len(index), len(index)) + index
    return bytes(out + layout.pack_trailer(offset))
