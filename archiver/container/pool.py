"""The one worker pool: chunks are coded (create) or decoded (extract, verify) in parallel and
handed back in submission order, so one writer writes them in order and the archive is
byte-identical whatever the number of workers, or machines (archiver/container/cluster.py
runs the same tasks on Dask).

Engines: "inline" (the calling thread; used for one job and for a single chunk), "process"
(forked worker processes: a codec holding the GIL never stalls the others), "thread" (measured against processes; see
benchmarks/bench_jobs.py). Tasks submitted and not yet handed back hold at most `in_flight`
times the largest task seen so far in bytes, which bounds memory at about in_flight x (chunk +
payload); small tasks (a JPEG, a photo) may fill that window beyond in_flight of them, up to
SMALL_TASKS x in_flight, so that a worker does not idle while a slow chunk ahead of them waits
to be written (a 0.07-0.12 s stall in each 3 s run of bench_jobs.py with a count-only window).

Progress: a codec calls `progress(n)` from inside its work (in a worker); the worker sums the
calls and sends them at most every PROGRESS_INTERVAL seconds over a queue; the caller's thread
drains the queue while it waits and calls `progress.advance(nbytes=..., content_class=...)`.
A task's bytes are clamped to its size and the rest is counted when it finishes, so the bar
ends exactly at the total whatever the codecs report.

Threads: each worker runs with a thread budget of its share of the cores, cores // jobs, and
a task the caller codes itself with min(jobs, cores) (archiver/threads.py): -j1 is one core
(as zstd -T1, xz -T1), and codecs' own threads (the text coder's helper, Lepton's, BLAS and
OpenMP pools) never oversubscribe the cores. Payloads do not depend on it.

Ctrl-C: workers ignore SIGINT; the caller's KeyboardInterrupt (or SystemExit from SIGTERM)
kills them at once and cancels what is queued."""
from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from archiver import threads
from archiver.errors import WorkerDied

PROGRESS_INTERVAL = 0.25        # seconds between a worker's progress messages
POLL = 0.1                      # how often the caller drains progress while it waits
# Tasks run in the caller until this much work has been submitted, and a last task alone
# too: a small archive is done before workers would have started (and a damaged-archive
# scan opens many small ones).
PARALLEL_MIN_BYTES = 256 << 10
ENGINES = ("inline", "thread", "process")
SMALL_TASKS = 4                 # see the module's docstring: the window's bound in tasks


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:              # not Linux
        return max(1, os.cpu_count() or 1)


def check_jobs(jobs: int | None) -> int:
    if jobs is None or jobs == 0:
        return default_jobs()
    if jobs < 0:
        raise ValueError(f"jobs must be 0 (all cores) or more, not {jobs}")
    return jobs


@dataclass
class Task:
    """One unit of work: fn(*args) in a worker. `size` is the raw bytes it stands for (what
    progress counts), `ref` whatever the caller needs back with the result."""
    fn: Callable
    args: tuple
    size: int = 0
    content_class: str | None = None
    ref: object = None
    error: BaseException | None = None     # already failed in the caller; never submitted


class NoProgress:
    def start(self, files: int, total_bytes: int,
              by_class: dict[str, int] | None = None) -> None: ...
    def advance(self, files: int = 0, nbytes: int = 0, content_class: str | None = None) -> None: ...


# -- worker side -------------------------------------------------------------------------------

_send: Callable[[int, int], None] = lambda seq, n: None     # a worker's progress queue
_inline = threading.local()     # a task run in the caller's thread reports there directly


def task_progress(seq: int) -> Callable[[int], None]:
    """The `progress(n)` callback a codec gets for task `seq` in this worker."""
    send = getattr(_inline, "send", None) or _send
    return lambda n: send(seq, n)


