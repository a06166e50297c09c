"""Lepton behind a process boundary: one long-lived helper process (jpeg_worker.py) per bbx
process, its address space capped, every request given a time limit that grows with its size.

Lepton is Rust and fuzzed by its authors, but it runs on untrusted input both ways (any JPEG
a user archives, any payload in an archive someone sent), a Rust panic or a failed allocation
aborts the whole process, and a payload can claim a 16k x 16k image. So it never runs in the
bbx process: a crash, a hang or a runaway allocation kills the helper, which is restarted for
the next request, and the caller gets a clean "no". Starting the helper costs about one
Python start-up, once per bbx process; a request costs two pipe copies of its data."""
from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import threading
import time

from archiver.codecs import jpeg_worker

HEAD = struct.Struct("<cQ")
# Address-space cap of the helper: Python and Lepton's code (~0.3 GiB) plus Lepton's working
# set for the largest JPEG it accepts (16386 x 16386 pixels). Writer and reader use the same
# cap, so whatever passed the check at create time also decodes at extract time.
MEMORY_LIMIT = 3 << 30
# Time limit of one request: generous next to Lepton's 1-10 MB/s on a loaded machine, small
# enough that a hostile payload cannot hold extraction for long.
BASE_SECONDS, SECONDS_PER_MB = 30.0, 10.0
START_SECONDS = 60.0


class Refused(Exception):
    """The helper said no (library refused the input, round trip not exact, bad payload),
    crashed, or ran out of time; the message says which."""


class LibraryMissing(Exception):
    """lepton_jpeg_python cannot be imported in the helper."""


class Sandbox:
    def __init__(self, memory_limit: int = MEMORY_LIMIT):
        self.memory_limit = memory_limit
        self._proc: subprocess.Popen | None = None
        self._pid = None
        self._threads = 1
        self._lock = threading.Lock()

    def encode(self, jpeg: bytes, threads: int = 1) -> bytes:
        """Lepton stream of `jpeg`, checked to decode back byte for byte; Refused otherwise.
        `threads`: how many cores Lepton may use (its output is the same whatever the count)."""
        return self._call(b"E", jpeg, len(jpeg), threads)

    def decode(self, stream: bytes, size: int, threads: int = 1) -> bytes:
        return self._call(b"D", stream, size, threads)

    def close(self) -> None:
        with self._lock:
            self._stop()

    # -- the helper process ---------------------------------------------------------------
    def _start(self, threads: int) -> None:
        # Lepton's thread pool is sized once, at the helper's start: a helper serves one
        # thread count, and is started again when a request asks for another (a process's
        # requests all ask for the same: threads.budget). Two malloc arenas whatever the
        # count, so the address space, and with it the memory cap, does not grow with threads.
        env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "MALLOC_ARENA_MAX": "2"}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", jpeg_worker.__file__, str(self.memory_limit), str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, env=env)
        self._threads = threads
        self._pid = os.getpid()       # a forked child must start its own helper
        status, body = self._read_reply(time.monotonic() + START_SECONDS)
        if status == b"M":
            self._stop()
            raise LibraryMissing(body.decode("utf-8", "replace"))
        if status != b"K":
            self._stop()
            raise Refused("JPEG helper process did not start")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and self._pid == os.getpid():
            proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass

    def _call(self, op: bytes, data: bytes, size: int, threads: int) -> bytes:
        threads = max(1, threads)
        with self._lock:
            if self._proc is not None and self._pid == os.getpid() and self._threads != threads:
                self._stop()
            if self._proc is None or self._pid != os.getpid():
                self._proc = None
                self._start(threads)
            deadline = time.monotonic() + BASE_SECONDS + SECONDS_PER_MB * size / 1e6
            try:
                self._proc.stdin.write(HEAD.pack(op, len(data)))
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
                status, body = self._read_reply(deadline)
            except Refused:
                self._stop()            # dead, hung or out of step: a fresh one next time
                raise
            except OSError as exc:      # the pipe broke: it died while reading the request
                self._stop()
                raise Refused(f"JPEG helper process died ({exc.strerror})") from None
            if status != b"K":
                raise Refused(body.decode("utf-8", "replace"))
            return body

    def _read_reply(self, deadline: float) -> tuple[bytes, bytes]:
        status, n = HEAD.unpack(self._read(HEAD.size, deadline))
        return status, self._read(n, deadline)

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self._proc.stdout.fileno()
        parts, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Refused("JPEG helper process ran out of time")
            part = os.read(fd, min(n - got, 1 << 20))
            if not part:
                code = self._proc.poll()
                raise Refused(f"JPEG helper process died (exit status {code})")
            parts.append(part)
            got += len(part)
        return b"".join(parts)
