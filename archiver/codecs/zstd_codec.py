"""Codec 0x01: Zstandard, one frame per chunk.

The frame always records its content size, so a decoder can refuse a frame that claims more
than the chunk's raw size before allocating anything. Large chunks get a window covering the
whole chunk and long-distance matching, so repeats anywhere in the chunk are found."""
from __future__ import annotations

import zstandard

from archiver.codecs.base import Codec, Progress
from archiver.codecs.registry import register
from archiver.errors import CorruptChunk

LDM_MIN_SIZE = 8 << 20       # below this the level's own window already covers the chunk
MAX_WINDOW_LOG = 27          # 128 MiB: the default limit of every zstd decoder
MIN_LEVEL, MAX_LEVEL = 1, 22
QUICK_LEVEL = 7


def _params(level: int, size: int) -> zstandard.ZstdCompressionParameters:
    level = max(MIN_LEVEL, min(MAX_LEVEL, level))
    if size < LDM_MIN_SIZE:
        return zstandard.ZstdCompressionParameters.from_level(
            level, source_size=size, write_content_size=True, write_checksum=False)
    window_log = min(MAX_WINDOW_LOG, max(10, (size - 1).bit_length()))
    return zstandard.ZstdCompressionParameters.from_level(
        level, source_size=size, window_log=window_log, enable_ldm=True,
        write_content_size=True, write_checksum=False)


def quick_size(data: bytes, level: int) -> int:
    """Size of a zstd frame of `data` at level QUICK_LEVEL with the window (and long-distance
    matching) that `level` would use: a cheap stand-in for `level`'s payload (50-100 MB/s on
    JPEGs zstd compresses a little, ~1 GB/s on camera JPEGs, against ~4 MB/s at 19), with
    which the chunk coder decides whether the slow level can matter (base.Codec.zstd_floor).
    The same window finds the same long repeats (a file appended to itself), so the two differ
    only in how well each parses: QUICK_LEVEL 7 (lazy matching) is within 5% of level 19 on
    flat grayscale JPEGs where level 1 is 16% off (benchmarks/results/jpeg.md)."""
    slow = _params(level, len(data))
    params = zstandard.ZstdCompressionParameters.from_level(
        QUICK_LEVEL, source_size=len(data), window_log=slow.window_log,
        enable_ldm=bool(slow.enable_ldm), write_content_size=True, write_checksum=False)
    return len(zstandard.ZstdCompressor(compression_params=params).compress(data))


class ZstdCodec(Codec):
    codec_id = 0x01
    name = "zstd"

    def encode(self, data: bytes, level: int, progress: Progress = None) -> bytes:
        cctx = zstandard.ZstdCompressor(compression_params=_params(level, len(data)))
        return cctx.compress(data)

    def decode(self, payload: bytes, size: int, progress: Progress = None) -> bytes:
        try:
            declared = zstandard.frame_content_size(payload)
        except zstandard.ZstdError as exc:
            raise CorruptChunk(f"not a zstd frame ({exc})") from None
        if declared != size:
            raise CorruptChunk(f"zstd frame declares {declared} bytes, expected {size}")
        try:
            dctx = zstandard.ZstdDecompressor(max_window_size=1 << MAX_WINDOW_LOG)
            out = dctx.decompress(payload, max_output_size=size)
        except zstandard.ZstdError as exc:
            raise CorruptChunk(f"zstd: {exc}") from None
        if len(out) != size:
            raise CorruptChunk(f"zstd frame decoded to {len(out)} bytes, expected {size}")
        return out


ZSTD = register(ZstdCodec())
