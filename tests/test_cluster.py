"""Chunks coded on a Dask cluster (a LocalCluster of 2 worker processes): the archive is the
same byte for byte as a local one, whether workers are sent the bytes or read a shared path,
and when a worker is killed in the middle of the run."""
from __future__ import annotations

import hashlib
import logging
import os
import random
import signal

import pytest

import archiver
from archiver.errors import ClusterError
from conftest import snapshot, write_tree

distributed = pytest.importorskip("distributed")

OPTIONS = dict(level=19, chunk_size=256 << 10, codecs=["zstd"])


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    rng = random.Random(11)
    words = [bytes(rng.choice(b"etaoinshrdlu") for _ in range(rng.randrange(2, 10))) for _ in range(2000)]
    spec = {f"t{i}.txt".encode(): b" ".join(rng.choice(words) for _ in range(60_000))
            for i in range(4)}
    spec[b"noise.bin"] = rng.randbytes(200_000)
    write_tree(root / "src", spec)
    archiver.create(root / "local.bbx", [root / "src"], jobs=1, **OPTIONS)
    return root


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("shared", [False, True])
def test_cluster_archive_identical_to_local(client, tree, tmp_path, shared):
    out = tmp_path / "dask.bbx"
    archiver.create(out, [tree / "src"], scheduler=client, shared=shared, **OPTIONS)
    assert _digest(out) == _digest(tree / "local.bbx")
    with archiver.open(out) as a:
        assert len(a.chunks) >= 6          # text filled to the byte: 6 text chunks
        a.extract(tmp_path / "out")
    assert snapshot(tmp_path / "out" / "src") == snapshot(tree / "src")


def test_worker_killed_mid_run_is_retried_and_archive_still_identical(client, tree, tmp_path):
    killed = []

    class KillAWorker:
        """On the first chunk done, kill a worker that is coding one now."""
        def start(self, files, total, by_class=None): ...

        def advance(self, files=0, nbytes=0, content_class=None):
            if nbytes and not killed:
                busy = [w for w, keys in client.processing().items() if keys]
                pids = client.run(os.getpid)
                victim = (busy or list(pids))[0]
                os.kill(pids[victim], signal.SIGKILL)
                killed.append(victim)

    out = tmp_path / "dask.bbx"
    archiver.create(out, [tree / "src"], scheduler=client, progress=KillAWorker(), **OPTIONS)
    assert killed
    assert _digest(out) == _digest(tree / "local.bbx")
    client.wait_for_workers(2, timeout=60)        # the nanny restarts it for the next test


def _native_threads() -> list[int]:
    from threadpoolctl import threadpool_info
    return [lib["num_threads"] for lib in threadpool_info()]


def test_codec_progress_streams_back_from_the_workers(client, tmp_path):
    from archiver.codecs.text import TEXT
    try:
        TEXT.model_hashes()
    except Exception as exc:  # noqa: BLE001 - weights missing or damaged here
        pytest.skip(f"text weights not usable: {exc}")
    rng = random.Random(3)
    words = b"the quick brown fox jumps over lazy dog a pool codes chunks in order".split()
    text = b"\n".join(b" ".join(rng.choice(words) for _ in range(12)) for _ in range(4000))
    write_tree(tmp_path / "src", {b"a.txt": text})

    class Record:
        calls = 0

        def start(self, files, total, by_class=None): ...

        def advance(self, files=0, nbytes=0, content_class=None):
            Record.calls += bool(nbytes)

    archiver.create(tmp_path / "x.bbx", [tmp_path / "src"], scheduler=client,
                    codecs=["zstd", "text"], progress=Record())
    with archiver.open(tmp_path / "x.bbx") as a:
        assert [c.codec_id for c in a.chunks] == [TEXT.codec_id]
    # one chunk: without the workers' events the bar would move once, when it is done
    assert Record.calls > 1
    # each worker thread is one job: native thread pools capped to one there
    assert all(set(n) <= {1} for n in client.run(_native_threads).values())


def test_unreachable_scheduler_is_one_clear_error(tree, tmp_path):
    with pytest.raises(ClusterError, match="127.0.0.1:9"):
        archiver.create(tmp_path / "x.bbx", [tree / "src"], scheduler="tcp://127.0.0.1:9",
                        **OPTIONS)
    assert not (tmp_path / "x.bbx").exists()
