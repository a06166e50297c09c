"""Replay the fuzzing seed corpus and every input the fuzzer found a failure with
(benchmarks/fuzz_bbx.py): each must end in a clean BBXError or a correct result."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import fuzz_bbx  # noqa: E402

CORPUS = ROOT / "tests" / "fuzz_corpus"
TARGETS = {"container": "container", "container-fixed": "container", "recovery": "recovery",
           "recovery-fixed": "recovery", "store": "store",
           "zstd": "zstd", "text": "text", "image": "image", "jpeg": "jpeg"}
CASES = [(t, p) for t, d in TARGETS.items() for p in sorted((CORPUS / d).iterdir())]


@pytest.mark.parametrize("target,path", CASES, ids=[f"{t}:{p.name}" for t, p in CASES])
def test_fuzz_input_ends_cleanly(target, path):
    fuzz_bbx.target(target)(path.read_bytes())
