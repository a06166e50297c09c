"""Create-side faults: inputs replaced by FIFOs or symlinks after the scan, files changing
while read, a full disk, a symlinked output, and signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

import archiver
from archiver.container import writer
from archiver.errors import DiskFull
from conftest import BBX, write_tree


def _swap_after_scan(monkeypatch, action):
    real = writer.scan

    def scan_then_act(*args, **kwargs):
        items = real(*args, **kwargs)
        action()
        return items
    monkeypatch.setattr(writer, "scan", scan_then_act)


def test_file_replaced_by_fifo_or_symlink_after_the_scan_is_skipped(tmp_path, monkeypatch):
    write_tree(tmp_path / "src", {b"a": b"aaa", b"fifo": b"was a file", b"link": b"was a file",
                                  b"z": b"zzz"})
    secret = tmp_path / "secret"
    secret.write_bytes(b"never archived")

    def swap():
        os.unlink(tmp_path / "src/fifo")
        os.mkfifo(tmp_path / "src/fifo")          # opening it for reading would block
        os.unlink(tmp_path / "src/link")
        os.symlink(secret, tmp_path / "src/link")
    _swap_after_scan(monkeypatch, swap)
    signal.alarm(60)                              # a hang fails the test instead of the run
    try:
        report = archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], codecs=["zstd"])
    finally:
        signal.alarm(0)
    assert len(report.warnings) == 2 and all("skipped" in w for w in report.warnings)
    with archiver.open(tmp_path / "t.bbx") as a:
        assert sorted(e.name for e in a.entries) == ["src", "src/a", "src/z"]
        assert a.verify().ok


def test_file_changing_while_read_is_archived_as_read_with_a_warning(tmp_path, monkeypatch):
    write_tree(tmp_path / "src", {b"grows": b"x" * 1000})
    real = writer.open_input

    def open_and_grow(item):
        f = real(item)
        with open(item.source, "ab") as g:     # another process appends as bbx starts reading
            g.write(b"y" * 500)
        return f
    monkeypatch.setattr(writer, "open_input", open_and_grow)
    report = archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], codecs=["zstd"])
    assert [w for w in report.warnings if "changed while it was read" in w]
    with archiver.open(tmp_path / "t.bbx") as a:
        assert a.verify().ok


def test_force_writes_through_a_symlinked_output_like_cp_and_tar(tmp_path):
    write_tree(tmp_path / "src", {b"a": b"content"})
    (tmp_path / "real.bbx").write_bytes(b"old")
    (tmp_path / "link.bbx").symlink_to("real.bbx")
    archiver.create(tmp_path / "link.bbx", [tmp_path / "src"], force=True, codecs=["zstd"])
    assert (tmp_path / "link.bbx").is_symlink()
    with archiver.open(tmp_path / "real.bbx") as a:
        assert [e.name for e in a.entries] == ["src", "src/a"]


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_during_create_is_one_error_and_leaves_nothing(tmp_path, small_disk):
    write_tree(tmp_path / "src", {b"big": os.urandom(1 << 20)})
    with pytest.raises(DiskFull):
        archiver.create(small_disk / "t.bbx", [tmp_path / "src"], codecs=["zstd"])
    assert os.listdir(small_disk) == []
    r = subprocess.run([str(BBX), "create", str(tmp_path / "src"), "-o", str(small_disk / "t.bbx")],
                       capture_output=True, text=True)
    assert r.returncode == DiskFull.exit_code
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("bbx: ") and "no space" in r.stderr
    assert os.listdir(small_disk) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_create_removes_the_temporary_archive(tmp_path, signum):
    # enough incompressible data at zstd level 22 to keep bbx busy for a while
    write_tree(tmp_path / "src", {b"f%d" % i: os.urandom(12 << 20) for i in range(4)})
    p = subprocess.Popen([str(BBX), "create", str(tmp_path / "src"), "-o", str(tmp_path / "t.bbx"),
                          "--level", "22", "-q"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]:
        assert p.poll() is None and time.monotonic() < deadline, "create ended too early"
        time.sleep(0.05)
    time.sleep(1.5)                    # workers busy coding chunks
    assert p.poll() is None
    p.send_signal(signum)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 128 + signum
    assert err == "bbx: interrupted\n"
    assert sorted(os.listdir(tmp_path)) == ["src"]
    time.sleep(1)                      # no worker process goes on coding after bbx ended
    assert not _processes_mentioning(str(tmp_path / "t.bbx"))


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    with open(f"/proc/{pid}/stat") as g:
                        if g.read().split(") ")[-1][0] != "Z":      # zombies are done
                            found.append(int(pid))
        except OSError:
            continue
    return found
