"""Finding the deflate parameters that reproduce a given raw deflate stream exactly.

A stream is rebuilt either by one compressor of the zlib family (stock zlib or zlib-ng, with
level, window bits, memLevel and strategy) or, when it is made only of stored blocks, by its
block lengths. The search reads the first block (deflate_probe) to rule out most settings,
then compresses just enough input to emit the first block with each remaining candidate; the
first whose output matches goes on, comparing as it compresses, to the whole stream. The order
is fixed (the most common writers' settings first, ranked by the survey in
benchmarks/png_rebuild_survey.py, then reordered by the zlib header's fields) rather than
learned while running, so the parameters recorded for a file never depend on which files came
before it or on the number of workers."""
from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass

from zlib_ng import zlib_ng

from archiver.codecs.image_files import deflate_probe
from archiver.errors import MissingLibrary

ZLIB, ZLIB_NG = 0, 1
LIBS = {ZLIB: zlib, ZLIB_NG: zlib_ng}
# "Stock zlib" means Mark Adler's zlib, whose deflate output we rely on staying the same across
# the 1.2 and 1.3 releases (only 1.2.13 was at hand to measure). Python links whatever zlib the system has; some systems put zlib-ng's
# compatibility build there (its version string says so), which deflates differently: there
# the stock-zlib settings are neither searched nor rebuilt.
STOCK_ZLIB = "zlib-ng" not in zlib.ZLIB_RUNTIME_VERSION
DEFAULT, FILTERED, HUFFMAN_ONLY, RLE, FIXED = 0, 1, 2, 3, 4
MODE_ZLIB, MODE_STORED = 0, 1
_MIN_LOOKAHEAD = 262          # zlib's MAX_MATCH + MIN_MATCH + 1: the farthest reach is w - this

# (lib, level, strategy) in the order tried, ranked by how often each setting rebuilt the files
# of benchmarks/png_rebuild_survey.py (libpng's default filtered strategy at 6 and 9, Pillow's
# default strategy, ImageMagick at 7), stock zlib before zlib-ng (Pillow wheels that bundle
# zlib-ng write with it), then the rest. The zlib header's level and window fields reorder this
# per file (_hint_rank).
_PRIORITY = (
    [(ZLIB, 9, FILTERED), (ZLIB, 6, FILTERED), (ZLIB, 9, DEFAULT), (ZLIB, 7, FILTERED),
     (ZLIB, 6, DEFAULT), (ZLIB_NG, 6, DEFAULT), (ZLIB_NG, 9, DEFAULT), (ZLIB, 7, DEFAULT)]
    + [(ZLIB, level, FILTERED) for level in (4, 5, 8)]
    + [(ZLIB, level, DEFAULT) for level in (1, 2, 3, 4, 5, 8)]
    + [(ZLIB_NG, level, DEFAULT) for level in (1, 2, 3, 4, 5, 7, 8)]
    + [(ZLIB_NG, level, FILTERED) for level in (6, 9, 1, 2, 3, 4, 5, 7, 8)]
    + [(lib, level, FIXED) for level in (6, 9, 1, 2, 3, 4, 5, 7, 8) for lib in (ZLIB, ZLIB_NG)]
)
# Search limits, in work rather than time (see find). A wrong setting costs about one first
# block of compression (16K-32K symbols, a few milliseconds); one that passes the first-block
# test and fails later costs up to a whole compression. The search stops once it has tried
# MAX_TRIES settings and fed MAX_FED bytes to compressors (small images get more settings: they
# are cheap), after MAX_ANY_TRIES settings whatever they cost, or after MAX_CONFIRMS late
# failures. In the survey (benchmarks/results/png_rebuild.md) files that rebuilt needed at most
# 46 settings.
MAX_TRIES = 160
MAX_FED = 32 << 20
MAX_ANY_TRIES = 2000
MAX_CONFIRMS = 2
_MEM_ORDER = (8, 9, 7, 6, 5, 4, 3, 2, 1)
_WBITS_ORDER = (15, 14, 13, 12, 11, 10, 9)
# Huffman-only and RLE ignore level and window (no matches beyond distance 1).
_LEVEL_FREE = ((ZLIB, HUFFMAN_ONLY), (ZLIB_NG, HUFFMAN_ONLY), (ZLIB, RLE), (ZLIB_NG, RLE))


@dataclass(frozen=True)
class ZlibParams:
    lib: int
    level: int
    wbits: int
    mem_level: int
    strategy: int


@dataclass(frozen=True)
class StoredParams:
    lengths: tuple[int, ...]


DeflateParams = ZlibParams | StoredParams


def valid(p: ZlibParams) -> bool:
    return (p.lib in LIBS and 0 <= p.level <= 9 and 9 <= p.wbits <= 15 and 1 <= p.mem_level <= 9
            and p.strategy in (DEFAULT, FILTERED, HUFFMAN_ONLY, RLE, FIXED))