class _Throttled:
    """Sums a worker's progress and puts (seq, bytes) on the queue at most every interval."""

    def __init__(self, q):
        self.q, self.pending, self.last = q, {}, time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, seq: int, n: int) -> None:
        with self.lock:
            self.pending[seq] = self.pending.get(seq, 0) + n
            now = time.monotonic()
            if now - self.last < PROGRESS_INTERVAL:
                return
            self.last, sent, self.pending = now, self.pending, {}
        for s, k in sent.items():
            self.q.put((s, k))


@contextmanager
def progress_to(q):
    """Within the block, this thread's tasks report progress by putting (seq, bytes) on `q`
    (anything with put()), throttled as a worker's are: how a Dask worker sends it."""
    _inline.send = _Throttled(q)
    try:
        yield
    finally:
        _inline.send = None


def _init_worker(q, init: Callable | None, initargs: tuple, threads_per_job: int) -> None:
    global _send
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the caller decides when we stop
    for signum in (signal.SIGTERM, signal.SIGHUP):      # not the command line's handlers
        signal.signal(signum, signal.SIG_DFL)
    threads.limit(threads_per_job)
    _send = _Throttled(q)
    if init is not None:
        init(*initargs)


# -- caller side -------------------------------------------------------------------------------

def _context():
    """fork: a worker starts in milliseconds with the caller's modules, and a caller's script
    needs no `if __name__ == "__main__"` guard (forkserver and spawn import the main module
    again). Workers touch none of the caller's threads' locks: they only code bytes."""
    return multiprocessing.get_context("fork")


@dataclass
class _Tracker:
    """Bytes counted so far per task, so that progress never passes a task's size."""
    progress: object
    tasks: dict = field(default_factory=dict)      # seq -> [task, bytes counted]

    def add(self, seq: int, n: int) -> None:
        hit = self.tasks.get(seq)
        if hit is None:
            return
        task, done = hit
        n = min(n, task.size - done)
        if n > 0:
            hit[1] += n
            self.progress.advance(nbytes=n, content_class=task.content_class)

    def finish(self, seq: int) -> None:
        hit = self.tasks.pop(seq, None)
        if hit is not None and hit[0].size > hit[1]:
            self.progress.advance(nbytes=hit[0].size - hit[1], content_class=hit[0].content_class)


