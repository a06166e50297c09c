"""THE thread budget of this process: how many threads the codecs may run for the chunk it
is coding. The worker pool (archiver/container/pool.py) sets it in each worker, and in the
caller when it codes a chunk itself, to that worker's share of `--jobs`: one, so that N jobs
use N cores (as zstd -T1 and xz -T1 mean one core). A codec that can start threads asks
`budget()` (the text coder's helper thread; zstd and Lepton already run on one thread), and
`limit()` caps the native thread pools of the libraries loaded here (BLAS, OpenMP) through
threadpoolctl. Payloads never depend on the budget: it trades speed only."""
from __future__ import annotations

import os
from contextlib import contextmanager

DEFAULT = 2          # a process no pool has limited: the codecs' own defaults
_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_budget = DEFAULT


def budget() -> int:
    """Threads one chunk's codec may use here (>= 1)."""
    return _budget


def limit(n: int) -> None:
    """Let the codecs here use at most n threads from now on: this process's budget, the
    environment of the libraries loaded later, and the thread pools of those loaded now."""
    global _budget
    _budget = max(1, n)
    for var in _ENV:
        os.environ[var] = str(_budget)
    _limit_native(_budget)


@contextmanager
def limited(n: int):
    """limit(n) for a block, then the budget as it was (a caller's own thread pools too)."""
    global _budget
    before = _budget
    _budget = max(1, n)
    restore = _limit_native(_budget)
    try:
        yield
    finally:
        _budget = before
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
