"""What a user of an installed bbx sees about its models: which codecs can run, the version,
and a warning (exit 1) whenever a model codec would apply but cannot run."""
from __future__ import annotations

import json
import subprocess
import sys

from archiver import __version__
from archiver.models.weights import read_manifest
from conftest import BBX, write_tree

TEXT = b"It is a truth universally acknowledged, that a single man in possession of a good " \
       b"fortune, must be in want of a wife.\n" * 40


def bbx(*args, env=None, cwd=None):
    import os
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([str(BBX), *args], capture_output=True, text=True, timeout=300,
                          env=full_env, cwd=cwd)


def test_version_long_and_short():
    for flag in ("--version", "-V"):
        r = bbx(flag)
        assert r.returncode == 0 and r.stdout.strip() == f"bbx {__version__}"


def test_codecs_lists_ids_usability_and_model_hashes():
    r = bbx("codecs", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["store"]["id"] == "0x00" and rows["zstd"]["id"] == "0x01"
    assert rows["text"]["id"] == "0x10" and rows["text"]["usable"] is True
    assert rows["text"]["model_sha256"] == [read_manifest()[name]
                                            for name in ("text-hmm.npz", "text-hmm16.npz")]
    assert rows["text"]["content"] == "text" and rows["zstd"]["content"] == "any"


def test_codecs_says_why_a_model_cannot_run(tmp_path):
    r = bbx("codecs", "--json", env={"BBX_WEIGHTS_DIR": str(tmp_path)})
    assert r.returncode == 1
    text = {row["name"]: row for row in json.loads(r.stdout)}["text"]
    assert text["usable"] is False and "text-hmm.npz" in text["why_not"]
    assert "BBX_WEIGHTS_DIR" in text["why_not"]


def test_missing_weights_warn_once_and_exit_1(tmp_path):
    write_tree(tmp_path / "src", {f"book{i}.txt".encode(): TEXT for i in range(3)})
    r = bbx("create", str(tmp_path / "src"), "-o", str(tmp_path / "a.bbx"), "--json",
            env={"BBX_WEIGHTS_DIR": str(tmp_path / "nowhere")})
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert len(report["warnings"]) == 1 and "text codec cannot run" in report["warnings"][0]
    warned = [line for line in r.stderr.splitlines() if line.startswith("bbx: warning:")]
    assert len(warned) == 1 and "text-hmm.npz" in warned[0]
    assert "text" not in report["by_codec"]
    # the archive is still complete and correct
    assert bbx("verify", str(tmp_path / "a.bbx")).returncode == 0


def test_no_warning_when_no_file_needs_the_missing_model(tmp_path):
    write_tree(tmp_path / "src", {b"noise.bin": bytes(range(256)) * 40})
    r = bbx("create", str(tmp_path / "src"), "-o", str(tmp_path / "a.bbx"), "--json",
            env={"BBX_WEIGHTS_DIR": str(tmp_path / "nowhere")})
    assert r.returncode == 0 and json.loads(r.stdout)["warnings"] == []


def test_no_warning_when_the_user_left_the_model_out(tmp_path):
    write_tree(tmp_path / "src", {b"a.txt": TEXT})
    r = bbx("create", str(tmp_path / "src"), "-o", str(tmp_path / "a.bbx"), "--codecs", "zstd",
            env={"BBX_WEIGHTS_DIR": str(tmp_path / "nowhere")})
    assert r.returncode == 0 and "warning" not in r.stderr


def test_text_files_reach_the_text_codec_beside_binary(tmp_path):
    write_tree(tmp_path / "src", {b"a.txt": TEXT, b"b.bin": bytes(range(256)) * 64})
    assert bbx("create", str(tmp_path / "src"), "-o", str(tmp_path / "a.bbx")).returncode == 0
    rows = {e["path"]: e for e in json.loads(bbx("list", str(tmp_path / "a.bbx"), "--json").stdout)["entries"]}
    assert rows["src/a.txt"]["codec"] == "text" and rows["src/b.bin"]["codec"] != "text"
