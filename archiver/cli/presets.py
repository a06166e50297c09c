"""The presets of `bbx create` (-1 .. -9, --fast = -1, --best = -9): a zstd level and whether,
and how, model codecs run. Chosen from benchmarks/bench_presets.py (benchmarks/results/
presets.md): model codecs cost two orders of magnitude in speed (about 0.1-0.2 MB/s on two
cores, create and extract alike) and pay off only on text, so 1-6 never run them; 7 (the
default) tries them on a sample of each text chunk first; 8 and 9 run them on every text chunk.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    level: int          # zstd level (also handed to model codecs)
    models: bool        # model codecs are tried
    screen: bool = True  # ... first on a sample of each chunk, kept only when they look likely to win
    what: str = ""


PRESETS = {
    1: Preset(1, False, what="zstd -1 only: fastest"),
    2: Preset(3, False, what="zstd -3 only"),
    3: Preset(6, False, what="zstd -6 only"),
    4: Preset(9, False, what="zstd -9 only"),
    5: Preset(15, False, what="zstd -15 only"),
    6: Preset(19, False, what="zstd -19 only: smallest without models"),
    7: Preset(19, True, what="zstd -19, models screened on a sample (default)"),
    8: Preset(19, True, screen=False, what="zstd -19, models on every chunk they serve"),
    9: Preset(22, True, screen=False, what="zstd -22, models on every chunk they serve"),
}
DEFAULT = 7
FAST, BEST = 1, 9
