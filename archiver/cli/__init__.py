"""The bbx command line: a typer app, one module per command.

User errors (archiver.errors.BBXError) print one line, `bbx: <message>`, and exit with the
error's own code; no traceback."""
from __future__ import annotations

import signal
import sys

import typer

from archiver import __version__
from archiver.cli.console import say_error
from archiver.cli.codecs import codecs
from archiver.cli.create import create
from archiver.cli.extract import extract
from archiver.cli.listing import list_
from archiver.cli.verify import verify
from archiver.errors import BBXError

EXIT_CODES = ("Exit codes: 0 all well; 1 warnings (something skipped); 2 usage; "
              "10-23 errors, one per kind (see archiver/errors.py); 130 interrupted.")

app = typer.Typer(name="bbx", add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, epilog=EXIT_CODES,
                  help="bbx: lossless archiver with learned models over exact rANS.")
app.command("create")(create)
app.command("extract")(extract)
app.command("list")(list_)
app.command("verify")(verify)
app.command("codecs")(codecs)


def _version(value: bool) -> None:
    if value:
        print(f"bbx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """bbx: lossless archiver with learned models over exact rANS."""


def _terminate(signum, frame):
    raise SystemExit(128 + signum)       # unwinds, so temporary files are removed


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(prog_name="bbx")
    except BBXError as exc:
        say_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        say_error("interrupted")
        sys.exit(130)
