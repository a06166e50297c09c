"""bbx extract: restore all or selected members."""
from __future__ import annotations

from typing import List

import typer

from archiver.api import open as api_open
from archiver.cli import streams
from archiver.cli.console import BarProgress, out, say_error


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
        # damage the archive's recovery record can undo is repaired into a temporary copy
        # (removed afterwards, on a signal too); the archive itself is never written
        with api_open(path, repair=True) as a:
            note = a.repair.note(archive)
            if note:
                say_error(note)         # never silently: one line on stderr
            with BarProgress("extracting", quiet) as bar:
                # counted as the codecs decode the chunks (not as files are written: a model
                # chunk would hold the bar still for minutes)
                bar.start(0, a.decode_size(members or None))
                report = a.extract(directory, members or None, force=force, progress=bar,
                                   jobs=jobs, keep_setid=keep_setid)
        for exc in report.errors:
            say_error(exc)
    if not quiet:
        out.print(f"extracted {report.files} files, {report.dirs} dirs, {report.links} links "
                  f"({report.bytes} bytes) into {directory}"
                  + (f"; {len(report.errors)} errors" if report.errors else ""))
    if report.errors:
        raise typer.Exit(report.errors[0].exit_code)

