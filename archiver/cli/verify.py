"""bbx verify: structure and checksums (--quick), or decode everything and check every SHA-256."""
from __future__ import annotations

import json

import typer

from archiver.api import open as api_open
from archiver.cli import streams
from archiver.cli.console import BarProgress, error_json, out, say_error
from archiver.container.verify import VerifyReport
from archiver.errors import BBXError, CorruptArchive, NotAnArchive
from archiver.recovery.repair import assess


def verify(
    archive: str = typer.Argument(..., help="The .bbx archive; '-' reads it from stdin."),
    quick: bool = typer.Option(False, "--quick", help="Only structure and chunk checksums; no decoding."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Worker processes (default 0: every core)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; errors only."),
) -> None:
    """Check ARCHIVE; exit code 0 only when all is well."""
    with streams.input(archive) as path:
        try:
            a = api_open(path)
        except (CorruptArchive, NotAnArchive) as exc:
            report = _unopened(path, exc)      # a recovery record may still restore it
        else:
            with a, BarProgress("verifying", quiet or as_json) as bar:
                bar.start(0, sum(c.raw_size for c in a.chunks) if quick else a.decode_size())
                if quick:                   # checksums only: counted chunk by chunk
                    report = a.verify(quick=True, on_bytes=bar.on_bytes, jobs=jobs)
                else:                       # counted as the codecs decode
                    report = a.verify(progress=bar, jobs=jobs)
    if as_json:
        print(json.dumps({"archive": archive, "ok": report.ok, "quick": quick,
                          "chunks": report.chunks, "files": report.files, "bytes": report.bytes,
                          "recovery": None if report.recovery is None else {
                              "damage": report.recovery.summary(),
                              "repairable": report.recovery.repairable},
                          "errors": [error_json(e) for e in report.errors]}, indent=1))
    else:
        for exc in report.errors:
            say_error(exc)
        if not quiet and report.ok:
            what = "structure and checksums" if quick else "every file's SHA-256"
            what += " checked" + ("; recovery record intact" if report.recovery is not None else "")
            out.print(f"{archive}: OK ({report.chunks} chunks, {report.files} files; {what})")
    if report.errors:
        raise typer.Exit(report.errors[0].exit_code)


def _unopened(path: str, exc: BBXError) -> VerifyReport:
    """An archive too damaged to open: what its recovery record (if any) says, then why."""
    dmg, verdict = assess(path)
    if dmg is None:
        raise exc
    return VerifyReport(errors=[e for e in (verdict, exc) if e is not None], recovery=dmg)
