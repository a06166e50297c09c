"""Text: bbx's text codec against zstd -19, xz -9, brotli -q 11, 7z PPMd and zpaq -m5, per kind.

    .venv/bin/python benchmarks/bench_text.py [--corpus data/textbench/valid] [--pieces 8]
    .venv/bin/python benchmarks/bench_text.py --memory 16      # peak RSS to encode 16 MiB

On the held-out validation text of benchmarks/text_corpus.py (ten kinds, whole files), in one
run: bits/byte per kind on whole files and on 16 KiB pieces (`--pieces` per kind, cut at random
whole-16 KiB offsets, seed 0), and compress / extract speed in KB per CPU-second (user + sys
of this process and its threads, or of the child process for 7z and zpaq: the machine is
shared, so wall time says more about the neighbours than the tool) per tool on the whole
files, one worker each (7z -mmt=1, zpaq -t1; bbx one segment at a time as the codec decides;
its encoder's second thread, which recomputes filter blocks, is counted). "bbx" is the text
codec's payload (TEXT.encode), checked to decode back; "cm-only" the information content of the
encoder variant's context-mixing model without the HMM (its -log2 probabilities summed: what
the mixture would cost with no HMM, the HMM's share). 7z and zpaq write their archive formats
(a file name and headers: about 100-200 bytes per file), as a user would get them. Needs `apt-get install p7zip-full zpaq brotli`.
"""
from __future__ import annotations

import argparse
import lzma
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import brotli  # noqa: E402
import numpy as np  # noqa: E402
import zstandard  # noqa: E402
from needs_data import require  # noqa: E402

PIECE = 16 << 10


def _bbx():
    from archiver.codecs.text import TEXT
    return TEXT


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], cwd: Path) -> float:
    """CPU seconds (user + sys) of the command."""
    t = _children_cpu()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _children_cpu() - t


