"""bbx list: what an archive holds, read from its index alone.

In a terminal: a table. Piped or redirected: one entry per line, like `tar tf` (directories
end in `/`), or with -l one line of columns per entry, the name last; never wrapped, no
colour, no box drawing, so `bbx list a.bbx | grep NAME` finds NAME."""
from __future__ import annotations

import json
import sys
from typing import List

import typer
from rich.table import Table

from archiver.api import open as api_open
from archiver.cli import streams
from archiver.cli.console import error_json, human, out, say_error

TABLE_MAX_ROWS = 10_000   # a rich table takes minutes on 10^5 rows: longer listings use -l lines
SHARE_MARK = "~"
SHARE_NOTE = (f"{SHARE_MARK} compressed size is the file's share of a solid chunk coded "
              "together with other files (in proportion to its size)")


def list_(
    archive: str = typer.Argument(..., help="The .bbx archive; '-' reads it from stdin."),
    members: List[str] = typer.Argument(None, help="Only these members: names, directories or "
                                                   "wildcards such as '*.png' (quote them)."),
    long: bool = typer.Option(False, "--long", "-l",
                              help="Piped: size, compressed, codec, ratio and name per line "
                                   "(a terminal shows the table, or these lines beyond "
                                   f"{TABLE_MAX_ROWS} entries)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the members of ARCHIVE: name, size, compressed size, codec, ratio."""
    with streams.input(archive) as path, api_open(path) as a:
        problems = a.problems
        if as_json:
            _print_json(a, members or None)
            _fail_on(problems, quiet=True)
            return
        if not out.is_terminal:
            _plain(a.iter_rows(members or None), long)     # streamed: memory stays flat
        else:
            rows = a.rows(members or None)
            if len(rows) <= TABLE_MAX_ROWS:
                _table(rows)
            else:
                _plain(rows, True)
    _fail_on(problems)


def _print_json(a, members) -> None:
    """The listing as one JSON object, written entry by entry: json.dumps of the whole
    listing would hold it twice in memory (hundreds of MB for 10^5 entries)."""
    a.select(members)                   # an unmatched pattern fails before any output
    write = sys.stdout.write
    head = json.dumps({"archive": a.path, "model_hashes": a.model_hashes, "chunks": len(a.chunks)})
    write(head[:-1] + ', "entries": [')
    for i, row in enumerate(a.iter_rows(members)):
        write(("\n " if i == 0 else ",\n ") + json.dumps(row))
    write('\n], "errors": ' + json.dumps([error_json(e) for e in a.problems]) + "}\n")
    sys.stdout.flush()


def _name(r: dict, with_link: bool) -> str:
    name = r["path"] + ("/" if r["type"] == "dir" else "")
    if with_link and r["type"] == "symlink":
        name += f" -> {r['link']}"
    return name


def _compressed(r: dict, text: str) -> str:
    return (SHARE_MARK if r["shared"] else "") + text


def _plain(rows, long: bool) -> None:
    """One line per entry for pipes; names are escaped to one line by the reader already."""
    write = sys.stdout.write
    for r in rows:
        if not long:
            write(_name(r, False) + "\n")
        elif r["type"] == "file":
            ratio = f"{r['ratio']:.2f}" if r["ratio"] else "-"
            write(f"{r['size']:>12} {_compressed(r, str(r['compressed'])):>12} "
                  f"{r['codec']:<8} {ratio:>7}  {_name(r, True)}\n")
        else:
            write(f"{'-':>12} {'-':>12} {r['type']:<8} {'-':>7}  {_name(r, True)}\n")
    sys.stdout.flush()


def _table(rows: list[dict]) -> None:
    shared = any(r.get("shared") for r in rows)
    table = Table(box=None, pad_edge=False, caption=SHARE_NOTE if shared else None,
                  caption_justify="left")
    for col, just in (("name", "left"), ("size", "right"), ("compressed", "right"),
                      ("codec", "left"), ("ratio", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for r in rows:
        if r["type"] == "file":
            table.add_row(_name(r, True), human(r["size"]), _compressed(r, human(r["compressed"])),
                          r["codec"], f"{r['ratio']:.2f}" if r["ratio"] else "-")
        else:
            table.add_row(_name(r, True), "", "", "", "")
    out.print(table, markup=False)


def _fail_on(problems, quiet: bool = False) -> None:
    """A salvaged archive lists what could be recovered, then fails."""
    if not quiet:
        for exc in problems:
            say_error(exc)
    if problems:
        raise typer.Exit(problems[0].exit_code)
