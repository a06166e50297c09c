"""Shared console helpers: where output goes, human sizes, the progress display, error lines."""
from __future__ import annotations

import sys
import threading
import time
from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from archiver.errors import BBXError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

SPEED_WINDOW = 20.0          # seconds of history behind a speed (and so an ETA)
REFRESH_PER_SECOND = 2       # the display redraws on its own, even while nothing advances


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def mb_per_s(nbytes: float, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:.2f} MB/s" if seconds > 0 else "-"


def clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def print_table(console: Console, title: str, headers: list[str], rows: list[list[str]],
                last_bold: bool = False) -> None:
    """A table: rich's in a terminal; in a pipe or a file plain aligned columns, one row per
    line, never wrapped, no colour and no box drawing. The first column is left-aligned."""
    if console.is_terminal:
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(headers):
            table.add_column(h, justify="left" if i == 0 else "right")
        for k, row in enumerate(rows):
            table.add_row(*row, style="bold" if last_bold and k == len(rows) - 1 else None)
        console.print(table)
        return
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [title] if title else []
    for row in [headers, *rows]:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    print("\n".join(lines), file=console.file, flush=True)


def say_error(exc: BBXError | str) -> None:
    """One line on stderr; markup off so file names print as they are."""
    text = exc.message() if isinstance(exc, BBXError) else str(exc)
    print(f"bbx: {text}", file=sys.stderr, flush=True)


def error_json(exc: BBXError) -> dict:
    """An error for --json output; `lost` lists every file it costs, however many."""
    out = {"exit_code": exc.exit_code, "kind": type(exc).__name__, "message": exc.message()}
    if exc.lost:
        out["lost"] = list(exc.lost)
    return out


def warn(text: str) -> None:
    print(f"bbx: warning: {text}", file=sys.stderr, flush=True)


class Rate:
    """Bytes done and the speed over the last SPEED_WINDOW seconds, measured up to *now*: when
    nothing advances the speed falls (and the ETA grows) instead of freezing at an old value."""

    def __init__(self, total: int | None = None, clock=time.monotonic):
        self.total, self.done, self.clock = total, 0, clock
        self.samples = deque([(clock(), 0)])

    def add(self, n: int) -> None:
        self.done += n
        now = self.clock()
        self.samples.append((now, self.done))
        while len(self.samples) > 2 and self.samples[1][0] < now - SPEED_WINDOW:
            self.samples.popleft()

    def speed(self) -> float | None:
        """Bytes per second, None during the first second (too little to tell)."""
        now = self.clock()
        t0, d0 = self.samples[0]
        for t, d in self.samples:               # the oldest sample inside the window
            if t >= now - SPEED_WINDOW:
                break
            t0, d0 = t, d
        return None if now - t0 < 1.0 else (self.done - d0) / (now - t0)

    def eta(self) -> float | None:
        speed = self.speed()
        if self.total is None or not speed:
            return None
        return max(self.total - self.done, 0) / speed


class BarProgress:
    """The progress object of create, extract and verify: start(files, total_bytes), then
    advance(files=0, nbytes=0, content_class=None), where nbytes counts bytes *coded* (or
    decoded), reported by the codecs from inside their work. In a terminal it shows bytes,
    files, speed and ETA overall and per content class, redrawn every half second by rich's
    auto refresh; in a pipe, a log or with --quiet it shows nothing."""

    def __init__(self, label: str, quiet: bool):
        self.label = label
        self.show = not quiet and err.is_terminal
        self.live: Live | None = None
        self.files = self.files_done = 0
        self.overall = Rate()
        self.classes: dict[str, Rate] = {}
        self.class_totals: dict[str, int] = {}
        self.lock = threading.Lock()

    def __enter__(self):
        if self.show:
            self.live = Live(self, console=err, transient=True, auto_refresh=True,
                             refresh_per_second=REFRESH_PER_SECOND, redirect_stdout=False,
                             redirect_stderr=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def start(self, files: int, total_bytes: int, by_class: dict[str, int] | None = None) -> None:
        """`by_class` (optional): bytes to code per content class, for an ETA per class."""
        with self.lock:
            self.files, self.files_done = files, 0
            self.overall = Rate(total_bytes)
            self.class_totals = dict(by_class or {})
            self.classes = {c: Rate(t) for c, t in self.class_totals.items()}

    def advance(self, files: int = 0, nbytes: int = 0, content_class: str | None = None) -> None:
        with self.lock:
            self.files_done += files
            if nbytes:
                self.overall.add(nbytes)
                if content_class is not None:
                    if content_class not in self.classes:
                        self.classes[content_class] = Rate(self.class_totals.get(content_class))
                    self.classes[content_class].add(nbytes)

    def on_bytes(self, n: int) -> None:
        self.advance(nbytes=n)

    # -- rendering (called by rich's refresh thread) ---------------------------------------

    def _eta(self) -> float | None:
        """Overall ETA: per class when each has a total and a speed (classes code at very
        different speeds), else from the overall speed."""
        if self.classes and all(r.total is not None for r in self.classes.values()):
            etas = [r.eta() if r.done < r.total else 0.0 for r in self.classes.values()]
            if all(e is not None for e in etas):
                return sum(etas)
        return self.overall.eta()

    def _row(self, table: Table, name: str, rate: Rate, eta: float | None, files: str) -> None:
        total = rate.total
        bar = ProgressBar(total=max(total or 0, 1), completed=rate.done if total else 0, width=24,
                          pulse=not total)
        done = f"{human(rate.done)}/{human(total)}" if total else human(rate.done)
        speed = rate.speed()
        table.add_row(name, bar, done, files,
                      "-- MB/s" if speed is None else f"{speed / 1e6:.2f} MB/s",
                      "ETA " + ("--:--" if eta is None else clock(eta)))

    def __rich__(self):
        with self.lock:
            table = Table.grid(padding=(0, 1))
            for _ in range(6):
                table.add_column()
            files = f"{self.files_done}/{self.files} files" if self.files else ""
            self._row(table, self.label, self.overall, self._eta(), files)
            if len(self.classes) > 1 or self.class_totals:
                for name, rate in sorted(self.classes.items()):
                    if rate.done or rate.total:
                        self._row(table, f"  {name}", rate,
                                  rate.eta() if rate.done < (rate.total or 0) else None, "")
            return Group(table)
