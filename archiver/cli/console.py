"""Shared console helpers: where output goes, human sizes, the progress bar, error lines."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                           TimeRemainingColumn, TransferSpeedColumn)

from archiver.errors import BBXError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def say_error(exc: BBXError | str) -> None:
    """One line on stderr; markup off so file names print as they are."""
    text = exc.message() if isinstance(exc, BBXError) else str(exc)
    print(f"bbx: {text}", file=sys.stderr, flush=True)


def warn(text: str) -> None:
    print(f"bbx: warning: {text}", file=sys.stderr, flush=True)


class BarProgress:
    """A rich progress bar over files and bytes (speed, ETA); silent when quiet."""

    def __init__(self, label: str, quiet: bool):
        self.quiet = quiet
        self.label = label
        self.bar = None
        self.bytes_task = self.files_task = None

    def __enter__(self):
        if not self.quiet and err.is_terminal:   # no bar in logs and pipes
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                                console=err, transient=True)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    # writer protocol: start(files, bytes), advance(files, nbytes)
    def start(self, files: int, total_bytes: int) -> None:
        if self.bar is not None:
            self.files_total = files
            self.task = self.bar.add_task(self.label, total=max(total_bytes, 1))
            self.files_done = 0

    def advance(self, files: int = 0, nbytes: int = 0, content_class: str | None = None) -> None:
        if self.bar is not None:
            self.files_done += files
            label = (f"{self.label} {self.files_done}/{self.files_total} files"
                     if self.files_total else self.label)
            self.bar.update(self.task, advance=nbytes, description=label)

    def on_bytes(self, n: int) -> None:
        self.advance(nbytes=n)
