"""What running Lepton in its capped helper process (archiver/codecs/jpeg_sandbox.py) costs
next to calling it in the bbx process: the helper's start-up (once per bbx process) and the
extra time per request (two pipe copies), for a tiny, a small and a large JPEG.

    PYTHONPATH=. python benchmarks/jpeg_sandbox_cost.py [--repeats 7] [JPEG ...]

Times are the best of --repeats wall-clock runs, in-process and sandboxed taking turns, so
the load of a shared machine hits both alike.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lepton_jpeg_python as lepton  # noqa: E402

from archiver.codecs.jpeg_sandbox import Sandbox  # noqa: E402
from tests.jpeg_samples import photo, save, valid_samples  # noqa: E402

CFG = {"threads": "single"}


def in_process(data: bytes) -> tuple[bytes, float, float]:
    t = time.perf_counter()
    payload = bytes(lepton.compress_bytes(data, CFG))
    assert bytes(lepton.decompress_bytes(payload, CFG)) == data
    t1 = time.perf_counter()
    assert bytes(lepton.decompress_bytes(payload, CFG)) == data
    return payload, t1 - t, time.perf_counter() - t1


def sandboxed(box: Sandbox, data: bytes) -> tuple[bytes, float, float]:
    t = time.perf_counter()
    payload = box.encode(data)
    t1 = time.perf_counter()
    assert box.decode(payload, len(data)) == data
    return payload, t1 - t, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("jpegs", nargs="*", help="more JPEG files to time")
    args = ap.parse_args()
    samples = {"1x1 pixel": valid_samples()["one_pixel"], "160x120": valid_samples()["baseline"],
               "2048x1536": save(photo(512, 384, seed=3).resize((2048, 1536)), quality=92)}
    for path in args.jpegs:
        with open(path, "rb") as f:
            samples[os.path.basename(path)] = f.read()
    box = Sandbox()
    t = time.perf_counter()
    with box._lock:
        box._start(1)
    print(f"helper start-up: {1000 * (time.perf_counter() - t):.0f} ms wall (once per bbx process)")
    print("| JPEG | bytes | encode+check in-process / sandboxed ms | decode in-process / sandboxed ms |")
    print("|---|---|---|---|")
    for name, data in samples.items():
        best = [float("inf")] * 4
        for _ in range(args.repeats):
            p1, e1, d1 = in_process(data)
            p2, e2, d2 = sandboxed(box, data)
            assert p1 == p2
            best = [min(a, b) for a, b in zip(best, (e1, e2, d1, d2))]
        ms = [1000 * x for x in best]
        print(f"| {name} | {len(data):,d} | {ms[0]:.2f} / {ms[1]:.2f} (+{ms[1] - ms[0]:.2f}) | "
              f"{ms[2]:.2f} / {ms[3]:.2f} (+{ms[3] - ms[2]:.2f}) |", flush=True)
    box.close()


if __name__ == "__main__":
    main()
