"""Tune the text codec's adaptive-emission weights on pieces of the TRAINING text.

    .venv/bin/python benchmarks/tune_text.py [--pieces 6] [--sizes 4096 16384]

The benchmark (bench_text.py) measures on the held-out split; the weights must not be chosen
there. This draws pieces at random offsets (seed 1) from data/text/corpus/train/<kind> and
prints the mean bits/byte of each candidate setting per kind, with zstd -19 beside it.
Candidates are edited in CANDIDATES below; the shipped ones are in archiver/codecs/text.py.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import zstandard

from archiver.codecs import text
from archiver.models._hmm import HmmCoder
from archiver.models.hmm import load_shipped
from cython_ans import Message
from needs_data import MAKE_TEXT, require

KINDS = ["prose", "fortunes", "techdoc", "markup", "code"]


def draw(corpus: Path, sizes, pieces: int) -> dict[tuple[str, int], list[bytes]]:
    rng = np.random.default_rng(1)
    out = {}
    for kind in KINDS:
        files = sorted((corpus / "train" / kind).iterdir())
        data = b"".join(f.read_bytes() for f in files)
        for size in sizes:
            out[kind, size] = [data[s:s + size] for s in rng.integers(0, len(data) - size, pieces)]
    return out


def bits(coder: HmmCoder, piece: bytes) -> int:
    msg = Message(seed=text.SEED)
    coder.encode(piece, msg)
    return len(msg.to_bytes()) * 8


def match_table(minlen: int, base: int, slope: int, top: int, n: int = 32) -> tuple[int, ...]:
    """M(len) = min(top, base + slope * (len - minlen)) for len >= minlen."""
    return tuple(0 if k < minlen else min(top, base + slope * (k - minlen)) for k in range(n))


def match_from(start: int, base: int, slope: int, top: int, n: int = 32) -> tuple[int, ...]:
    """M(len) = 0 below `start`, then min(top, base + slope * (len - start))."""
    return tuple(0 if k < start else min(top, base + slope * (k - start)) for k in range(n))


def shipped(**change) -> dict:
    """The shipped variant 2 settings (archiver/codecs/text.py), with some changed."""
    kw = dict(orders=text.BLEND_ORDERS, weights=(1,) * len(text.BLEND_ORDERS),
              blend=(text.BLEND_BETA0, text.BLEND_BETA1, text.BLEND_BETAD),
              match_min=text.MATCH_MIN,
              match_weights=text.MATCH_WEIGHTS, match_rweights=text.MATCH_RWEIGHTS)
    kw.update(change)
    return kw


def candidates():
    """Edit to try settings; as committed: the ablation of variant 2 reported in
    benchmarks/results/text.md, and a few neighbours of the shipped settings."""
    yield "variant 1 (additive counts)", dict(orders=text.CONTEXT_ORDERS,
                                              weights=text.CONTEXT_WEIGHTS)
    yield "variant 2 without match", shipped(match_min=0)
    yield "variant 2 without recovery", shipped(match_rweights=())
    b0, b1, bd = text.BLEND_BETA0, text.BLEND_BETA1, text.BLEND_BETAD
    yield "variant 2 without betad", shipped(blend=(b0, b1))
    yield "variant 2 (shipped)", shipped()
    yield "beta1 32, 24, 16, 8", shipped(blend=(b0, (32, 24, 16, 8), bd))
    yield "orders 2, 3, 4, 5", shipped(orders=(2, 3, 4, 5))
    yield "match min 8", shipped(match_min=8, match_weights=match_table(8, 16, 16, 1024))
    yield "match weights x2", shipped(match_weights=tuple(2 * w for w in text.MATCH_WEIGHTS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("data/text/corpus"))
    ap.add_argument("--pieces", type=int, default=6)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384])
    args = ap.parse_args()
    require(args.corpus, MAKE_TEXT)
    tables, _ = load_shipped()
    sets = draw(args.corpus, args.sizes, args.pieces)
    z = zstandard.ZstdCompressor(level=19)
    ref = {key: sum(len(z.compress(p)) * 8 for p in ps) for key, ps in sets.items()}
    cols = [f"{k[:5]}{s // 1024}" for s in args.sizes for k in KINDS]
    print(f"{'setting':<40} " + " ".join(f"{c:>7}" for c in cols) + "  all/zstd  sec")
    print(f"{'zstd-19':<40} " + " ".join(
        f"{ref[k, s] / (s * args.pieces):7.3f}" for s in args.sizes for k in KINDS))
    for name, kw in candidates():
        coder = HmmCoder(tables, **kw)
        t0 = time.process_time()
        got = {key: sum(bits(coder, p) for p in ps) for key, ps in sets.items()}
        ratio = sum(got.values()) / sum(ref.values())
        print(f"{name:<40} " + " ".join(
            f"{got[k, s] / (s * args.pieces):7.3f}" for s in args.sizes for k in KINDS) +
            f"  {ratio:.4f}  {time.process_time() - t0:.1f}", flush=True)


if __name__ == "__main__":
    main()
