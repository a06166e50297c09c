"""Time the text codec on one book, for before/after comparisons under the same load.

    PYTHONPATH=<other tree> .venv/bin/python benchmarks/text_speed_ab.py before   (in that tree)
    .venv/bin/python benchmarks/text_speed_ab.py after

Run the two alternately: on a shared machine only side-by-side numbers compare. Prints, twice,
the variant the codec wrote, bits/byte and KB/s (wall and CPU time, as bench_text.py's speed
section) to compress and to extract persuasion.txt.
"""
import sys
import time
from pathlib import Path

from archiver.codecs.text import TEXT
from needs_data import MAKE_TEXT, require

BOOK = Path(__file__).resolve().parent.parent / "data/text/corpus/valid/prose/persuasion.txt"


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "this tree"
    require(BOOK, MAKE_TEXT)
    book = BOOK.read_bytes()
    TEXT.encode(book[:1000], 19)                     # load the model outside the timing
    kb = len(book) / 1e3
    for _ in range(2):
        w, c = time.perf_counter(), time.process_time()
        payload = TEXT.encode(book, 19)
        enc = (time.perf_counter() - w, time.process_time() - c)
        w, c = time.perf_counter(), time.process_time()
        assert TEXT.decode(payload, len(book)) == book
        dec = (time.perf_counter() - w, time.process_time() - c)
        print(f"{label:>9} variant {payload[0] & 15}: {len(payload) * 8 / len(book):.3f} b/B  "
              f"compress wall {kb / enc[0]:.0f} CPU {kb / enc[1]:.0f}; "
              f"extract wall {kb / dec[0]:.0f} CPU {kb / dec[1]:.0f} KB/s", flush=True)


if __name__ == "__main__":
    main()
