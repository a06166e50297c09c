"""Codec choice for one chunk: every codec that accepts it is tried, the smallest payload wins
(ties go to the cheaper decoder: store, then zstd, then model codecs). A model codec is
therefore used only where it beats zstd, and nothing is ever stored larger than it is. A codec
that cannot code a chunk exactly raises Declined and is passed over quietly; any other
exception is warned about.

Model codecs are slow (tens to hundreds of KB/s), so on a large chunk each first codes a
sample (the chunk's first SAMPLE_BYTES) and zstd codes the same sample: like with like. The
model runs on the whole chunk only if its sample payload is at most SCREEN_MARGIN times zstd's.
The margin was measured with benchmarks/screen_check.py: on held-out tune files the model won
on the whole chunk at sample ratios up to 1.017 (the whole chunk's ratio differs from the
sample's, either way), plus 0.02 of allowance. On other held-out folders this screen threw away no win (the
old one, model rate on the sample against zstd on the whole chunk, threw away 4 of 22) and
ran the model in vain on 4 chunks of 26 (time only: the smaller payload is kept anyway).

zstd at the archive's level (19 by default) runs at ~2-4 MB/s on data it cannot compress, such
as JPEGs, where it was most of create's time though it never won. So model codecs run first,
and zstd is skipped where a model payload is already below the codec's zstd_floor (a size
zstd at any level cannot go below, measured-safe for the codec's data, from a quick zstd
frame: zstd_codec.quick_size). Otherwise zstd runs and the smallest wins as before.

The functions at the end are what a worker runs (archiver/container/pool.py, or a Dask worker
through archiver/container/cluster.py): the coder is built once per process and settings, its
weights hash-checked against the ones the writer records."""
from __future__ import annotations

import functools
import hashlib
import threading
import time
from dataclasses import dataclass, field

from archiver.codecs import registry
from archiver.codecs.base import Codec, Declined, Progress
from archiver.codecs.zstd_codec import QUICK_LEVEL, quick_size
from archiver.container.records import display
from archiver.container.router import OTHER, WHOLE_FILE
from archiver.errors import InputError, MissingWeights, UnknownCodecName

SAMPLE_BYTES = 64 << 10       # what accepts() sees, and the size of the screening sample
SCREEN_MARGIN = 1.04          # model sample payload / zstd sample payload; see the docstring
STORE_ID, ZSTD_ID = 0x00, 0x01