def _archiver(data: bytes, add: list[str], extract: list[str], name: str) -> tuple[int, float, float]:
    """(archive bytes, compress s, extract s) of an external archiver on one file."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "f").write_bytes(data)
        tc = _run([a.replace("ARC", name) for a in add], tmp)
        size = (tmp / name).stat().st_size
        (tmp / "f").unlink()
        td = _run([a.replace("ARC", name) for a in extract], tmp)
        assert (tmp / "f").read_bytes() == data, f"{name} did not round-trip"
        return size, tc, td


def _timed(compress, decompress, data: bytes) -> tuple[int, float, float]:
    """(compressed bytes, compress CPU s, extract CPU s) of an in-process tool (all threads)."""
    t = time.process_time()
    out = compress(data)
    tc = time.process_time() - t
    t = time.process_time()
    back = decompress(out, len(data))
    td = time.process_time() - t
    assert back == data
    return len(out), tc, td


ZSTD = zstandard.ZstdCompressor(level=19)
TOOLS = {
    "zstd-19": lambda d: _timed(ZSTD.compress,
                                lambda c, n: zstandard.ZstdDecompressor().decompress(c), d),
    "xz-9": lambda d: _timed(lambda x: lzma.compress(x, preset=9),
                             lambda c, n: lzma.decompress(c), d),
    "brotli-11": lambda d: _timed(lambda x: brotli.compress(x, quality=11),
                                  lambda c, n: brotli.decompress(c), d),
    "7z-PPMd": lambda d: _archiver(d, ["7z", "a", "-t7z", "-m0=PPMd", "-mmt=1", "ARC", "f"],
                                   ["7z", "x", "-mmt=1", "ARC"], "a.7z"),
    "zpaq-m5": lambda d: _archiver(d, ["zpaq", "a", "ARC", "f", "-m5", "-t1"],
                                   ["zpaq", "x", "ARC", "-t1"], "a.zpaq"),
    "bbx": lambda d: _timed(lambda x: _bbx().encode(x, 19), _bbx().decode, d),
    "cm-only": lambda d: (_cm_only_bytes(d), 0.0, 0.0),
}


def _cm_only_bytes(data: bytes) -> float:
    """Information content in bytes of the context-mixing model alone (the encoder's variant,
    4, without the HMM): sum of -log2 Q_t(x_t) / 2^32 per segment (a byte the model gave no
    mass counts 32 bits, as a coder would need to escape it). Against "bbx" it is the HMM's
    own share."""
    from archiver.codecs import text
    coder = _bbx()._model()[0][text.ENCODER_VARIANT]
    n = max(1, -(-len(data) // text.SEGMENT_MAX))
    cuts = [len(data) * k // n for k in range(n + 1)]
    bits = 0.0
    for k in range(n):
        _, q = coder.cm_masses(data[cuts[k]:cuts[k + 1]])
        bits += float(np.sum(32.0 - np.log2(np.maximum(q, 1).astype(np.float64))))
    return bits / 8
NAMES = list(TOOLS)


def _files(corpus: Path) -> dict[str, list[Path]]:
    return {k.name: sorted(k.iterdir()) for k in sorted(corpus.iterdir()) if k.is_dir()}


def _pieces(files: list[Path], n: int, rng) -> list[bytes]:
    cands = [(f, off) for f in files for off in range(0, f.stat().st_size - PIECE + 1, PIECE)]
    pick = rng.choice(len(cands), size=min(n, len(cands)), replace=False)
    out = []
    for i in sorted(pick):
        f, off = cands[i]
        with open(f, "rb") as fh:
            fh.seek(off)
            out.append(fh.read(PIECE))
    return out


def measure(corpus: Path, npieces: int) -> None:
    kinds = _files(corpus)
    rng = np.random.default_rng(0)
    _bbx().encode(b"warm up: load the model outside the timings", 19)
    grand = {s: {t: [0, 0.0, 0.0] for t in NAMES} for s in ("whole", "16 KiB")}
    raw = {"whole": 0, "16 KiB": 0}
    print(f"corpus {corpus}: {sum(len(v) for v in kinds.values())} files; load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print("bits/byte (lower is better); bbx/7z and bbx/zpaq = size ratios\n")
    print("| kind | size | bytes | " + " | ".join(NAMES) + " | bbx/7z | bbx/zpaq |")
    print("|---" * (len(NAMES) + 5) + "|")
    for kind, files in kinds.items():
        for scope, items in (("whole", [f.read_bytes() for f in files]),
                             ("16 KiB", _pieces(files, npieces, rng))):
            tot = {t: [0, 0.0, 0.0] for t in NAMES}
            nbytes = sum(len(d) for d in items)
            for data in items:
                for t in NAMES:
                    r = TOOLS[t](data)
                    for i in range(3):
                        tot[t][i] += r[i]
                        grand[scope][t][i] += r[i]
            raw[scope] += nbytes
            cells = " | ".join(f"{tot[t][0] * 8 / nbytes:.3f}" for t in NAMES)
            print(f"| {kind} | {scope} ({len(items)}) | {nbytes:,} | {cells} | "
                  f"{tot['bbx'][0] / tot['7z-PPMd'][0]:.3f} | "
                  f"{tot['bbx'][0] / tot['zpaq-m5'][0]:.3f} |", flush=True)
    for scope in ("whole", "16 KiB"):
        g, n = grand[scope], raw[scope]
        cells = " | ".join(f"{g[t][0] * 8 / n:.3f}" for t in NAMES)
        print(f"| **all** | {scope} | {n:,} | {cells} | {g['bbx'][0] / g['7z-PPMd'][0]:.3f} | "
              f"{g['bbx'][0] / g['zpaq-m5'][0]:.3f} |")
    print("\nspeed, KB per CPU-second, one worker (whole files | 16 KiB pieces)\n")
    print("| tool | compress | extract | compress 16 KiB | extract 16 KiB |\n|---|---|---|---|---|")
    for t in NAMES[:-1]:
        w, p = grand["whole"][t], grand["16 KiB"][t]
        print(f"| {t} | {raw['whole'] / 1e3 / w[1]:.0f} | {raw['whole'] / 1e3 / w[2]:.0f} | "
              f"{raw['16 KiB'] / 1e3 / p[1]:.0f} | {raw['16 KiB'] / 1e3 / p[2]:.0f} |")
    z = grand["whole"]["zpaq-m5"]
    b = grand["whole"]["bbx"]
    print(f"\nbbx speed / zpaq -m5 speed (whole files, CPU time): compress {z[1] / b[1]:.2f}x, "
          f"extract {z[2] / b[2]:.2f}x; load average {os.getloadavg()[0]:.2f} on 2 shared cores")


def memory(mib: int, corpus: Path) -> None:
    """Peak RSS of a fresh process that encodes (then decodes) `mib` MiB of held-out text."""
    code = (
        "import resource, sys, time\n"
        "from archiver.codecs.text import TEXT\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "TEXT.encode(b'warm', 19)\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.process_time(); p = TEXT.encode(data, 19); te = time.process_time() - t\n"
        "enc = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.process_time(); assert TEXT.decode(p, len(data)) == data; "
        "td = time.process_time() - t\n"
        "dec = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(f'{len(data):,} bytes -> {len(p):,} ({len(p) * 8 / len(data):.3f} b/B); peak RSS '\n"
        "      f'after loading {base / 1024:.0f} MB, encoding {enc / 1024:.0f} MB, decoding '\n"
        "      f'{dec / 1024:.0f} MB; {len(data) / 1e3 / te:.0f} / {len(data) / 1e3 / td:.0f} '\n"
        "      f'KB/s compress / extract')\n")
    files = [f for k in _files(corpus).values() for f in k]
    blob = b""
    while len(blob) < mib << 20:
        blob += b"".join(f.read_bytes() for f in files)
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(blob[:mib << 20])
        tmp.flush()
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        subprocess.run([sys.executable, "-c", code, tmp.name], check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("data/textbench/valid"))
    ap.add_argument("--pieces", type=int, default=8, help="16 KiB pieces per kind")
    ap.add_argument("--memory", type=int, metavar="MIB", help="only: peak memory for MIB MiB")
    args = ap.parse_args()
    require(args.corpus, "python benchmarks/text_corpus.py")
    missing = [t for t in ("7z", "zpaq") if shutil.which(t) is None]
    if missing:
        sys.exit(f"bench_text: {', '.join(missing)} not found; apt-get install p7zip-full zpaq")
    print("text models " + ", ".join(f"{h[:16]}..." for h in _bbx().model_hashes()))
    if args.memory:
        memory(args.memory, args.corpus)
        return
    measure(args.corpus, args.pieces)


if __name__ == "__main__":
    main()