Rows = list  # of (bytes per deflate() call, number of such calls): how a writer fed its data


def _pieces(p: ZlibParams, data: bytes, rows: Rows | None, first: int):
    """The input as the compressor is fed. Stock zlib's output does not depend on how its input
    is cut (measured, levels 1-9), so it gets pieces that grow from `first` bytes, cheap to
    test early. zlib-ng's output does: it is fed one scanline per call, as Pillow and libpng
    feed it (or all at once when there are no rows)."""
    if p.lib == ZLIB_NG:
        if rows is None:
            yield data
            return
        at = 0
        for size, count in rows:
            for _ in range(count):
                yield data[at:at + size]
                at += size
        if at < len(data):
            yield data[at:]
        return
    at, step = 0, max(first, 1 << 14)
    while at < len(data):
        yield data[at:at + step]
        at += step
        step = min(step * 2, 1 << 22)


# The stream the search just proved deflate() writes for (params, rows, data): the rebuild check
# that follows at create time then costs no second compression. One entry per thread.
_proved = threading.local()


def _remember(params: ZlibParams, data: bytes, rows: Rows | None, stream: bytes) -> None:
    _proved.entry = (params, None if rows is None else list(rows), data, stream)


def deflate(params: DeflateParams, data: bytes, rows: Rows | None = None) -> bytes:
    """The raw deflate stream of `data` under `params`; `rows`: how zlib-ng is fed (_pieces)."""
    if isinstance(params, StoredParams):
        return deflate_probe.stored_stream(list(params.lengths), data)
    if params.lib == ZLIB and not STOCK_ZLIB:
        raise MissingLibrary(
            f"this file needs stock zlib to rebuild, but Python here runs on zlib "
            f"{zlib.ZLIB_RUNTIME_VERSION}; extract it on a system with zlib 1.2 or 1.3")
    entry = getattr(_proved, "entry", None)
    if entry is not None and entry[0] == params and entry[2] == data \
            and entry[1] == (None if rows is None else list(rows)):
        return entry[3]
    c = LIBS[params.lib].compressobj(params.level, zlib.DEFLATED, -params.wbits,
                                     params.mem_level, params.strategy)
    if params.lib == ZLIB:
        return c.compress(data) + c.flush()
    return b"".join([c.compress(piece) for piece in _pieces(params, data, rows, 0)] + [c.flush()])


def _mem_levels(fb: deflate_probe.FirstBlock | None) -> tuple[int, ...]:
    """memLevels whose symbol buffer (2^(m+6) - 1 symbols per block) fits the first block."""
    if fb is None or fb.btype == 0 or fb.end_bit < 0:
        return _MEM_ORDER
    if fb.final:
        return tuple(m for m in _MEM_ORDER if (1 << (m + 6)) - 1 >= fb.symbols)
    return tuple(m for m in _MEM_ORDER if (1 << (m + 6)) - 1 == fb.symbols)


def _flevel(p: ZlibParams) -> int:
    """The FLEVEL field zlib (and zlib-ng) writes in the zlib header for these settings."""
    if p.strategy >= HUFFMAN_ONLY or p.level < 2:
        return 0
    return 1 if p.level < 6 else 2 if p.level == 6 else 3


def _hint_rank(p: ZlibParams, header: bytes | None) -> tuple[int, int]:
    """How far the settings are from what the zlib header says (level class, window)."""
    if header is None or len(header) < 2:
        return (0, 0)
    level_off = int(_flevel(p) != header[1] >> 6)
    # Huffman-only and RLE are tried with one window: the header's says nothing against them.
    window_off = int(p.wbits != (header[0] >> 4) + 8 and p.strategy not in (HUFFMAN_ONLY, RLE))
    return (level_off + window_off, level_off)


