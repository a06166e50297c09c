"""The installed `bbx` command, run as a real subprocess: outputs, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from archiver import errors
from conftest import BBX_CMD, BBX_ENV, snapshot


def bbx(*args, cwd=None, module=False):
    cmd = [sys.executable, "-m", "archiver", *args] if module else [*BBX_CMD, *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env=BBX_ENV)


def assert_one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith("bbx: ") for line in lines), r.stderr
    assert "Traceback" not in r.stderr


def test_create_list_verify_extract(sample_tree, tmp_path):
    r = bbx("create", str(sample_tree), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "codec" in r.stdout and "total (with index)" in r.stdout    # the closing table
    assert (tmp_path / "src.bbx").exists()

    r = bbx("list", "src.bbx", "--json", cwd=tmp_path)
    listing = json.loads(r.stdout)
    rows = {e["path"]: e for e in listing["entries"]}
    assert rows["src/a.txt"]["size"] == 600 and rows["src/a.txt"]["codec"] not in ("", "store")
    assert rows["src/sub/link"]["link"] == "../a.txt" and rows["src/sub"]["type"] == "dir"

    r = bbx("list", "src.bbx", cwd=tmp_path)
    assert "src/sub/deeper/b.bin" in r.stdout and r.returncode == 0

    for args in (["--quick"], []):
        r = bbx("verify", "src.bbx", "--json", *args, cwd=tmp_path)
        assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True

    r = bbx("extract", "src.bbx", "-C", "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert snapshot(tmp_path / "out" / "src") == snapshot(sample_tree)

    r = bbx("extract", "src.bbx", "-C", "out", cwd=tmp_path)
    assert_one_line_error(r, errors.WouldOverwrite.exit_code)
    r = bbx("extract", "src.bbx", "src/a.txt", "-C", "out", "--force", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_output_name_level_exclude_and_several_inputs(sample_tree, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("another input\n")
    r = bbx("create", str(sample_tree), str(other), "-o", "x.bbx", "--level", "3",
            "--exclude", "*.bin", "-q", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    paths = {e["path"] for e in json.loads(bbx("list", "x.bbx", "--json", cwd=tmp_path).stdout)["entries"]}
    assert "other.txt" in paths and "src/a.txt" in paths and "src/sub/deeper/b.bin" not in paths
    assert_one_line_error(bbx("create", str(sample_tree), "-o", "x.bbx", cwd=tmp_path),
                          errors.WouldOverwrite.exit_code)


def test_damaged_archive_extracts_the_rest_with_nonzero_exit(sample_tree, tmp_path):
    bbx("create", str(sample_tree), "-q", cwd=tmp_path)
    from archiver import open as open_archive
    with open_archive(tmp_path / "src.bbx") as a:
        chunk = a.chunks[0]
    data = bytearray((tmp_path / "src.bbx").read_bytes())
    data[chunk.offset + 40] ^= 1
    (tmp_path / "src.bbx").write_bytes(bytes(data))
    r = bbx("verify", "src.bbx", "--quick", cwd=tmp_path)
    assert_one_line_error(r, errors.CorruptChunk.exit_code)
    assert "chunk 0" in r.stderr and "lost:" in r.stderr
    r = bbx("extract", "src.bbx", "-C", "out", cwd=tmp_path)
    assert_one_line_error(r, errors.CorruptChunk.exit_code)
    assert (tmp_path / "out/src/sub/link").is_symlink()        # undamaged members are there


@pytest.mark.parametrize("args,code", [
    (["list", "missing.bbx"], errors.InputNotFound.exit_code),
    (["verify", "notes.txt"], errors.NotAnArchive.exit_code),
    (["create", "does-not-exist"], errors.InputNotFound.exit_code),
    (["extract", "good.bbx", "nope/"], errors.MemberNotFound.exit_code),
])
def test_user_errors_are_one_line_with_distinct_codes(tmp_path, args, code):
    (tmp_path / "notes.txt").write_text("just text, not an archive\n")
    (tmp_path / "d").mkdir()
    bbx("create", "d", "-o", "good.bbx", "-q", cwd=tmp_path)
    assert_one_line_error(bbx(*args, cwd=tmp_path), code)


def test_traversal_vector_through_cli(tmp_path):
    vec = os.path.join(os.path.dirname(__file__), "..", "format_spec", "vectors", "traversal_dotdot.bbx")
    r = bbx("extract", vec, "-C", "inner", cwd=tmp_path)
    assert_one_line_error(r, errors.UnsafePath.exit_code)
    assert "'..'" in r.stderr
    assert not (tmp_path / "evil").exists() and (tmp_path / "inner" / "safe").exists()


def test_python_dash_m_works_like_bbx(tmp_path):
    r = bbx("--version", module=True)
    assert r.returncode == 0 and r.stdout.startswith("bbx ")
    r = bbx("list", "missing.bbx", module=True, cwd=tmp_path)
    assert_one_line_error(r, errors.InputNotFound.exit_code)


def test_truncated_archive_is_listed_and_salvaged_with_nonzero_exit(tmp_path):
    vec = os.path.join(os.path.dirname(__file__), "..", "format_spec", "vectors", "truncated.bbx")
    r = bbx("list", vec, "--json", cwd=tmp_path)
    listing = json.loads(r.stdout)
    assert r.returncode == errors.CorruptArchive.exit_code
    assert {e["path"] for e in listing["entries"]} == {"t", "t/part-0", "t/part-1"}
    assert "truncated" in listing["errors"][0]["message"]
    r = bbx("verify", vec, "--json", cwd=tmp_path)
    assert r.returncode == errors.CorruptArchive.exit_code and json.loads(r.stdout)["ok"] is False
    r = bbx("extract", vec, "-C", "out", cwd=tmp_path)
    assert_one_line_error(r, errors.CorruptArchive.exit_code)
    assert (tmp_path / "out/t/part-1").exists() and not (tmp_path / "out/t/part-2").exists()
