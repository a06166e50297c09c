"""The `bbx` command as a user at a terminal or in a shell pipeline sees it, through a real
subprocess: piped `list`, member wildcards, archives on stdin/stdout, presets, help, and, in a
pseudo-terminal, the table, the progress display and Ctrl-C."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from archiver import errors
from conftest import BBX_CMD, BBX_ENV, snapshot, write_tree

ANSI = re.compile(r"\x1b\[")
BOX = re.compile("[\u2500-\u257f]")
LONG = "a-directory-with-a-rather-long-name/and-another-one-below-it/" + "n" * 60 + ".txt"


def bbx(*args, cwd, stdin=None, text=True):
    return subprocess.run([*BBX_CMD, *args], cwd=cwd, capture_output=True, text=text,
                          timeout=300, env=BBX_ENV, input=stdin)


def in_pty(args, cwd, *, until=None, then=None, delay=0.0, timeout=120.0):
    """Run bbx with stdin, stdout and stderr on a 120-column pseudo-terminal. When `until`
    (a regex) shows up in the output, wait `delay` seconds and write `then` to the terminal
    (b"\\x03" is Ctrl-C).
    Returns (exit code, output without colour codes, seconds from writing `then` to the
    exit)."""
    pid, fd = pty.fork()
    if pid == 0:                                     # the child: bbx on the terminal
        os.chdir(cwd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvpe(BBX_CMD[0], [*BBX_CMD, *args], {**BBX_ENV, "TERM": "xterm-256color"})
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    out, sent, deadline = b"", None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:                          # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        if until and sent is None and re.search(until, out.decode("utf-8", "replace")):
            time.sleep(delay)
            os.write(fd, then)
            sent = time.monotonic()
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    after = None if sent is None else time.monotonic() - sent
    os.close(fd)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode("utf-8", "replace"))  # colours
    return os.waitstatus_to_exitcode(status), text, after


@pytest.fixture
def archive(sample_tree, tmp_path):
    write_tree(sample_tree / "deep", {LONG.encode(): b"long name\n",
                                      b"photos/2019/x.png": b"not really a png\n",
                                      b"photos/2020/y.png": b"nor this\n"})
    r = bbx("create", str(sample_tree), "-o", "a.bbx", "-2", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path / "a.bbx"


def prose(n: int, seed: int = 5) -> bytes:
    """English-looking text without long repeats (words drawn at random)."""
    words = ("the of and to in was that he she it with for as his her had on at by not be "
             "letter house garden summer village window mother father sister morning evening "
             "walked answered quietly remembered certainly afterwards whole little great").split()
    rng = random.Random(seed)
    out, size = [], 0
    while size < n:
        out.append(" ".join(rng.choices(words, k=13)).capitalize() + ".\n")
        size += len(out[-1])
    return "".join(out).encode()[:n]


# -- list in a pipe --------------------------------------------------------------------------

def test_piped_list_is_one_entry_per_line_and_greppable(archive, tmp_path):
    r = bbx("list", str(archive), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert f"src/deep/{LONG}" in lines                      # whole, on one line: grep finds it
    assert "src/sub/" in lines and "src/sub/link" in lines  # directories end in /, like tar tf
    assert not ANSI.search(r.stdout) and not BOX.search(r.stdout)
    listing = json.loads(bbx("list", str(archive), "--json", cwd=tmp_path).stdout)
    assert len(lines) == len(listing["entries"])


def test_piped_long_list_has_columns_and_marks_shares_of_solid_chunks(archive, tmp_path):
    lines = bbx("list", "-l", str(archive), cwd=tmp_path).stdout.splitlines()
    rows = {line.split("  ")[-1]: line.split() for line in lines}
    size, compressed, codec = rows["src/a.txt"][:3]
    assert size == "600" and compressed.startswith("~")       # coded with other files
    assert rows["src/sub/link -> ../a.txt"][2] == "symlink"
    assert rows["src/sub/"][2] == "dir"
    assert not BOX.search("\n".join(lines))
    # a file alone in its chunk: its compressed size is its own, no share mark
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "f.bin").write_bytes(os.urandom(3000))
    bbx("create", "one", "-o", "one.bbx", "-q", cwd=tmp_path)
    line = bbx("list", "-l", "one.bbx", cwd=tmp_path).stdout.splitlines()[-1]
    assert line.split()[1].isdigit() and line.endswith("one/f.bin")
    rows = json.loads(bbx("list", "one.bbx", "--json", cwd=tmp_path).stdout)["entries"]
    assert [r["shared"] for r in rows if r["type"] == "file"] == [False]


def test_list_in_a_terminal_is_a_table(archive, tmp_path):
    code, out, _ = in_pty(["list", str(archive)], tmp_path)
    assert code == 0
    assert re.search(r"name\s+size\s+compressed\s+codec\s+ratio", out)
    assert "~" in out and "share of a solid chunk" in out


def test_create_in_a_pipe_prints_no_progress(sample_tree, tmp_path):
    r = bbx("create", str(sample_tree), "-o", "p.bbx", "-2", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    first, header, *rows = r.stdout.splitlines()
    assert first.startswith("p.bbx: ") and " s (" in first and "MB/s" in first  # wall time
    assert header.split() == ["codec", "files", "chunks", "input", "output", "ratio",
                              "coding", "speed/job"]
    assert rows[-1].startswith("total (with index)") and not BOX.search(r.stdout)


# -- members ---------------------------------------------------------------------------------

@pytest.mark.parametrize("patterns,expected", [
    (["*.png"], {"src/deep/photos/2019/x.png", "src/deep/photos/2020/y.png"}),
    (["src/deep/photos/2019/"], {"src/deep/photos/2019", "src/deep/photos/2019/x.png"}),
    (["./src/a.txt"], {"src/a.txt"}),
    (["src/deep/photos/20?0"], {"src/deep/photos/2020", "src/deep/photos/2020/y.png"}),
    (["src/sub/*/b.bin", "*.txt"], {"src/sub/deeper/b.bin", "src/a.txt", f"src/deep/{LONG}",
                                     "src/odd \\xff name\\x0a.txt"}),
])
def test_members_take_wildcards_and_dot_slash(archive, tmp_path, patterns, expected):
    listed = bbx("list", str(archive), *patterns, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert {e["path"] for e in json.loads(listed.stdout)["entries"]} == expected
    r = bbx("extract", str(archive), *patterns, "-C", "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = {os.fsencode(os.path.relpath(os.path.join(d, n), tmp_path / "out"))
           for d, ds, fs in os.walk(tmp_path / "out") for n in fs}
    files = [e for e in json.loads(listed.stdout)["entries"] if e["type"] == "file"]
    assert len(got) == len(files)
    assert {os.fsencode(e["path"]) for e in files if "\\" not in e["path"]} <= got


def test_a_pattern_matching_nothing_is_an_error(archive, tmp_path):
    for cmd in ("list", "extract"):
        r = bbx(cmd, str(archive), "*.jpg", cwd=tmp_path)
        assert r.returncode == errors.MemberNotFound.exit_code and "'*.jpg'" in r.stderr


# -- streams ---------------------------------------------------------------------------------

def test_create_to_stdout_and_extract_from_stdin(sample_tree, tmp_path):
    r = bbx("create", "-o", "-", str(sample_tree), "-2", cwd=tmp_path, text=False)
    assert r.returncode == 0 and r.stdout[:4] == b"\x89BBX"
    assert b"<stdout>" in r.stderr                          # the summary goes to stderr
    bbx("create", str(sample_tree), "-o", "file.bbx", "-2", "-q", cwd=tmp_path)
    assert r.stdout == (tmp_path / "file.bbx").read_bytes()  # the same bytes as -o FILE
    x = bbx("extract", "-", "-C", "out", "-q", cwd=tmp_path, stdin=r.stdout, text=False)
    assert x.returncode == 0, x.stderr
    assert snapshot(tmp_path / "out" / "src") == snapshot(sample_tree)
    listed = bbx("list", "-", cwd=tmp_path, stdin=r.stdout, text=False).stdout.decode()
    assert "src/a.txt" in listed.splitlines()
    v = bbx("verify", "-", cwd=tmp_path, stdin=r.stdout, text=False)
    assert v.returncode == 0


def test_damaged_stream_is_refused_like_a_damaged_file(sample_tree, tmp_path):
    data = bbx("create", "-o", "-", str(sample_tree), "-q", cwd=tmp_path, text=False).stdout
    x = bbx("extract", "-", "-C", "out", cwd=tmp_path, stdin=data[:-30], text=False)
    assert x.returncode == errors.CorruptArchive.exit_code
    assert x.stderr.decode().startswith("bbx: ")


def test_archives_never_go_to_or_come_from_a_terminal(sample_tree, tmp_path):
    code, out, _ = in_pty(["create", "-o", "-", str(sample_tree)], tmp_path)
    assert code == 2 and "bbx: refusing to write an archive to a terminal" in out
    code, out, _ = in_pty(["extract", "-"], tmp_path)
    assert code == 2 and "bbx: refusing to read an archive from a terminal" in out


# -- presets ---------------------------------------------------------------------------------

def test_presets_choose_codecs_and_conflicts_are_usage_errors(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "prose.txt").write_bytes(prose(12_000))
    sizes = {}
    for flag in ("--fast", "-6", "--best"):
        out = f"{flag.strip('-')}.bbx"
        r = bbx("create", "t", "-o", out, flag, "-q", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        listing = json.loads(bbx("list", out, "--json", cwd=tmp_path).stdout)
        sizes[flag] = os.path.getsize(tmp_path / out)
        codec = listing["entries"][-1]["codec"]
        if flag == "--best":
            assert codec == "text" and listing["model_hashes"]
        else:
            assert codec == "zstd" and listing["model_hashes"] == []
    assert sizes["--best"] < sizes["-6"] < sizes["--fast"]
    r = bbx("create", "t", "-o", "x.bbx", "-3", "--best", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("bbx: give one preset")
    assert not (tmp_path / "x.bbx").exists()


# -- help ------------------------------------------------------------------------------------

def test_plain_bbx_prints_help_and_succeeds(tmp_path):
    r = bbx(cwd=tmp_path)
    assert r.returncode == 0 and "Usage: bbx" in r.stdout and "create" in r.stdout
    assert bbx("-V", cwd=tmp_path).stdout.startswith("bbx ")
    for cmd in ("create", "extract", "list", "verify"):
        text = bbx(cmd, "--help", cwd=tmp_path).stdout
        assert "Usage: bbx " + cmd in text
        assert not re.search(r"<(bool|str|int|list\[str\])", text), text


# -- a terminal: progress and Ctrl-C ---------------------------------------------------------

def test_ctrl_c_during_model_coding_stops_within_seconds(tmp_path):
    """-8 runs the text model on the whole chunk: minutes of work for 8 MB. Ctrl-C once the
    progress display is up must end it promptly with one line and exit 130, leaving no
    temporary file behind."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "big.txt").write_bytes(prose(8 << 20))
    code, out, after = in_pty(["create", "t", "-o", "t.bbx", "-8", "--level", "1"], tmp_path,
                              until=r"archiving.*MB/s", then=b"\x03", delay=3, timeout=240)
    assert after is not None, out                            # the progress display was shown
    assert code == 130, out
    assert "bbx: interrupted" in out and "Traceback" not in out
    assert after < 10, after                                 # not minutes: the chunk was cut
    assert sorted(os.listdir(tmp_path)) == ["t"]             # no archive, no temporary file


def test_a_reader_that_stops_early_ends_list_quietly(tmp_path):
    """`bbx list big.bbx | head -1`: no traceback, the exit code of a process SIGPIPE ended."""
    write_tree(tmp_path / "many", {b"d%04d/%s.txt" % (i, b"x" * 80): b"" for i in range(1500)})
    assert bbx("create", "many", "-o", "many.bbx", "-1", "-q", cwd=tmp_path).returncode == 0
    p = subprocess.Popen([*BBX_CMD, "list", "many.bbx"], cwd=tmp_path, env=BBX_ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"many/\n"
    p.stdout.close()                                  # more than a pipe buffer is still unread
    assert p.wait(timeout=120) == 128 + signal.SIGPIPE
    assert p.stderr.read() == b""
