"""The pool's schedule on idle cores, modelled: how much of N jobs' speed-up the chunking and
the class order allow on a folder, independent of the machine's load.

    .venv/bin/python benchmarks/sim_schedule.py FOLDER [--jobs 2] [--parts 4 8 12]

The folder is cut exactly as `bbx create` cuts it (routing, class order, chunk sizes:
archiver/container/writer.py and chunking.py), without coding anything. Each chunk costs its
bytes x chunking.COST_PER_BYTE of its class (one core, level 19, as measured); the pool is
modelled as it runs: chunks handed to the first free worker in archive order, within the
pool's window of chunks submitted and not yet written (2 x jobs + 1 of the largest size, more
when they are small), written in order. Printed per
chunking: the model's speed-up of N jobs over 1 (start-up and the writer left out), with the
archive's class order and with the old fixed order (image, JPEG, text, other), and with every
chunk sorted longest first over the whole run (what unbounded memory would allow).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archiver.container import chunking, pool, router, writer
from archiver.container.scanner import Excluder, scan


def chunks(folder: Path, parts: int, chunk_size: int = writer.DEFAULT_CHUNK_SIZE
           ) -> list[tuple[str, int]]:
    """(class, raw bytes) of every chunk, in archive order."""
    items = scan([str(folder).encode()], Excluder(()), set(), print)
    files, sizes = writer._content_order(items, chunk_size, parts)
    chunker = writer._Chunker(chunk_size, lambda seq, raw, pieces, first, cls, cut: (cls, len(raw)))
    return list(writer._read(files, chunker, sizes, print))


def cost(chunk: tuple[str, int]) -> float:
    cls, n = chunk
    return n * chunking.COST_PER_BYTE[cls]


def makespan(tasks: list[tuple[str, int]], jobs: int, in_flight: int | None = None) -> float:
    """Seconds until the last chunk is coded: first free worker, archive order, and the pool's
    window (archiver/container/pool.py): chunks submitted and not yet handed back in order
    hold at most in_flight x the largest chunk so far in bytes, in_flight of them always fit,
    and never more than SMALL_TASKS x in_flight."""
    in_flight = in_flight or 2 * jobs + 1
    free = [0.0] * jobs
    written: list[float] = []           # when chunk j is handed back (all before it done)
    submit_after, first, largest = 0.0, 0, 0   # chunks first.. are still in the window
    for i, task in enumerate(tasks):
        largest = max(largest, task[1])
        while True:
            count = i - first
            held = sum(n for _, n in tasks[first:i])
            if count < in_flight or (count < pool.SMALL_TASKS * in_flight
                                     and held + task[1] <= in_flight * largest):
                break
            submit_after = max(submit_after, written[first])    # wait for the head's write
            first += 1
        w = min(range(jobs), key=free.__getitem__)
        free[w] = max(free[w], submit_after) + cost(task)
        written.append(max(free[w], written[-1] if written else 0.0))
    return max(free) if tasks else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 4, 8, 12])
    args = ap.parse_args()
    print(f"{'parts':>5} {'chunks':>6} {'text KiB':>9} {'class order':>22} {'CPU s':>6} "
          f"{'bbx order':>9} {'fixed order':>11} {'all LPT':>7}")
    for parts in args.parts:
        tasks = chunks(args.folder, parts)
        saved = chunking.class_order
        chunking.class_order = lambda totals, sizes, largest: sorted(totals,
                                                                     key=router.CLASSES.index)
        fixed = chunks(args.folder, parts)
        chunking.class_order = saved
        total = sum(map(cost, tasks))
        lpt = sorted(tasks, key=cost, reverse=True)
        text = [n >> 10 for c, n in tasks if c == router.TEXT]
        order = ",".join(dict.fromkeys(c for c, _ in tasks))
        print(f"{parts:5d} {len(tasks):6d} {max(text, default=0):9d} {order:>22} {total:6.1f} "
              f"{total / makespan(tasks, args.jobs):8.2f}x "
              f"{total / makespan(fixed, args.jobs):10.2f}x "
              f"{total / makespan(lpt, args.jobs, len(lpt)):6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
