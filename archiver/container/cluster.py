"""Chunks coded on a Dask cluster (`bbx create --scheduler ADDRESS`, or
`archiver.create(..., scheduler=...)`): the same tasks as the local pool, the same ordered
loop (DaskPool is a Pool whose workers are Dask's), so one process still writes the archive
in order and it is byte-identical to a local create.

Each worker builds its chunk coder once per process (models loaded and checked against the
hashes the writer records; a worker with other weights refuses). Chunks are sent as bytes
(inside the task, so that the scheduler can run it again), or with `shared` the workers read them from the same
paths (a shared filesystem): the writer sends (path, offset, length) pieces and the SHA-256
of the bytes it read itself, and the worker refuses bytes that differ. A worker that dies
mid-chunk is handled by the scheduler, which runs the task again elsewhere (up to its
`distributed.scheduler.allowed-failures`); tasks are pure functions of their inputs, so a
rerun gives the same payload.

Progress from inside a codec stays on its worker; the bar advances as chunks finish."""
from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
import warnings

from archiver.container.chunk_coder import ChunkCoder, worker_coder
from archiver.container.pool import Pool, Task
from archiver.errors import ClusterError, InputError

CONNECT_TIMEOUT = "10s"
_coders: dict = {}
_lock = threading.Lock()


def _coder(level: int, allowed, expected) -> ChunkCoder:
    """This worker process's coder for these settings, built once."""
    key = (level, None if allowed is None else tuple(sorted(allowed)),
           tuple(sorted(expected.items())))
    with _lock:
        coder = _coders.get(key)
        if coder is None:
            coder = _coders[key] = worker_coder(level, allowed, expected)
    return coder


def _read_pieces(pieces, digest: bytes) -> bytes:
    parts = []
    for source, offset, length in pieces:
        try:
            with open(source, "rb") as f:
                f.seek(offset)
                data = f.read(length)
        except OSError as exc:
            raise InputError(source.decode(errors="replace"), f"{exc.strerror} (on a Dask "
                             "worker: is the path shared?)") from None
        if len(data) != length:
            raise InputError(source.decode(errors="replace"), "changed while being archived")
        parts.append(data)
    raw = b"".join(parts)
    if hashlib.sha256(raw).digest() != digest:
        raise InputError(pieces[0][0].decode(errors="replace"),
                         "the worker read other bytes than the writer (changed while being "
                         "archived, or not the same file on the worker)")
    return raw


def dask_encode(raw_or_pieces, digest: bytes | None, first_path: str, content_class: str,
                level: int, allowed, expected) -> tuple[int, bytes, list[str], float]:
    """(codec id, payload, warnings, seconds spent coding) for one chunk, on a Dask worker."""
    raw = raw_or_pieces if digest is None else _read_pieces(raw_or_pieces, digest)
    warnings: list[str] = []
    started = time.perf_counter()
    codec_id, payload = _coder(level, allowed, expected).code(raw, first_path, content_class,
                                                              None, warnings.append)
    return codec_id, payload, warnings, time.perf_counter() - started


class DaskPool(Pool):
    def __init__(self, scheduler, level: int, allowed, expected: dict, progress=None, *,
                 shared: bool = False, in_flight: int | None = None):
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError(scheduler, "dask.distributed is not installed; "
                                            "pip install 'bbx[dask]'") from None
        if isinstance(scheduler, Client):
            self.client, self.own_client = scheduler, False
        else:
            try:
                self.client, self.own_client = Client(scheduler, timeout=CONNECT_TIMEOUT), True
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterError(scheduler, str(exc) or type(exc).__name__) from None
        workers = max(1, sum(self.client.nthreads().values()))
        super().__init__(workers, engine="thread", progress=progress,
                         in_flight=in_flight or 2 * workers + 2)
        self.settings = (level, allowed, expected)
        self.shared = shared
        self.run = uuid.uuid4().hex[:12]
        self.executor = self.client       # map() starts nothing: the cluster runs already

    def make_task(self, seq: int, raw: bytes, pieces, first_path: str, content_class: str,
                  cut) -> Task:
        if self.shared:
            pieces = [(os.path.abspath(src), offset, n) for src, offset, n in pieces]
            return Task(dask_encode, (pieces, hashlib.sha256(raw).digest(), first_path,
                                      content_class), len(raw), content_class, cut)
        return Task(dask_encode, (raw, None, first_path, content_class), len(raw),
                    content_class, cut)

    def _submit(self, task: Task, seq: int):
        self.tracker.tasks[seq] = [task, 0]
        # The bytes go inside the task, which the scheduler keeps until the result is fetched:
        # if a worker dies (mid-chunk, or holding a finished payload) the task runs again
        # elsewhere. Scattered data would die with its worker and cancel the chunk.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*large graph.*")
            return self.client.submit(task.fn, *task.args, *self.settings, pure=False,
                                      key=f"bbx-chunk-{self.run}-{seq}")

    def _wait(self, futures: list) -> set:
        from distributed import wait
        try:
            wait(futures, timeout=0.5, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        return {f for f in futures if f.done()}

    def close(self, cancel: bool = False) -> None:
        client, self.executor = self.executor, None
        if client is None:
            return
        if cancel:
            client.cancel([f for _, _, f in self.window])
        if self.own_client:
            client.close()