def candidates(fb: deflate_probe.FirstBlock | None, size: int,
               header: bytes | None = None) -> list[ZlibParams]:
    """Settings that could have written a stream whose first block is `fb` (and whose zlib
    header, if given, is `header`), most likely first."""
    mems = _mem_levels(fb)
    reach = fb.max_distance if fb else 0
    wbits = [w for w in _WBITS_ORDER if (1 << w) - _MIN_LOOKAHEAD >= reach]
    # Once the whole input fits in a window, a larger window changes nothing: keep the
    # smallest such window and every smaller one the first block allows.
    fits = [w for w in wbits if (1 << w) - _MIN_LOOKAHEAD >= size]
    if fits:
        wbits = [w for w in wbits if w <= min(fits)]
        wbits.sort(reverse=True)
    out: list[ZlibParams] = []
    level_free = [ZlibParams(lib, 9, 15, m, s) for lib, s in _LEVEL_FREE for m in mems]
    if fb is not None and fb.matches == 0:
        out += [p for p in level_free if p.strategy == HUFFMAN_ONLY]
    if fb is not None and fb.only_distance_one:
        out += [p for p in level_free if p.strategy == RLE]
    triples = list(_PRIORITY)
    if fb is not None and fb.btype == 1:
        # Fixed codes: zlib-ng's level 1 writes only those, then the fixed strategy.
        triples.sort(key=lambda t: 0 if t == (ZLIB_NG, 1, DEFAULT) else 1 if t[2] == FIXED else 2)
    for w in wbits:
        for lib, level, strategy in triples:
            if lib == ZLIB_NG and level == 1 and strategy != FIXED:
                # zlib-ng's level 1 (deflate_quick) writes fixed-code blocks that do not end
                # when a symbol buffer fills.
                if fb is None or fb.btype == 1:
                    out += [ZlibParams(lib, level, w, m, strategy) for m in _MEM_ORDER]
                continue
            out += [ZlibParams(lib, level, w, m, strategy) for m in mems]
    seen, unique = set(), []
    for p in out + level_free:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    # libpng lowers the header's window field for small images; a window that fits the whole
    # input is then as good as the header's.
    fit = min((w for w in _WBITS_ORDER if (1 << w) - _MIN_LOOKAHEAD >= size), default=None)
    if header is not None and len(header) == 2 and fit is not None and (header[0] >> 4) + 8 < fit:
        header = bytes(((fit - 8) << 4 | header[0] & 0x0F, header[1]))
    if not STOCK_ZLIB:
        unique = [p for p in unique if p.lib != ZLIB]
    order = {p: i for i, p in enumerate(unique)}
    return sorted(unique, key=lambda p: (*_hint_rank(p, header), order[p]))


def _matches(p: ZlibParams, data: bytes, rows: Rows | None, target: bytes, need: int,
             first_feed: int, stats: "SearchStats") -> bool:
    """Compress with `p`, comparing the output with `target` as it comes out. The first
    `need` bytes (the first block) are the cheap test that rules out almost every wrong
    setting; a setting that passes it goes on, with the same compressor, to the whole stream."""
    c = LIBS[p.lib].compressobj(p.level, zlib.DEFLATED, -p.wbits, p.mem_level, p.strategy)
    got, fed, passed = 0, 0, False
    for piece in _pieces(p, data, rows, first_feed):
        if not passed and fed >= 2 * first_feed + (1 << 16):
            return False           # no first block where the target has one: other block sizes
        out = c.compress(piece)
        fed += len(piece)
        stats.fed += len(piece)
        if out != target[got:got + len(out)]:
            return False
        got += len(out)
        if not passed and got >= need:
            passed = True
            stats.confirmed += 1
            if p.lib == ZLIB:
                # the rest exactly as deflate() (the rebuild) compresses: all in one call
                stats.fed += len(data) - fed
                full = deflate(p, data, rows)
                if full != target:
                    return False
                _remember(p, data, rows, full)
                return True
    piece = c.flush()
    if got + len(piece) != len(target) or piece != target[got:]:
        return False
    _remember(p, data, rows, target)
    return True


@dataclass
class SearchStats:
    tried: int = 0                # settings compressed
    confirmed: int = 0            # of those, how many matched the first block
    fed: int = 0                  # bytes fed to compressors
    seconds: float = 0.0          # CPU seconds of the search (load on the machine aside)
    gave_up: bool = False
    params: "DeflateParams | None" = None
    reason: str = ""              # why a file was refused (set by the format modules)


def find(data: bytes, stream: bytes, max_tries: int = MAX_TRIES,
         stats: SearchStats | None = None, header: bytes | None = None,
         rows: Rows | None = None) -> DeflateParams | None:
    """Parameters with deflate(params, data) == stream, or None: none of the candidates tried
    within the limits above (`max_tries`: MAX_TRIES) matches.
    `header`: the zlib header in front of the stream, a hint for the order; `rows`: how a
    writer fed zlib-ng (_pieces). The limits count
    work, not seconds, so the answer never depends on the machine's speed or load."""
    stats = stats if stats is not None else SearchStats()
    start = time.process_time()
    try:
        lengths = deflate_probe.stored_blocks(stream)
        if lengths is not None:
            params = StoredParams(tuple(lengths))
            stats.params = params
            return params if deflate(params, data) == stream else None
        fb = deflate_probe.first_block(stream)
        need = (fb.end_bit + 7) // 8 if fb is not None and fb.end_bit > 0 else 64
        need = min(need, len(stream))
        first_feed = (fb.out_length if fb is not None else 0) + (1 << 14)
        for p in candidates(fb, len(data), header):
            if ((stats.tried >= max_tries and stats.fed >= MAX_FED)
                    or stats.tried >= MAX_ANY_TRIES or stats.confirmed >= MAX_CONFIRMS):
                stats.gave_up = True
                break
            stats.tried += 1
            # The first setting in priority order that matches is the answer.
            if _matches(p, data, rows, stream, need, first_feed, stats):
                stats.params = p
                return p
        return None
    finally:
        stats.seconds = time.process_time() - start