class Pool:
    """`map(tasks)` runs tasks on `jobs` workers and yields (task, done future) in order.
    `init(*initargs)` runs once in each worker process before its first task (to load the
    models there once), and in the caller before a task runs there."""

    def __init__(self, jobs: int | None = None, *, engine: str | None = None,
                 init: Callable | None = None, initargs: tuple = (), progress=None,
                 in_flight: int | None = None):
        self.jobs = check_jobs(jobs)
        self.engine = engine or ("inline" if self.jobs == 1 else "process")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}")
        self.init, self.initargs = init, initargs
        self.in_flight = in_flight or 2 * self.jobs + 1
        self.tracker = _Tracker(progress or NoProgress())
        self.executor = None
        self.queue = None
        self._inline_ready = False
        self.window: deque = deque()      # (seq, task, future) submitted, not yet handed back
        self.share = max(1, default_jobs() // self.jobs)     # a worker's thread budget

    def _init_here(self) -> None:
        if not self._inline_ready:
            if self.init is not None:
                self.init(*self.initargs)
            self._inline_ready = True

    # engines ----------------------------------------------------------------------------------

    def _start(self, engine: str) -> None:
        if engine == "process":
            ctx = _context()
            self.queue = ctx.Queue()
            self.executor = cf.ProcessPoolExecutor(
                self.jobs, mp_context=ctx, initializer=_init_worker,
                initargs=(self.queue, self.init, self.initargs, self.share))
        elif engine == "thread":                   # threads share the caller's models
            self.queue = queue.Queue()
            throttled = _Throttled(self.queue)
            self._init_here()
            share = self.share

            def init_thread():
                _inline.send = throttled
                threads.for_this_thread(share)
            self.executor = cf.ThreadPoolExecutor(self.jobs, initializer=init_thread)

    def _submit_inline(self, task: Task, seq: int) -> cf.Future:
        self._init_here()
        fut = cf.Future()
        _inline.send = self.tracker.add
        try:
            with threads.limited(min(self.jobs, default_jobs())):
                fut.set_result(task.fn(*task.args))
        except Exception as exc:  # noqa: BLE001 - handed back like a worker's failure
            fut.set_exception(exc)
        finally:
            _inline.send = None
        return fut

    def _submit(self, task: Task, seq: int) -> cf.Future:
        self.tracker.tasks[seq] = [task, 0]
        if task.error is not None:
            fut = cf.Future()
            fut.set_exception(task.error)
            return fut
        if self.executor is None:
            return self._submit_inline(task, seq)
        try:
            return self.executor.submit(task.fn, *task.args)
        except BrokenProcessPool as exc:       # a worker died before this task was handed out
            raise WorkerDied(str(exc).split(",")[0]) from None

    def _wait(self, futures: list) -> set:
        """The futures done now, waiting at most POLL for one."""
        done, _ = cf.wait(futures, timeout=POLL, return_when=cf.FIRST_COMPLETED)
        return done

    def _drain(self) -> None:
        if self.queue is None:
            return
        while True:
            try:
                seq, n = self.queue.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            self.tracker.add(seq, n)

    # the one loop -----------------------------------------------------------------------------

    def map(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, cf.Future]]:
        it = iter(tasks)
        window: deque = deque()
        self.window = window
        seq = 0
        held = None             # the next task, waiting for room in the window
        largest = window_bytes = 0
        try:
            submitted = 0
            while True:
                while True:
                    task, held = (held, None) if held is not None else (next(it, None), None)
                    if task is None:
                        break
                    largest = max(largest, task.size)
                    if len(window) >= self.in_flight and (
                            len(window) >= SMALL_TASKS * self.in_flight
                            or window_bytes + task.size > self.in_flight * largest):
                        held = task
                        break
                    submitted += task.size
                    window_bytes += task.size
                    if (self.executor is None and self.engine != "inline"
                            and submitted >= PARALLEL_MIN_BYTES):
                        after = next(it, None)          # a last task alone is coded right here
                        if after is not None:
                            self._start(self.engine)
                            it = itertools.chain([after], it)
                    window.append((seq, task, self._submit(task, seq)))
                    seq += 1
                if not window:
                    return
                head_seq, head, fut = window[0]
                while not fut.done():
                    # only the unfinished: a finished one would end every wait at once and
                    # spin this loop on a core the workers need
                    done = self._wait([f for _, _, f in window if not f.done()])
                    self._drain()
                    for s, _, f in window:
                        if f in done:
                            self.tracker.finish(s)
                self._drain()
                if (isinstance(fut, cf.Future)
                        and isinstance(fut.exception(), BrokenProcessPool)):
                    raise WorkerDied(str(fut.exception()).split(".")[0]) from None
                window.popleft()
                window_bytes -= head.size
                self.tracker.finish(head_seq)
                yield head, fut
        finally:
            self.close(cancel=bool(window))

    def close(self, cancel: bool = False) -> None:
        """Stop the workers; with cancel (an interrupt, an error), kill them mid-task."""
        ex, self.executor = self.executor, None
        if ex is None:
            return
        if cancel:
            procs = getattr(ex, "_processes", None) or {}
            for p in list(procs.values()):
                try:
                    p.kill()
                except Exception:  # noqa: BLE001 - already gone
                    pass
            # A chunk half-written into the call queue's pipe would never drain now that its
            # readers are dead (this process holds the read end too): joining the queue's
            # feeder thread, at shutdown or at exit, would hang. Abandon it instead.
            call_queue = getattr(ex, "_call_queue", None)
            if call_queue is not None:
                call_queue.cancel_join_thread()
            ex.shutdown(wait=False, cancel_futures=True)
        else:
            ex.shutdown(wait=True)
        if self.queue is not None and hasattr(self.queue, "close"):
            self.queue.close()
            self.queue.join_thread()
        self.queue = None
