"""bbx create: archive files and directories."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import List, Optional

import typer
from rich.table import Table

from archiver.api import create as api_create
from archiver.cli.console import BarProgress, err, human, out, warn
from archiver.container.scanner import top_name
from archiver.container.writer import DEFAULT_LEVEL


def default_output(first_input: str) -> str:
    return os.fsdecode(top_name(os.fsencode(first_input))) + ".bbx"


def create(
    inputs: List[str] = typer.Argument(..., help="Files and directories to archive."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Archive to write (default: NAME.bbx after the first input)."),
    level: int = typer.Option(DEFAULT_LEVEL, "--level", "-l", min=1, max=22,
                              help="1 (fast) .. 22 (smallest); zstd levels, also given to model codecs."),
    exclude: List[str] = typer.Option([], "--exclude", "-x",
                                      help="Skip members matching this glob (path or name); repeatable."),
    codecs: Optional[str] = typer.Option(None, "--codecs",
                                         help="Comma-separated codecs to try, e.g. 'zstd' (default: all installed; store is always allowed)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing archive."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Worker processes (default 0: every core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Code the chunks on this Dask scheduler (e.g. tcp://host:8786); needs bbx[dask]."),
    shared: bool = typer.Option(False, "--shared",
                                help="With --scheduler: the workers see the inputs under the same paths and read them there."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (codecs, sizes, warnings) as JSON."),
) -> None:
    """Archive INPUTS into one .bbx file."""
    target = output or default_output(inputs[0])
    with BarProgress("archiving", quiet or as_json) as bar:
        report = api_create(target, inputs, level=level, exclude=exclude, force=force, progress=bar,
                            codecs=[c.strip() for c in codecs.split(",") if c.strip()] if codecs else None,
                            jobs=jobs, scheduler=scheduler, shared=shared)
    for text in report.warnings:
        warn(text)
    if as_json:
        print(json.dumps(dataclasses.asdict(report), indent=1))
    elif not quiet:
        for text in report.notes:
            err.print(f"bbx: note: {text}", markup=False, style="dim")
        out.print(summary_table(report))
    if report.warnings:
        raise typer.Exit(1)


def summary_table(report) -> Table:
    table = Table(title=f"{report.path}: {report.files} files, {report.dirs} dirs, "
                        f"{report.links} links", title_justify="left")
    for col in ("codec", "files", "chunks", "input", "output", "ratio"):
        table.add_column(col, justify="left" if col == "codec" else "right")
    for name, s in sorted(report.by_codec.items()):
        table.add_row(name, str(s.files), str(s.chunks), human(s.raw), human(s.stored),
                      f"{s.raw / s.stored:.2f}" if s.stored else "-")
    ratio = f"{report.input_bytes / report.output_bytes:.2f}" if report.output_bytes else "-"
    table.add_row("total (with index)", str(report.files), "", human(report.input_bytes),
                  human(report.output_bytes), ratio, style="bold")
    return table
