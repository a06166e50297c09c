"""Shipped weights: named by file, checked against the manifest SHA256SUMS beside them.

Where they are: $BBX_WEIGHTS_DIR if set; else, running from a source checkout (editable
install or PYTHONPATH), the repository's weights/ folder; else the installed package data
`archiver.weights` (the same folder, installed under that name by setup.py).

Every codec that depends on a model records that model's SHA-256 in the archive header, so a
reader can refuse an archive whose weights it does not hold (instead of decoding garbage).
Update the manifest after writing new weights with:  python -m archiver.models.weights
"""
from __future__ import annotations

import hashlib
import os
import sys
from importlib import util
from pathlib import Path

MANIFEST = "SHA256SUMS"
REINSTALL = ("reinstall bbx (`pip install --force-reinstall bbx`) or point BBX_WEIGHTS_DIR at "
             "a folder holding the weights and their SHA256SUMS")


class WeightsError(Exception):
    """The weights a model needs are missing or differ from the manifest."""


SOURCE_TREE_DIR = Path(__file__).resolve().parents[2] / "weights"


def weights_dir() -> Path:
    env = os.environ.get("BBX_WEIGHTS_DIR")
    if env:
        return Path(env)
    if (SOURCE_TREE_DIR / MANIFEST).is_file():
        return SOURCE_TREE_DIR
    # Installed: a namespace package (no __init__.py), so ask its spec where it lies.
    spec = util.find_spec("archiver.weights")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / MANIFEST).is_file():
            return Path(location)
    return SOURCE_TREE_DIR          # nothing installed: errors name the folder looked in


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(directory: Path | None = None) -> dict[str, str]:
    directory = directory or weights_dir()
    path = directory / MANIFEST
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            out[name.lstrip("*")] = digest
    return out


def verified_path(name: str) -> tuple[Path, str]:
    """Return (path, sha256) of weights file `name`, refusing a missing file or a hash mismatch."""
    directory = weights_dir()
    path = directory / name
    expected = read_manifest(directory).get(name)
    if expected is None:
        raise WeightsError(f"weights '{name}' are not listed in {directory / MANIFEST}; "
                           f"{REINSTALL} (or run `python -m archiver.models.weights` after training)")
    if not path.exists():
        raise WeightsError(f"weights file {path} is missing; {REINSTALL}")
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(f"weights file {path} has SHA-256 {actual[:16]}..., the manifest says "
                           f"{expected[:16]}...; the file is damaged or from another version: "
                           f"{REINSTALL}")
    return path, actual


def update_manifest(directory: Path | None = None) -> dict[str, str]:
    """Rewrite the manifest with the hash of every weights file in the directory."""
    directory = directory or weights_dir()
    entries = {p.name: sha256_file(p) for p in sorted(directory.iterdir())
               if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
               and p.suffix not in (".md", ".txt")}
    (directory / MANIFEST).write_text("".join(f"{d}  {n}\n" for n, d in entries.items()))
    return entries


if __name__ == "__main__":
    for name, digest in update_manifest().items():
        print(digest, name)
    sys.exit(0)
