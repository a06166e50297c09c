"""bbx list: what an archive holds, read from its index alone."""
from __future__ import annotations

import json
import sys

import typer

from archiver.api import open as api_open
from archiver.cli.console import error_json, human, say_error


def list_(
    archive: str = typer.Argument(..., help="The .bbx archive."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the members of ARCHIVE: name, size, compressed size, codec, ratio."""
    with api_open(archive) as a:
        problems = a.problems
        if as_json:
            _print_json(a)
            _fail_on(problems, quiet=True)
            return
        _print_columns(a.iter_rows())
    _fail_on(problems)


def _print_json(a) -> None:
    """The listing as one JSON object, written entry by entry (json.dumps of the whole
    listing would hold it twice in memory)."""
    write = sys.stdout.write
    head = json.dumps({"archive": a.path, "model_hashes": a.model_hashes, "chunks": len(a.chunks)})
    write(head[:-1] + ', "entries": [')
    for i, row in enumerate(a.iter_rows()):
        write(("\n " if i == 0 else ",\n ") + json.dumps(row))
    errors = [error_json(e) for e in a.problems]
    write('\n], "errors": ' + json.dumps(errors) + "}\n")


NAME_WIDTH = 60       # longer names push their line's other columns right


def _print_columns(rows) -> None:
    """Name, size, compressed, codec, ratio as plain aligned columns: a rich table takes
    minutes on hundreds of thousands of entries, this takes a second."""
    lines = [("name", "size", "compressed", "codec", "ratio")]
    for r in rows:
        name = r["path"] + ("/" if r["type"] == "dir" else "")
        if r["type"] == "symlink":
            name += f" -> {r['link']}"
        if r["type"] == "file":
            lines.append((name, human(r["size"]), human(r["compressed"]), r["codec"],
                          f"{r['ratio']:.2f}" if r["ratio"] else "-"))
        else:
            lines.append((name, "", "", "", ""))
    widths = [max(len(line[k]) for line in lines) for k in range(5)]
    widths[0] = min(widths[0], NAME_WIDTH)
    write = sys.stdout.write
    for name, size, comp, codec, ratio in lines:
        write(f"{name:<{widths[0]}}  {size:>{widths[1]}}  {comp:>{widths[2]}}  {codec:<{widths[3]}}  "
              f"{ratio:>{widths[4]}}".rstrip() + "\n")


def _fail_on(problems, quiet: bool = False) -> None:
    """A salvaged archive lists what could be recovered, then fails."""
    if not quiet:
        for exc in problems:
            say_error(exc)
    if problems:
        raise typer.Exit(problems[0].exit_code)
