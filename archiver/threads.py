"""THE thread budget: how many threads a codec may keep busy for the chunk it is coding. The
worker pool (archiver/container/pool.py) sets it to each job's share of the cores: in a
worker process max(1, cores // jobs) (`limit`), for a task the caller codes itself
min(jobs, cores) (`limited`, this thread only), so that -j1 is one core (as zstd -T1, xz -T1)
and N jobs never oversubscribe the cores. Codecs that can start threads ask `budget()`: the
text coder's helper thread, Lepton's threads (archiver/codecs/jpeg.py); `limit` and `limited`
also cap the native thread pools of the libraries loaded (BLAS, OpenMP) through
threadpoolctl. Outside any pool the budget is 1. Payloads never depend on it: it trades
speed only."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

DEFAULT = 1          # a process no pool has set: one thread
_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_budget = DEFAULT
_local = threading.local()      # a budget for this thread only (a task coded in the caller)


def budget() -> int:
    """Threads the codec running in this thread may use (>= 1)."""
    return getattr(_local, "budget", None) or _budget


def limit(n: int) -> None:
    """Let the codecs here use at most n threads from now on: this process's budget, the
    environment of the libraries loaded later, and the thread pools of those loaded now."""
    global _budget
    _budget = max(1, n)
    for var in _ENV:
        os.environ[var] = str(_budget)
    _limit_native(_budget)


def for_this_thread(n: int | None) -> None:
    """This thread's budget from now on (None: the process's again); native pools untouched."""
    _local.budget = None if n is None else max(1, n)


@contextmanager
def limited(n: int):
    """A budget of n in this thread for a block, native pools capped to n meanwhile; then
    both as they were (a caller's own thread pools too)."""
    before = getattr(_local, "budget", None)
    for_this_thread(n)
    restore = _limit_native(max(1, n))
    try:
        yield
    finally:
        _local.budget = before
        if restore is not None:
            restore.restore_original_limits()


def _limit_native(n: int):
    """Caps BLAS and OpenMP pools already loaded; returns the threadpoolctl handle (None when
    threadpoolctl is missing: then only the environment applies, to libraries loaded later)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n)
