"""Codec choice for one chunk: every codec that accepts it is tried, the smallest payload wins
(ties go to the cheaper decoder: store, then zstd, then model codecs). A model codec is
therefore used only where it beats zstd, and nothing is ever stored larger than it is.

Model codecs are slow (tens of KB/s), so on a large chunk each first codes a sample of the
chunk's head; it runs on the whole chunk only if its rate there, extrapolated to the chunk,
comes within SCREEN_SLACK of the best payload so far (zstd on the whole chunk). A model's rate
hardly depends on the input's length, while zstd gains from a longer input, so a model that
fails this test would lose on the whole chunk. `screen=False` skips the test (bbx create
--best): the model then codes every chunk of its classes, which costs its full time but never
misses a chunk where it would have won."""
from __future__ import annotations

from dataclasses import dataclass, field

from archiver.codecs import registry
from archiver.codecs.base import Codec
from archiver.container.router import OTHER
from archiver.errors import UnknownCodecName

SAMPLE_BYTES = 64 << 10       # what accepts() sees, and the size of the screening sample
SCREEN_SLACK = 1.05
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
    note: object = lambda msg: None          # information only (e.g. weights not installed)
    screen: bool = True                      # screen model codecs on a sample first
    model_codecs: list[Codec] = field(default_factory=list)
    hashes: dict[int, tuple[str, ...]] = field(default_factory=dict)

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
                self.note(f"codec {codec.name} not used: {exc}")
                continue
            self.model_codecs.append(codec)

    def possible_hashes(self) -> set[str]:
        return {h for hs in self.hashes.values() for h in hs}

    def code(self, raw: bytes, first_path: str, content_class: str = OTHER) -> tuple[int, bytes]:
        """(codec id, payload) of the smallest encoding of `raw`, a chunk of the router's class
        `content_class`; model codecs are tried only on chunks of the classes they serve."""
        best_id, best = STORE_ID, raw
        if self.use_zstd:
            zstd = registry.get(ZSTD_ID).encode(raw, self.level)
            if len(zstd) < len(best):
                best_id, best = ZSTD_ID, zstd
        sample = raw[:SAMPLE_BYTES]
        for codec in self.model_codecs:
            classes = codec.content_classes
            if classes is not None and content_class not in classes:
                continue
            if not codec.accepts(sample, first_path):
                continue
            try:
                if self.screen and len(raw) > 2 * SAMPLE_BYTES:
                    guess = len(codec.encode(sample, self.level)) * len(raw) / len(sample)
                    if guess > SCREEN_SLACK * len(best):
                        continue
                payload = codec.encode(raw, self.level)
            except Exception as exc:  # noqa: BLE001 - a failing model must not lose the archive
                self.warn(f"codec {codec.name} failed on a chunk starting with {first_path} "
                          f"({type(exc).__name__}: {exc}); used {registry.get(best_id).name}")
                continue
            if len(payload) < len(best):
                best_id, best = codec.codec_id, payload
        return best_id, best
