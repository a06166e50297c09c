"""Lepton (lepton_jpeg_python) vs JPEG XL's lossless JPEG transcoding (imagecodecs) on odd
JPEGs: does each give the file back byte for byte, refuse it cleanly, or crash?

    PYTHONPATH=. .venv/bin/python benchmarks/jpeg_libraries.py [--huge] [--out FILE]

Every trial runs in a child process with its address space bounded (RLIMIT_AS) and a time
limit, so a crash or a runaway allocation is reported instead of taking this script down.
Samples: the unit tests' Pillow JPEGs (tests/jpeg_samples.py) and their damaged variants, an
arithmetic-coded one (jpegtran -arithmetic), a 12-bit one (imagecodecs/libjpeg-turbo) and,
with --huge, a 50 MP camera-sized photo. Prints one row per sample:
`ok 0.812` (payload / input, round trip exact), `refused` (the library raised), `MISMATCH`,
`CRASH (signal)`, `TIMEOUT`, `OOM`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.jpeg_samples import malformed_samples, photo, save, valid_samples  # noqa: E402

CHILD = r"""
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
lib = sys.argv[1]
data = open(sys.argv[3], 'rb').read()
if lib == 'lepton':
    import lepton_jpeg_python as m
    enc = lambda d: m.compress_bytes(d, {'threads': 'single'})
    dec = lambda p: m.decompress_bytes(p, {'threads': 'single'})
else:
    import imagecodecs as m
    enc = lambda d: m.jpegxl_encode_jpeg(d, numthreads=1)
    dec = lambda p: m.jpegxl_decode_jpeg(p, numthreads=1)
t0 = time.process_time()
try:
    payload = bytes(enc(data))
except MemoryError:
    print('OOM'); sys.exit(0)
except Exception as exc:
    print('refused', type(exc).__name__, str(exc).replace(chr(10), ' ')[:90]); sys.exit(0)
t1 = time.process_time()
back = bytes(dec(payload))
t2 = time.process_time()
print('ok' if back == data else 'MISMATCH', len(payload), t1 - t0, t2 - t1)
"""
LIBS = ("lepton", "jxl")
MEMORY_LIMIT = 4 << 30


def extra_samples(tmp: str, huge: bool) -> dict[str, bytes]:
    out = {}
    base = save(photo(640, 480, seed=11), quality=92)
    src = os.path.join(tmp, "src.jpg")
    with open(src, "wb") as f:
        f.write(base)
    arith = subprocess.run(["jpegtran", "-arithmetic", src], capture_output=True, check=True).stdout
    out["arithmetic"] = arith
    out["arithmetic_progressive"] = subprocess.run(
        ["jpegtran", "-arithmetic", "-progressive", src], capture_output=True, check=True).stdout
    import imagecodecs
    import numpy as np
    gray12 = (np.asarray(photo(320, 240, seed=12, mode="L"), dtype=np.uint16) * 16)
    out["12bit"] = bytes(imagecodecs.jpeg8_encode(gray12, level=90, bitspersample=12))
    if huge:
        big = photo(8660, 5774, seed=13)        # 50 MP, a large camera's sensor
        out["huge_50mp"] = save(big, quality=92)
        out["huge_50mp_progressive"] = save(big, quality=92, progressive=True)
    return out


def trial(lib: str, path: str, size: int) -> tuple[str, float, float]:
    timeout = 10 + size / 1e6 * 5
    try:
        r = subprocess.run([sys.executable, "-c", CHILD, lib, str(MEMORY_LIMIT), path],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "TIMEOUT", 0, 0
    if r.returncode < 0:
        return f"CRASH (signal {-r.returncode})", 0, 0
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1][:80]
        if "MemoryError" in r.stderr or "memory allocation" in r.stderr:
            return "OOM", 0, 0
        return f"CRASH (exit {r.returncode}: {last})", 0, 0
    words = r.stdout.split()
    if words[0] in ("ok", "MISMATCH"):
        n, te, td = int(words[1]), float(words[2]), float(words[3])
        return (f"ok {n / size:.3f}" if words[0] == "ok" else "MISMATCH"), te, td
    return " ".join(words[:2]) + (" " + " ".join(words[2:])[:60] if len(words) > 2 else ""), 0, 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--huge", action="store_true", help="add 50 MP photos (baseline, progressive)")
    ap.add_argument("--out", help="also write the table (markdown) here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = {**valid_samples(), **extra_samples(tmp, args.huge), **malformed_samples()}
        rows = ["| sample | bytes | lepton | jxl |", "|---|---|---|---|"]
        print(rows[0], flush=True)
        tally = {lib: {} for lib in LIBS}
        for name, data in samples.items():
            path = os.path.join(tmp, "sample.jpg")
            with open(path, "wb") as f:
                f.write(data)
            cells = []
            for lib in LIBS:
                t = time.perf_counter()
                verdict, te, td = trial(lib, path, len(data))
                kind = verdict.split()[0]
                tally[lib][kind] = tally[lib].get(kind, 0) + 1
                extra = f" ({len(data) / te / 1e6:.1f}/{len(data) / td / 1e6:.1f} MB/s cpu)" if te > 0.2 else ""
                cells.append(verdict + extra)
            row = f"| {name} | {len(data)} | {cells[0]} | {cells[1]} |"
            rows.append(row)
            print(row, flush=True)
        summary = "; ".join(f"{lib}: " + ", ".join(f"{k} {v}" for k, v in sorted(t.items()))
                            for lib, t in tally.items())
        print(summary)
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(rows) + "\n\n" + summary + "\n")


if __name__ == "__main__":
    main()
