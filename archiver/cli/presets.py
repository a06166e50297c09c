"""The presets of `bbx create` (-1 .. -9, --fast = -1, --best = -9): a zstd level, whether
model codecs run, and the chunk size. Chosen from benchmarks/bench_presets.py (benchmarks/
results/presets.md): model codecs cost two orders of magnitude in speed (about 0.1-0.3 MB/s
per core, to create and to extract alike) and pay off only where they win (text, photos), so
1-6 never run them and 7-9 do (each chunk still goes to whichever codec is smallest)."""
from __future__ import annotations

from dataclasses import dataclass


from archiver.container.chunking import PARTS
from archiver.container.layout import MAX_CHUNK_RAW
from archiver.container.writer import DEFAULT_CHUNK_SIZE


@dataclass(frozen=True)
class Preset:
    level: int                              # zstd level (also handed to model codecs)
    models: bool                            # model codecs are tried
    what: str = ""
    chunk_size: int = DEFAULT_CHUNK_SIZE    # larger: more context per chunk, less parallelism
    parts: int = PARTS                      # text cut in up to this many chunks (chunking.py)


PRESETS = {
    1: Preset(1, False, what="zstd -1 only: fastest"),
    2: Preset(3, False, what="zstd -3 only"),
    3: Preset(6, False, what="zstd -6 only"),
    4: Preset(9, False, what="zstd -9 only"),
    5: Preset(15, False, what="zstd -15 only"),
    6: Preset(19, False, what="zstd -19 only: smallest without models"),
    7: Preset(19, True, what="zstd -19 and model codecs (default)"),
    8: Preset(22, True, what="zstd -22 and model codecs"),
    9: Preset(22, True, chunk_size=MAX_CHUNK_RAW, parts=1,
              what="zstd -22, model codecs, 64 MiB chunks, text not cut for parallelism "
                   "(more memory, fewer parallel chunks)"),
}
DEFAULT = 7
FAST, BEST = 1, 9
