"""How each content class is cut into chunks, and in which order the classes are written: the
worker pool's parallel work, decided from the input alone (each class's total size), never
from the number of jobs, so the archive is the same whatever N.

Chunk size: a chunk is the unit of parallel work, and a fresh chunk restarts its codec's model
(the text codec's online model learns from the chunk alone; zstd loses the matches across the
cut). So a class is cut into at least PARTS chunks where that costs little, and not below its
MIN_CHUNK, chosen by measuring what a cut costs (benchmarks/bench_text_split.py; results in
benchmarks/results/jobs.md):
  text   every chunk costs ~2-3 KB (mixed held-out files) to ~10 KB (one dictionary) of model
         learning: 3 MiB coded in 2 / 4 / 8 / 12 chunks costs +0.9 / 2.7 / 4.3 / 8.0% on the
         tuning files and +2.9 / 6.5 / 11.3 / 14.4% on the tail of dict-gcide (variant 3).
         But the text codec is the slow one per byte (~1.2 us/byte with variant 4, 4.6 with
         variant 3: a 3 MiB chunk is seconds on one core, the whole run's critical path), so
         text is cut in PARTS, not below MIN_CHUNK (384 KiB: at most the 8-part cost above). Starting each chunk's model after 146 KB of training text
         (what a trained initial state would give) won back only a fifth to a quarter of it.
  other  zstd -19 on shared libraries: 2 parts cost +2.7%, 4 parts +5.8%; zstd is fast, so
         its chunks keep the full chunk size.
Whole-file classes (image, JPEG) get one file per chunk (router.WHOLE_FILE). Text chunks are
PACKED: filled to the byte, a file continuing into the next chunk, because every chunk costs
the model its learning whether it starts at a file or inside one, so the fewest chunks are
the smallest archive; other classes start a file that does not fit in a new chunk (one file,
one chunk to decode).

Order: the pool hands chunks to workers in archive order (the writer writes in that order with
a bound on chunks in flight), so a long chunk coded last keeps one worker busy while the
others idle. The classes are written in decreasing order of the expected cost of one of their
chunks (bytes x CPU per byte of the class's codec): long chunks first, the short ones fill the
tail (longest-processing-time-first list scheduling)."""
from __future__ import annotations

from archiver.container import router

PARTS = 8                       # the most chunks a class is cut into for parallelism alone
MIN_CHUNK = {router.TEXT: 384 << 10}    # other classes: the caller's chunk size
PACKED = frozenset({router.TEXT})
# CPU seconds per input byte on one core at level 19, as measured (only the ratios matter):
# text codec 1.2 us (variant 4, bench_jobs text), image codec ~3 us (0.35 MP/s,
# results/image.md), zstd -19 on binaries 0.55 us, Lepton on JPEGs 0.2 us.
COST_PER_BYTE = {router.TEXT: 1.2e-6, router.IMAGE: 3e-6, router.OTHER: 0.55e-6,
                 router.JPEG: 0.2e-6}


def chunk_size(content_class: str, class_bytes: int, limit: int, parts: int = PARTS) -> int:
    """Bytes per chunk for a class holding class_bytes in all, at most `limit` (the
    archive's chunk size): the class in `parts` chunks where its MIN_CHUNK allows (parts=1:
    as few chunks as the limit allows, the smallest archive)."""
    floor = MIN_CHUNK.get(content_class)
    if floor is None:
        return limit
    return max(1, min(limit, max(floor, -(-class_bytes // max(1, parts)))))


def class_order(class_bytes: dict[str, int], sizes: dict[str, int],
                largest: dict[str, int]) -> list[str]:
    """The classes present, longest expected chunk first; ties in router.CLASSES order.
    `sizes`: each class's chunk size; `largest`: each class's largest file (a whole-file
    class's longest chunk)."""
    def chunk_cost(cls: str) -> float:
        one = largest[cls] if cls in router.WHOLE_FILE else min(sizes[cls], class_bytes[cls])
        return one * COST_PER_BYTE.get(cls, COST_PER_BYTE[router.OTHER])
    return sorted(class_bytes, key=lambda c: (-chunk_cost(c), router.CLASSES.index(c)))
