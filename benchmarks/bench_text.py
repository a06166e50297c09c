"""Text: bbx (HMM + IconoCLaSM) against gzip -9, bzip2 -9, xz -9, zstd -19 and brotli -q 11.

    .venv/bin/python benchmarks/bench_text.py [--corpus data/text/corpus] [--segments 12]

All on the held-out split (`python -m archiver.train.text_data`), in one run:
 1. bits/byte on pieces of 1 KiB, 4 KiB and 16 KiB cut at random offsets from each kind of
    held-out text, and on whole held-out books/files. "plain" is the plain HMM (variant 0),
    "hmm" the text codec's payload (the smaller of variants 0 and 2 below 16 KiB, else
    variant 2: the HMM under blended context counts and a match model), "bbx" what the
    container keeps (min of hmm and zstd -19);
 2. a folder of many held-out text files as a whole: `bbx create` against `tar | zstd -19`
    and `tar | xz -9` (real subprocesses);
 3. speed of the text codec in KB/s (wall clock and CPU time) to compress and to extract.
Ratios are printed against zstd -19 (the target: hmm <= 0.85x up to 16 KiB).
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import lzma
import os
import subprocess
import tempfile
import time
from pathlib import Path

import brotli
import numpy as np
import zstandard

from archiver.codecs import text
from archiver.codecs.text import TEXT
from needs_data import MAKE_TEXT, require

KINDS = ["prose", "fortunes", "techdoc", "markup", "code"]
BOOKS = ["prose/persuasion.txt", "prose/kjv-acts.txt", "markup/devil.txt",
         "fortunes/fortune-pratchett.txt", "techdoc/pattern.txt"]
ZSTD19 = zstandard.ZstdCompressor(level=19)

BASELINES = {
    "gzip-9": lambda d: len(gzip.compress(d, 9, mtime=0)),
    "bzip2-9": lambda d: len(bz2.compress(d, 9)),
    "xz-9": lambda d: len(lzma.compress(d, preset=9)),
    "zstd-19": lambda d: len(ZSTD19.compress(d)),
    "brotli-11": lambda d: len(brotli.compress(d, quality=11)),
}


def sizes(data: bytes) -> dict[str, int]:
    out = {name: f(data) for name, f in BASELINES.items()}
    plain = TEXT._model()[0][text.PLAIN]
    out["plain"] = len(TEXT._encode_variant(plain, text.PLAIN, data))
    out["hmm"] = len(TEXT.encode(data, 19))
    out["bbx"] = min(out["hmm"], out["zstd-19"])
    return out


COLUMNS = ["gzip-9", "bzip2-9", "xz-9", "zstd-19", "brotli-11", "plain", "hmm", "bbx"]


def row(label: str, total: dict[str, int], nbytes: int) -> str:
    cells = [f"{total[c] * 8 / nbytes:6.3f}" for c in COLUMNS]
    return (f"| {label:<28} | " + " | ".join(cells) +
            f" | {total['hmm'] / total['zstd-19']:5.3f} | {total['hmm'] / total['brotli-11']:5.3f} |")


def header(first: str) -> str:
    return (f"| {first:<28} | " + " | ".join(f"{c:>6}" for c in COLUMNS) +
            " | hmm/zstd | hmm/brotli |\n|" + "---|" * (len(COLUMNS) + 3))


def pieces(corpus: Path, segments: int) -> None:
    print("\n### bits/byte on held-out pieces (mean over pieces, by bytes)\n")
    print(header("kind, size"))
    rng = np.random.default_rng(0)
    grand = {}
    for size in (1024, 4096, 16384):
        all_total, all_bytes = {c: 0 for c in COLUMNS}, 0
        for kind in KINDS:
            data = b"".join(f.read_bytes() for f in sorted((corpus / "valid" / kind).iterdir()))
            total = {c: 0 for c in COLUMNS}
            for start in rng.integers(0, len(data) - size, segments):
                for c, v in sizes(data[start:start + size]).items():
                    total[c] += v
            for c in COLUMNS:
                all_total[c] += total[c]
            all_bytes += size * segments
            print(row(f"{kind}, {size // 1024} KiB", total, size * segments), flush=True)
        print(row(f"**all kinds, {size // 1024} KiB**", all_total, all_bytes), flush=True)
        grand[size] = all_total
    return grand


def books(corpus: Path) -> None:
    print("\n### bits/byte on whole held-out books and files\n")
    print(header("file (size)"))
    for rel in BOOKS:
        path = corpus / "valid" / rel
        data = path.read_bytes()
        print(row(f"{path.name} ({len(data) // 1024} KiB)", sizes(data), len(data)), flush=True)


def folder(corpus: Path, kind: str) -> None:
    src = corpus / "valid" / kind
    files = sorted(src.iterdir())
    raw = sum(f.stat().st_size for f in files)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "out.bbx"
        t = time.perf_counter()
        subprocess.run([str(Path(os.sys.executable).parent / "bbx"), "create", str(src), "-o",
                        str(archive), "-l", "19", "-q"], check=True)
        t_bbx = time.perf_counter() - t
        results = {"bbx create -l 19": (archive.stat().st_size, t_bbx)}
        for name, cmd in (("tar | zstd -19", "zstd -19 -q -c"), ("tar | xz -9", "xz -9 -c")):
            t = time.perf_counter()
            out = subprocess.run(f"tar -C {src.parent} -cf - {src.name} | {cmd}", shell=True,
                                 check=True, capture_output=True).stdout
            results[name] = (len(out), time.perf_counter() - t)
    print(f"\n### folder `valid/{kind}`: {len(files)} files, {raw:,} bytes\n")
    print("| tool | bytes | bits/byte | vs tar+zstd -19 | seconds |\n|---|---|---|---|---|")
    base = results["tar | zstd -19"][0]
    for name, (size, secs) in results.items():
        print(f"| {name} | {size:,} | {size * 8 / raw:.3f} | {size / base:.3f} | {secs:.2f} |")


def _time(data: bytes) -> tuple[tuple[float, float], tuple[float, float]]:
    w, c = time.perf_counter(), time.process_time()
    payload = TEXT.encode(data, 19)
    enc = (time.perf_counter() - w, time.process_time() - c)
    w, c = time.perf_counter(), time.process_time()
    assert TEXT.decode(payload, len(data)) == data
    dec = (time.perf_counter() - w, time.process_time() - c)
    return enc, dec


def speed(corpus: Path) -> None:
    """Wall clock and CPU time (CPU time counts both threads when two segments run)."""
    book = (corpus / "valid/prose/persuasion.txt").read_bytes()
    mixed = b"".join(f.read_bytes() for kind in ("prose", "techdoc", "markup")
                     for f in sorted((corpus / "valid" / kind).iterdir()))[:2 << 20]
    TEXT.encode(book[:1000], 19)                     # load the model outside the timing
    print("\n### speed of the text codec (variant 2)\n")
    print("| input | segments | compress wall KB/s | CPU KB/s | extract wall KB/s | CPU KB/s |")
    print("|---|---|---|---|---|---|")
    for name, data in (("persuasion.txt", book), ("2 MiB of held-out prose+techdoc+markup", mixed)):
        enc, dec = _time(data)
        segs = 2 if len(data) >= text.MAX_SEGMENTS * text.SEGMENT_MIN else 1
        kb = len(data) / 1e3
        print(f"| {name} ({len(data):,} B) | {segs} | {kb / enc[0]:.0f} | {kb / enc[1]:.0f} | "
              f"{kb / dec[0]:.0f} | {kb / dec[1]:.0f} |", flush=True)
    z = time.perf_counter()
    ZSTD19.compress(book)
    print(f"\nzstd -19 compresses persuasion.txt at {len(book) / 1e3 / (time.perf_counter() - z):.0f}"
          f" KB/s (for scale); load average {os.getloadavg()[0]:.2f} on 2 shared cores")


def speed_variants(corpus: Path, rounds: int = 2) -> None:
    """Variants 1 and 2 of the coder on one book, alternating, in this process (same load):
    what the blend and the match model cost over the additive counts."""
    from cython_ans import Message
    from archiver.models._hmm import message_is_initial
    book = (corpus / "valid/prose/persuasion.txt").read_bytes()
    coders = TEXT._model()[0]
    kb = len(book) / 1e3
    print("\n### coder speed by variant (persuasion.txt, one segment)\n")
    print("| round | variant | bits/byte | compress wall KB/s | CPU KB/s | extract wall KB/s "
          "| CPU KB/s |\n|---|---|---|---|---|---|---|")
    for r in range(rounds):
        for v in (text.ADAPTIVE, text.BLEND):
            w, c = time.perf_counter(), time.process_time()
            msg = Message(seed=text.SEED)
            coders[v].encode(book, msg)
            payload = msg.to_bytes()
            enc = (time.perf_counter() - w, time.process_time() - c)
            w, c = time.perf_counter(), time.process_time()
            back = Message.from_bytes(payload, seed=text.SEED)
            assert coders[v].decode(back, len(book)) == book and message_is_initial(back)
            dec = (time.perf_counter() - w, time.process_time() - c)
            print(f"| {r + 1} | {v} | {len(payload) * 8 / len(book):.3f} | {kb / enc[0]:.0f} | "
                  f"{kb / enc[1]:.0f} | {kb / dec[0]:.0f} | {kb / dec[1]:.0f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} on 2 shared cores")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("data/text/corpus"))
    ap.add_argument("--segments", type=int, default=12)
    ap.add_argument("--speed-only", action="store_true", help="only the speed section")
    ap.add_argument("--speed-variants", action="store_true",
                    help="only variants 1 and 2 of the coder timed side by side")
    args = ap.parse_args()
    require(args.corpus, MAKE_TEXT)
    print(f"text model {TEXT.model_hashes()[0][:16]}...")
    if args.speed_only or args.speed_variants:
        (speed_variants if args.speed_variants else speed)(args.corpus)
        return
    pieces(args.corpus, args.segments)
    books(args.corpus)
    folder(args.corpus, "code")
    folder(args.corpus, "techdoc")
    speed(args.corpus)


if __name__ == "__main__":
    main()
