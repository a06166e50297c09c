"""bbx codecs: every codec this bbx holds, its id, the content it serves, whether it can run
here and the SHA-256 of the model it needs (as `zstd -vv` and `borg version` tell a user what
the installed program can do)."""
from __future__ import annotations

import json

import typer
from rich.table import Table

from archiver.codecs import registry
from archiver.cli.console import out


def codec_rows() -> list[dict]:
    rows = []
    for codec in registry.all_codecs():
        try:
            hashes, usable, why = list(codec.model_hashes()), True, ""
        except Exception as exc:  # noqa: BLE001 - any failure means "cannot run here"
            hashes, usable, why = [], False, str(exc)
        classes = codec.content_classes
        rows.append({"id": f"0x{codec.codec_id:02x}", "name": codec.name,
                     "content": "any" if classes is None else ",".join(sorted(classes)),
                     "usable": usable, "model_sha256": hashes, "why_not": why})
    return rows


def codecs(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the codecs: id, content they serve, usable here, model SHA-256."""
    rows = codec_rows()
    if as_json:
        print(json.dumps(rows, indent=1))
    elif not out.is_terminal:
        for r in rows:
            state = "usable" if r["usable"] else f"unusable: {r['why_not']}"
            print(r["id"], r["name"], r["content"], state, " ".join(r["model_sha256"]) or "-",
                  sep="\t")
    else:
        table = Table()
        for col in ("id", "codec", "content", "usable here", "model SHA-256"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["id"], r["name"], r["content"],
                          "yes" if r["usable"] else f"no: {r['why_not']}",
                          "\n".join(r["model_sha256"]) or "-")
        out.print(table)
    if not all(r["usable"] for r in rows):
        raise typer.Exit(1)
