"""bbx repair: restore a damaged archive from its recovery record (bbx create --recovery)."""
from __future__ import annotations

import json
from typing import Optional

import typer

from archiver.api import repair as api_repair
from archiver.cli.console import error_json, out, say_error
from archiver.errors import Unrepairable


def repair(
    archive: str = typer.Argument(..., help="The damaged .bbx archive."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Write the repaired archive here (default: replace "
                                              "ARCHIVE, through a temporary file and a rename)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing OUTPUT."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Errors only."),
) -> None:
    """Repair ARCHIVE from its recovery record; exit 0 when it is whole again."""
    report = api_repair(archive, output, force)
    dmg = report.damage
    target = output or archive
    error = None
    if not dmg.repairable:
        error = Unrepairable(archive, dmg.summary(), "; ".join(report.lost))
        error.detail = (f"the rest was repaired into {target}" if report.written else "")
    if as_json:
        print(json.dumps({"archive": archive, "output": target if report.written else None,
                          "damage": dmg.summary(), "repaired_blocks": report.repaired_blocks,
                          "repairable": dmg.repairable, "lost": report.lost,
                          "errors": [error_json(error)] if error else []}, indent=1))
    elif error is not None:
        say_error(error)
    elif not quiet:
        if not dmg.damaged:
            out.print(f"{archive}: no damage found; nothing to repair"
                      + (f" (copied to {target})" if report.written else ""))
        else:
            where = f"into {target}" if output else "in place (replaced through a temporary file)"
            out.print(f"{archive}: repaired {where}: {dmg.summary()}; "
                      f"{report.repaired_blocks} blocks rebuilt, every byte checked against the "
                      "recovery record's SHA-256")
    if error is not None:
        raise typer.Exit(error.exit_code)
