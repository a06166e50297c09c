"""bbx create: archive files and directories (to a file, or to stdout with -o -)."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import List, Optional

import typer
from archiver.api import create as api_create
from archiver.cli import streams
from archiver.cli.console import BarProgress, err, human, mb_per_s, out, print_table, warn
from archiver.cli.presets import BEST, DEFAULT, FAST, PRESETS
from archiver.container.scanner import top_name
from archiver.errors import UsageError
from archiver.recovery.record import MAX_PERCENT, MIN_PERCENT

PRESET_HELP = ("Presets -1 (fastest) .. -9 (smallest): "
               + "; ".join(f"-{n} {p.what}" for n, p in PRESETS.items()) + ".")


def default_output(first_input: str) -> str:
    return os.fsdecode(top_name(os.fsencode(first_input))) + ".bbx"


def _preset(flags: dict[int, bool], fast: bool, best: bool) -> int | None:
    chosen = {n for n, on in flags.items() if on}
    chosen |= ({FAST} if fast else set()) | ({BEST} if best else set())
    if len(chosen) > 1:
        raise UsageError("give one preset (-1 .. -9, --fast, --best), not "
                         + ", ".join(f"-{n}" for n in sorted(chosen)))
    return chosen.pop() if chosen else None


def create(
    inputs: List[str] = typer.Argument(..., help="Files and directories to archive."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Archive to write (default: NAME.bbx after the first "
                                              "input); '-' writes it to stdout."),
    fast: bool = typer.Option(False, "--fast", "-1", help="Fastest: zstd -1, no model codecs. "
                                                          + PRESET_HELP),
    best: bool = typer.Option(False, "--best", "-9",
                              help="Smallest: zstd -22, model codecs, 64 MiB chunks, text not cut "
                                   "for parallelism (text through the model: about 0.1-0.3 "
                                   "MB/s per core, to create and to extract)."),
    p2: bool = typer.Option(False, "-2", hidden=True),
    p3: bool = typer.Option(False, "-3", hidden=True),
    p4: bool = typer.Option(False, "-4", hidden=True),
    p5: bool = typer.Option(False, "-5", hidden=True),
    p6: bool = typer.Option(False, "-6", hidden=True),
    p7: bool = typer.Option(False, "-7", hidden=True),
    p8: bool = typer.Option(False, "-8", hidden=True),
    level: Optional[int] = typer.Option(None, "--level", "-l", min=1, max=22,
                                        help=f"zstd level 1..22, overriding the preset's "
                                             f"(default preset -{DEFAULT}: "
                                             f"{PRESETS[DEFAULT].level}); also given to model "
                                             "codecs."),
    exclude: List[str] = typer.Option([], "--exclude", "-x",
                                      help="Skip members matching this glob (path or name); repeatable."),
    codecs: Optional[str] = typer.Option(None, "--codecs",
                                         help="Comma-separated codecs to try, e.g. 'zstd', "
                                              "overriding the preset's (default: all installed; "
                                              "store is always allowed)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing archive."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Worker processes (default 0: every core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Code the chunks on this Dask scheduler (e.g. tcp://host:8786); needs bbx[dask]."),
    shared: bool = typer.Option(False, "--shared",
                                help="With --scheduler: the workers see the inputs under the same paths and read them there."),
    recovery: Optional[str] = typer.Option(None, "--recovery", "-r", metavar="PERCENT",
                                           help="Add a recovery record of this size, e.g. 5% "
                                                "(1..50): `bbx repair` (and `extract`, on its "
                                                "own) restores up to about that share of "
                                                "damaged or lost bytes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display and no summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (codecs, sizes, warnings) as JSON."),
) -> None:
    """Archive INPUTS into one .bbx file."""
    n = _preset({2: p2, 3: p3, 4: p4, 5: p5, 6: p6, 7: p7, 8: p8}, fast, best)
    preset = PRESETS[DEFAULT if n is None else n]
    if codecs is not None:
        chosen = [c.strip() for c in codecs.split(",") if c.strip()]
    else:
        chosen = None if preset.models else ["zstd"]
    to_stdout = output == "-"
    target = output or default_output(inputs[0])
    if to_stdout and as_json:
        raise UsageError("--json prints to stdout, which -o - uses for the archive; "
                         "leave out one of them")
    started = time.monotonic()
    with BarProgress("archiving", quiet or as_json) as bar, \
            streams.output(None if to_stdout else target) as path:
        report = api_create(path, inputs, level=level or preset.level, exclude=exclude,
                            force=force or to_stdout, progress=bar, codecs=chosen,
                            chunk_size=preset.chunk_size, jobs=jobs, scheduler=scheduler,
                            shared=shared, parts=preset.parts, recovery=_percent(recovery))
    wall = time.monotonic() - started
    for text in report.warnings:
        warn(text)
    if as_json:
        print(json.dumps(dataclasses.asdict(report), indent=1))
    elif not quiet:
        if to_stdout:
            report.path = "<stdout>"
        summary(err if to_stdout else out, report, wall)
    if report.warnings:
        raise typer.Exit(1)


def _percent(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip().removesuffix("%"))
    except ValueError:
        raise UsageError(f"--recovery takes a percentage such as 5%, not {text!r}") from None
    if not MIN_PERCENT <= value <= MAX_PERCENT:
        raise UsageError(f"--recovery {text}: give {MIN_PERCENT}% to {MAX_PERCENT}%")
    return value


def summary(console, report, wall: float) -> None:
    """Per codec: files, chunks, bytes in and out, ratio, time spent coding and its speed
    (every codec tried on a chunk counts towards the one that won it); the wall time."""
    title = (f"{report.path}: {report.files} files, {report.dirs} dirs, {report.links} links "
             f"in {wall:.1f} s ({mb_per_s(report.input_bytes, wall)})")
    rows = []
    for name, s in sorted(report.by_codec.items()):
        rows.append([name, str(s.files), str(s.chunks), human(s.raw), human(s.stored),
                     f"{s.raw / s.stored:.2f}" if s.stored else "-", f"{s.seconds:.1f} s",
                     mb_per_s(s.raw, s.seconds)])
    ratio = f"{report.input_bytes / report.output_bytes:.2f}" if report.output_bytes else "-"
    rows.append(["total (with index)", str(report.files), "", human(report.input_bytes),
                 human(report.output_bytes), ratio, f"{wall:.1f} s",
                 mb_per_s(report.input_bytes, wall)])
    # "coding" sums the time every worker spent on the codec's chunks, so "speed/job" is the
    # speed of one worker process; the total row is wall time and overall speed.
    print_table(console, title, ["codec", "files", "chunks", "input", "output", "ratio",
                                 "coding", "speed/job"], rows, last_bold=True)
