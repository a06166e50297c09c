"""The bbx command line: a typer app, one module per command.

User errors (archiver.errors.BBXError) print one line, `bbx: <message>`, and exit with the
error's own code; no traceback."""
from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sys
import threading

import typer

from archiver import __version__, tempfiles
from archiver.cli.console import say_error
from archiver.cli.codecs import codecs
from archiver.cli.create import create
from archiver.cli.extract import extract
from archiver.cli.listing import list_
from archiver.cli.repair import repair
from archiver.cli.verify import verify
from archiver.errors import BBXError

EXIT_CODES = ("Exit codes: 0 all well; 1 warnings (something skipped); 2 usage; "
              "10-31 errors, one per kind (see archiver/errors.py); 128+n killed by signal n (130 Ctrl-C).")

app = typer.Typer(name="bbx", add_completion=False, invoke_without_command=True,
                  pretty_exceptions_enable=False, epilog=EXIT_CODES,
                  help="bbx: lossless archiver with learned models over exact rANS.")


def _quiet_on_closed_pipe(command):
    """A closed pipe on stdout (`bbx list a.bbx | head`: the reader left) ends the command
    quietly with 141, as SIGPIPE ends tar. Ctrl-C and other signals are main()'s: the command
    runs in a worker thread, where they never arrive."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(128 + signal.SIGPIPE) from None
    return run


for _name, _command in (("create", create), ("extract", extract), ("list", list_),
                        ("verify", verify), ("repair", repair), ("codecs", codecs)):
    app.command(_name)(_quiet_on_closed_pipe(_command))


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


class _Signalled(BaseException):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame):
    raise _Signalled(signum)


def _run(outcome: dict) -> None:
    """The command itself, in a worker thread: its exit code or error goes to `outcome`."""
    try:
        app(prog_name="bbx")
    except SystemExit as exc:
        outcome["code"] = exc.code
    except BBXError as exc:
        say_error(exc)
        outcome["code"] = exc.exit_code
    except BaseException as exc:  # noqa: BLE001 - a bug: re-raised in the main thread
        outcome["error"] = exc


def main() -> None:
    """Run the command in a worker thread while the main thread waits for signals: a codec
    busy in C code for minutes cannot delay them. Ctrl-C, SIGTERM and SIGHUP remove every
    temporary file (archiver.tempfiles), say `bbx: interrupted` and exit with 128 + n
    within a fraction of a second."""
    outcome: dict = {}
    worker = threading.Thread(target=_run, args=(outcome,), name="bbx", daemon=True)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    try:
        for signum in handled:
            signal.signal(signum, _on_signal)
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
        for signum in handled:
            signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
    except _Signalled as exc:
        tempfiles.remove_all()
        for child in multiprocessing.active_children():     # pool workers mid-chunk
            child.kill()
        if sys.stderr.isatty():
            sys.stderr.write("\x1b[?25h")      # a progress bar may have hidden the cursor
        say_error("interrupted")
        sys.stdout.flush()
        os._exit(128 + exc.signum)
    if "error" in outcome:
        raise outcome["error"]
    sys.exit(outcome.get("code"))
