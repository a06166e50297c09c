"""bbx list: what an archive holds, read from its index alone."""
from __future__ import annotations

import json

import typer
from rich.table import Table

from archiver.api import open as api_open
from archiver.cli.console import human, out, say_error


def list_(
    archive: str = typer.Argument(..., help="The .bbx archive."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the members of ARCHIVE: name, size, compressed size, codec, ratio."""
    with api_open(archive) as a:
        rows = a.rows()
        problems = a.problems
        if as_json:
            print(json.dumps({"archive": a.path, "model_hashes": a.model_hashes,
                              "chunks": len(a.chunks), "entries": rows,
                              "errors": [{"exit_code": e.exit_code, "kind": type(e).__name__,
                                          "message": e.message()} for e in problems]}, indent=1))
            _fail_on(problems, quiet=True)
            return
    table = Table(box=None, pad_edge=False)
    for col, just in (("name", "left"), ("size", "right"), ("compressed", "right"),
                      ("codec", "left"), ("ratio", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for r in rows:
        name = r["path"] + ("/" if r["type"] == "dir" else "")
        if r["type"] == "symlink":
            name += f" -> {r['link']}"
        if r["type"] == "file":
            table.add_row(name, human(r["size"]), human(r["compressed"]), r["codec"],
                          f"{r['ratio']:.2f}" if r["ratio"] else "-")
        else:
            table.add_row(name, "", "", "", "")
    out.print(table, markup=False)
    _fail_on(problems)


def _fail_on(problems, quiet: bool = False) -> None:
    """A salvaged archive lists what could be recovered, then fails."""
    if not quiet:
        for exc in problems:
            say_error(exc)
    if problems:
        raise typer.Exit(problems[0].exit_code)
