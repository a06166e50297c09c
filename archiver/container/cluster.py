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

Progress: a codec's progress(n) calls on a worker are summed and sent at most every
PROGRESS_INTERVAL seconds as Dask events (Worker.log_event) on a topic of this run, to which
the writer's client subscribes; they reach the same tracker as the local pool's, clamped to
each chunk's size (a chunk run again after a worker died cannot count twice)."""
from __future__ import annotations

import hashlib
import os
import queue
import uuid
import warnings

from archiver import threads
from archiver.container.chunk_coder import encode_chunk
from archiver.container.pool import Pool, Task, progress_to
from archiver.errors import ClusterError

CONNECT_TIMEOUT = "10s"


class _Events:
    """A queue's put() that logs a Dask event on `topic` from a worker (thread-safe)."""

    def __init__(self, topic: str):
        from distributed import get_worker
        self.worker, self.topic = get_worker(), topic

    def put(self, item: tuple[int, int]) -> None:
        self.worker.log_event(self.topic, list(item))


_limited = False


def encode_on_worker(topic: str, *args):
    """encode_chunk on a Dask worker: each of its threads is one job, so the codecs there get
    one thread (native pools capped once per worker process); their progress goes out as
    events on `topic`."""
    global _limited
    if not _limited:
        threads.limit(1)
        _limited = True
    with progress_to(_Events(topic)):
        return encode_chunk(*args)


class DaskPool(Pool):
    """The pool's ordered loop over a Dask cluster: one worker thread of the cluster counts as
    one job; about two chunks per worker thread are in flight."""

    def __init__(self, scheduler, settings: tuple, progress=None, *, shared: bool = False,
                 in_flight: int | None = None):
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
        self.settings = settings          # (level, allowed codec ids, model hashes)
        self.shared = shared
        self.run = uuid.uuid4().hex[:12]
        self.executor = self.client       # map() starts nothing: the cluster runs already
        self.topic = f"bbx-progress-{self.run}"
        events = self.queue = queue.Queue()       # (seq, bytes) from the workers' events
        self.client.subscribe_topic(self.topic, lambda event: events.put(tuple(event[1])))

    def make_task(self, seq: int, raw: bytes, pieces, first_path: str, content_class: str,
                  cut) -> Task:
        if self.shared:
            pieces = [(os.path.abspath(src), offset, n) for src, offset, n in pieces]
            return Task(encode_on_worker, (self.topic, seq, pieces, hashlib.sha256(raw).digest(),
                                           first_path, content_class, *self.settings),
                        len(raw), content_class, cut)
        return Task(encode_on_worker, (self.topic, seq, raw, None, first_path, content_class,
                                       *self.settings), len(raw), content_class, cut)

    def _submit(self, task: Task, seq: int):
        self.tracker.tasks[seq] = [task, 0]
        # The bytes go inside the task, which the scheduler keeps until the result is fetched:
        # if a worker dies (mid-chunk, or holding a finished payload) the task runs again
        # elsewhere. Scattered data would die with its worker and cancel the chunk.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*large graph.*")
            return self.client.submit(task.fn, *task.args, pure=False,
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
        try:
            client.unsubscribe_topic(self.topic)
        except Exception:  # noqa: BLE001 - the connection is gone already: nothing to stop
            pass
        self.queue = None
        if self.own_client:
            client.close()
