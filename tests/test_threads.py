"""One job is one core: pool workers (and the caller coding a chunk itself) run with a thread
budget of one, the text coder then starts no helper thread, BLAS/OpenMP pools are capped;
payloads do not depend on the budget."""
from __future__ import annotations

import os
import random

import pytest

from archiver import threads
from archiver.container.pool import PARALLEL_MIN_BYTES, Pool, Task, default_jobs


def _limits() -> tuple[int, int, list[int]]:
    from threadpoolctl import threadpool_info
    return os.getpid(), threads.budget(), [lib["num_threads"] for lib in threadpool_info()]


def test_every_worker_runs_on_its_share_of_the_cores():
    before = threads.budget()
    jobs = 2 * default_jobs()                    # more jobs than cores: one thread each
    tasks = [Task(_limits, (), size=PARALLEL_MIN_BYTES) for _ in range(4)]
    seen = [fut.result() for _, fut in Pool(jobs, engine="process").map(tasks)]
    workers = [s for s in seen if s[0] != os.getpid()]
    assert workers                                                # workers did run
    for _, budget, native in workers:
        assert budget == 1
        assert all(n == 1 for n in native)
    assert threads.budget() == before


def test_one_job_codes_in_the_caller_on_one_thread_and_gives_the_budget_back():
    before = threads.budget()
    (pid, budget, native), = [f.result() for _, f in Pool(1).map([Task(_limits, ())])]
    assert pid == os.getpid()
    assert budget == 1 and all(n == 1 for n in native)
    assert threads.budget() == before


def _coder():
    from archiver.codecs.text import MIXED, TEXT
    try:
        return TEXT._model()[0][MIXED]
    except Exception as exc:  # noqa: BLE001 - weights missing or damaged here
        pytest.skip(f"text weights not usable: {exc}")


@pytest.mark.parametrize("budget", [1, 2])
def test_text_coder_threads_follow_the_budget_and_the_payload_does_not(budget):
    from cython_ans import Message
    coder = _coder()
    rng = random.Random(1)
    words = b"a chunk coded on one core gives the same message as on two".split()
    data = b" ".join(rng.choice(words) for _ in range(20_000))      # ~80 blocks, ~6 ticks back
    baseline = len(os.listdir("/proc/self/task"))
    most = []

    def tick(n):
        most.append(len(os.listdir("/proc/self/task")))

    msgs = []
    for threads_ in (budget, 1):
        msg = Message(seed=0)
        coder.encode(data, msg, tick, threads=threads_)
        msgs.append(msg.to_bytes())
        if threads_ == budget:
            assert max(most) == baseline + (budget - 1)      # the helper, only when allowed
    assert msgs[0] == msgs[1]


@pytest.mark.parametrize("budget", [1, 2])
def test_two_segment_payloads_decode_on_the_budget(budget, monkeypatch):
    """Variants 0-2 cut larger inputs in two segments, coded on two threads when allowed."""
    import threading
    from archiver.codecs import text
    _coder()                                                      # skips without weights
    coder = text.TEXT._model()[0][text.BLEND]
    monkeypatch.setattr(text, "SEGMENT_MIN", 8 << 10)
    rng = random.Random(2)
    words = b"old archives decode on one core in a pool worker".split()
    data = b" ".join(rng.choice(words) for _ in range(8000))
    payload = text.TEXT._encode_variant(coder, text.BLEND, data)
    assert payload[0] >> 4 == 1                                   # two segments
    callers = set()

    def progress(n):
        callers.add(threading.current_thread())

    with threads.limited(budget):
        out = text.TEXT.decode(payload, len(data), progress)
    assert out == data
    assert (callers == {threading.current_thread()}) == (budget == 1)
