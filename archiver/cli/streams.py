"""Archives on pipes: `bbx create -o - DIR | ...` and `... | bbx extract -` (list, verify too).

The format puts the index at the tail and the writer fills in the header last, so neither side
streams block by block: an archive for stdout is written to a temporary file, then copied to
stdout once complete (the bytes are those `-o FILE` writes); an archive from stdin is spooled
to a temporary file first, then read as usual. Both need temporary space as large as the
archive, in $TMPDIR (format_spec/bbx_format.md, "Streaming", says what a streaming reader may
do instead)."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

from archiver import tempfiles
from archiver.errors import InputError, OutputError, UsageError

STDIO = "-"
COPY_BLOCK = 1 << 20


@contextlib.contextmanager
def output(path: str | None):
    """Yield the path to write the archive to: `path`, or (None: stdout) a temporary file
    whose bytes go to stdout when the body finishes without error."""
    if path is not None:
        yield path
        return
    if sys.stdout.isatty():
        raise UsageError("refusing to write an archive to a terminal; redirect stdout or pipe it")
    with tempfile.TemporaryDirectory(prefix="bbx-") as tmp, tempfiles.tracked(tmp):
        spool = os.path.join(tmp, "stdout.bbx")
        yield spool
        sys.stdout.flush()
        try:
            with open(spool, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer, COPY_BLOCK)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError("<stdout>", exc.strerror) from None


@contextlib.contextmanager
def input(path: str):
    """Yield a path to read the archive from: `path`, or ('-') a temporary copy of stdin."""
    if path != STDIO:
        yield path
        return
    if sys.stdin.isatty():
        raise UsageError("refusing to read an archive from a terminal; redirect stdin or pipe it")
    with tempfile.TemporaryDirectory(prefix="bbx-") as tmp, tempfiles.tracked(tmp):
        spool = os.path.join(tmp, "stdin.bbx")
        try:
            with open(spool, "wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f, COPY_BLOCK)
        except OSError as exc:
            raise InputError("<stdin>", exc.strerror or str(exc)) from None
        yield spool