def resolve(names: list[str] | None) -> set[int] | None:
    """Codec ids allowed by a --codecs list (None: all); store is always allowed."""
    if names is None:
        return None
    known = {c.name: c.codec_id for c in registry.all_codecs()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownCodecName(", ".join(unknown), ", ".join(sorted(known)))
    return {known[n] for n in names} | {STORE_ID}


@dataclass
class ChunkCoder:
    level: int
    warn: object = lambda msg: None
    allowed: set[int] | None = None          # codec ids that may be tried; None: all
    model_codecs: list[Codec] = field(default_factory=list)
    hashes: dict[int, tuple[str, ...]] = field(default_factory=dict)
    # Model codecs that would be tried but cannot run here (weights missing or damaged), with
    # why; the first chunk they would have served warns once, so this is never silent.
    unusable: dict[int, tuple[Codec, str]] = field(default_factory=dict)

    def __post_init__(self):
        self.use_zstd = self.allowed is None or ZSTD_ID in self.allowed
        # Model codecs whose weights are not installed cannot be used (nor recorded).
        for codec in registry.all_codecs():
            if codec.codec_id in (STORE_ID, ZSTD_ID):
                continue
            if self.allowed is not None and codec.codec_id not in self.allowed:
                continue
            try:
                self.hashes[codec.codec_id] = tuple(codec.model_hashes())
            except Exception as exc:  # noqa: BLE001 - any failure means "not usable here"
                self.unusable[codec.codec_id] = (codec, str(exc))
                continue
            self.model_codecs.append(codec)

    def warn_unusable(self, content_class: str) -> None:
        """Called by the writer for each class its files fall in (in the main process: pool
        workers build coders of their own)."""
        for cid, (codec, why) in list(self.unusable.items()):
            classes = codec.content_classes
            if classes is None or content_class in classes:
                del self.unusable[cid]           # once per archive
                self.warn(f"the {codec.name} codec cannot run, so {content_class} files went "
                          f"to zstd: {why}")

    def possible_hashes(self) -> set[str]:
        return {h for hs in self.hashes.values() for h in hs}

    def screen(self, codec: Codec, sample: bytes) -> bool:
        """Worth coding the whole chunk with `codec`? Its payload on the sample against zstd's
        on the same sample (store's when zstd is not allowed)."""
        model = len(codec.encode(sample, self.level))
        if self.use_zstd:
            base = min(len(sample), len(registry.get(ZSTD_ID).encode(sample, self.level)))
        else:
            base = len(sample)
        return model <= SCREEN_MARGIN * base

    def code(self, raw: bytes, first_path: str, content_class: str = OTHER,
             progress: Progress = None, warn=None) -> tuple[int, bytes]:
        """(codec id, payload) of the smallest encoding of `raw`, a chunk of the router's class
        `content_class`; model codecs are tried only on chunks of the classes they serve.
        `progress` goes to the model codec coding the whole chunk; `warn` (default self.warn)
        hears about a model codec that failed."""
        warn = warn or self.warn
        coded: list[tuple[Codec, bytes]] = []
        sample = raw[:SAMPLE_BYTES]
        for codec in self.model_codecs:
            classes = codec.content_classes
            if classes is not None and content_class not in classes:
                continue
            if not codec.accepts(sample, first_path):
                continue
            try:
                # a whole file's head is no sample of it (an image's head is not an image)
                if (len(raw) > 2 * SAMPLE_BYTES and content_class not in WHOLE_FILE
                        and not self.screen(codec, sample)):
                    continue
                payload = codec.encode(raw, self.level, progress)
            except Declined:
                continue
            except Exception as exc:  # noqa: BLE001 - a failing model must not lose the archive
                warn(f"codec {codec.name} failed on a chunk starting with {first_path} "
                     f"({type(exc).__name__}: {exc}); zstd or store used instead")
                continue
            if codec.ratio_ok(len(raw), len(payload)):
                coded.append((codec, payload))
        best_id, best = STORE_ID, raw
        if self.use_zstd and not self.zstd_beaten(raw, coded):
            zstd = registry.get(ZSTD_ID).encode(raw, self.level)
            if len(zstd) < len(best):
                best_id, best = ZSTD_ID, zstd
        for codec, payload in coded:
            if len(payload) < len(best):
                best_id, best = codec.codec_id, payload
        return best_id, best

    def zstd_beaten(self, raw: bytes, coded: list[tuple[Codec, bytes]]) -> bool:
        """Is a model payload already below what zstd at this level can reach on `raw` (below
        its codec's zstd_floor)? Then zstd need not run: it could not win."""
        if self.level <= QUICK_LEVEL or not coded:
            return False
        quick = functools.cache(lambda: quick_size(raw, self.level))
        return any(len(payload) < codec.zstd_floor(raw, quick) for codec, payload in coded)


# -- what a worker runs (a local pool process, a thread, or a Dask worker) ------------------

_coders: dict = {}
_coders_lock = threading.Lock()


def coder_for(level: int, allowed: set[int] | None,
              expected: dict[int, tuple[str, ...]]) -> ChunkCoder:
    """This process's coder for these settings, built once (models loaded and hash-checked
    here). Refused when this machine's weights differ from the writer's, which records
    their hashes in the header."""
    key = (level, None if allowed is None else tuple(sorted(allowed)),
           tuple(sorted(expected.items())), tuple(map(id, registry.all_codecs())))
    with _coders_lock:
        coder = _coders.get(key)
        if coder is None:
            coder = ChunkCoder(level, allowed=allowed)
            if coder.hashes != expected:
                raise MissingWeights("worker", f"its model weights {coder.hashes} differ from "
                                               f"the writer's {expected}; install the same bbx "
                                               "everywhere")
            _coders[key] = coder
    return coder


def read_pieces(pieces: list[tuple[bytes, int, int]], digest: bytes) -> bytes:
    """A chunk's bytes read from (path, offset, length) pieces, refused unless they hash to
    what the writer read (a file changed meanwhile, or is another file on this machine)."""
    parts = []
    for source, offset, length in pieces:
        try:
            with open(source, "rb") as f:
                f.seek(offset)
                data = f.read(length)
        except OSError as exc:
            raise InputError(display(source), f"{exc.strerror} (on a worker: is the path "
                                              "shared?)") from None
        if len(data) != length:
            raise InputError(display(source), "changed while being archived")
        parts.append(data)
    raw = b"".join(parts)
    if hashlib.sha256(raw).digest() != digest:
        raise InputError(display(pieces[0][0]), "a worker read other bytes than the writer "
                                                "(changed while being archived, or not the "
                                                "same file on the worker)")
    return raw


def encode_chunk(seq: int, data, digest: bytes | None, first_path: str, content_class: str,
                 level: int, allowed: set[int] | None, expected: dict[int, tuple[str, ...]]
                 ) -> tuple[int, bytes, list[str], float]:
    """(codec id, payload, warnings, seconds spent coding) for chunk `seq`: `data` is its
    bytes, or with `digest` the pieces to read them from."""
    from archiver.container.pool import task_progress
    raw = data if digest is None else read_pieces(data, digest)
    warnings: list[str] = []
    started = time.perf_counter()
    codec_id, payload = coder_for(level, allowed, expected).code(
        raw, first_path, content_class, task_progress(seq), warnings.append)
    return codec_id, payload, warnings, time.perf_counter() - started
