"""The bbx command line: a typer app, one module per command.

User errors (archiver.errors.BBXError) print one line, `bbx: <message>`, and exit with the
error's own code; no traceback."""
from __future__ import annotations

import functools
import os
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

app = typer.Typer(name="bbx", add_completion=False, invoke_without_command=True,
                  pretty_exceptions_enable=False, epilog=EXIT_CODES,
                  help="bbx: lossless archiver with learned models over exact rANS.")


def _interruptible(command):
    """Ctrl-C ends a command with `bbx: interrupted` and exit code 130 (typer would turn the
    KeyboardInterrupt into a silent exit 130 before main() sees it). Temporary files are gone
    by then: the with-blocks that own them have unwound. A closed pipe on stdout ends it
    quietly with 141, as SIGPIPE ends tar."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            say_error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:     # `bbx list a.bbx | head`: the reader left; end as tar does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(128 + signal.SIGPIPE) from None
    return run


app.command("create")(_interruptible(create))
app.command("extract")(_interruptible(extract))
app.command("list")(_interruptible(list_))
app.command("verify")(_interruptible(verify))
app.command("codecs")(_interruptible(codecs))


def _version(value: bool) -> None:
    if value:
        print(f"bbx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """bbx: lossless archiver with learned models over exact rANS."""
    if ctx.invoked_subcommand is None:      # plain `bbx`: help, and success, like git
        print(ctx.get_help())
        raise typer.Exit(0)


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
