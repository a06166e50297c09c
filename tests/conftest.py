"""Shared fixtures: build small file trees and compare them after a round trip."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The bbx command of the interpreter running the tests (the venv it is installed in), or, where
# none is installed, this checkout's package run as `python -m archiver`. BBX_ENV puts this
# checkout first on the path, so a worktree tests its own code through the installed command.
BBX = Path(sys.executable).parent / "bbx"
BBX_CMD = [str(BBX)] if BBX.exists() else [sys.executable, "-m", "archiver"]
BBX_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}


def snapshot(root: Path) -> dict[bytes, tuple]:
    """Everything bbx promises to restore, keyed by relative path (bytes)."""
    out = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                with open(full, "rb") as f:
                    out[rel] = ("file", f.read(), stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return out


def write_tree(root: Path, spec: dict) -> None:
    """spec: {b"rel/path": bytes (file) | None (dir) | ("link", b"target")}; fixed mtimes."""
    base = os.fsencode(root)
    os.makedirs(base, exist_ok=True)
    for rel, what in sorted(spec.items()):
        full = os.path.join(base, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if what is None:
            os.makedirs(full, exist_ok=True)
        elif isinstance(what, tuple):
            os.symlink(what[1], full)
        else:
            with open(full, "wb") as f:
                f.write(what)
    t = 1_600_000_000_000_000_000
    for dirpath, dirnames, filenames in os.walk(base, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), ns=(t, t + 17), follow_symlinks=False)


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write_tree(root, {
        b"a.txt": b"hello\n" * 100,
        b"empty": b"",
        b"sub/deeper/b.bin": os.urandom(5000),
        b"sub/empty-dir": None,
        b"sub/link": ("link", b"../a.txt"),
        b"odd \xff name\n.txt": b"odd",
    })
    os.chmod(root / "a.txt", 0o600)
    return root
