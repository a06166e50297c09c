"""bbx extract: restore all or selected members."""
from __future__ import annotations

from typing import List

import typer

from archiver.api import open as api_open
from archiver.cli import streams
from archiver.cli.console import BarProgress, out, say_error
from archiver.errors import CorruptArchive, NotAnArchive
from archiver.recovery.repair import assess


def extract(
    archive: str = typer.Argument(..., help="The .bbx archive; '-' reads it from stdin."),
    members: List[str] = typer.Argument(None, help="Members to extract: names, directories (their "
                                                   "contents) or wildcards such as '*.png' (quote "
                                                   "them); default all."),
    directory: str = typer.Option(".", "-C", "--directory", help="Extract into this directory."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing files."),
    keep_setid: bool = typer.Option(False, "--keep-setid",
                                    help="Restore setuid/setgid bits too (dropped by default, as tar does without -p)."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Worker processes (default 0: every core)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary."),
) -> None:
    """Extract ARCHIVE (or only MEMBERS) into a directory, restoring mode and mtime."""
    with streams.input(archive) as path:
        try:
            a = api_open(path)
        except (CorruptArchive, NotAnArchive):
            _repair_hint(path, archive)
            raise
        with a, BarProgress("extracting", quiet) as bar:
            # counted as the codecs decode the chunks (not as files are written: a model
            # chunk would hold the bar still for minutes)
            bar.start(0, a.decode_size(members or None))
            report = a.extract(directory, members or None, force=force, progress=bar, jobs=jobs,
                               keep_setid=keep_setid)
        for exc in report.errors:
            say_error(exc)
        if report.errors:
            _repair_hint(path, archive)
    if not quiet:
        out.print(f"extracted {report.files} files, {report.dirs} dirs, {report.links} links "
                  f"({report.bytes} bytes) into {directory}"
                  + (f"; {len(report.errors)} errors" if report.errors else ""))
    if report.errors:
        raise typer.Exit(report.errors[0].exit_code)


def _repair_hint(path: str, archive: str) -> None:
    """Damage met: say whether the archive's recovery record can undo it."""
    dmg, verdict = assess(path)
    if verdict is not None and dmg.repairable:
        say_error(f"{archive} has a recovery record that can repair this: run `bbx repair "
                  f"{archive}`, then extract again")
