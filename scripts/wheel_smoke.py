#!/usr/bin/env python3
"""Smoke test of bbx as users install it: run by scripts/wheel_smoke.sh with the `bbx` command
of a fresh virtual environment that holds only the built wheel (no torch, no source tree).

Archives a mixed folder made here (English text from the repository's documents, a smooth
noisy picture as PNG and as JPEG, binary noise), then fails unless each kind reached its
codec (text, image, jpeg, store), the archive verifies, and extraction gives back every
byte. It runs with the fresh venv's Python, so numpy and Pillow are the wheel's own
dependencies."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(bbx: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    r = subprocess.run([bbx, *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"smoke: `bbx {' '.join(args)}` exited {r.returncode}:\n{r.stderr}")
    return r


def picture(w: int = 320, h: int = 240) -> "np.ndarray":
    """Smooth colour fields under sensor-like noise (sigma 1): the image model beats PNG's
    deflate on it by about 10%, so the image codec must win its chunk."""
    import numpy as np
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([120 + 60 * np.sin(x / 37) + 40 * np.cos(y / 23),
                     110 + 50 * np.cos((x + y) / 41),
                     90 + 70 * np.sin(y / 29 + x / 53)], -1)
    return np.clip(np.round(base + rng.normal(0, 1.0, (h, w, 3))), 0, 255).astype(np.uint8)


def make_folder(root: Path) -> dict[str, str]:
    """The input folder; returns {relative path: codec it must reach}."""
    want = {}
    (root / "docs").mkdir(parents=True)
    for doc in [REPO / "README.md", *sorted((REPO / "format_spec").glob("*.md"))]:
        shutil.copy(doc, root / "docs" / doc.name)
        want[f"docs/{doc.name}"] = "text"
    from PIL import Image
    (root / "photos").mkdir()
    Image.fromarray(picture()).save(root / "photos/picture.png")
    want["photos/picture.png"] = "image"
    Image.fromarray(picture()).save(root / "photos/picture.jpg", quality=90)
    want["photos/picture.jpg"] = "jpeg"
    # a JPEG decoded and saved as PNG: every pixel on the decoder's colour lattice, coded so
    with Image.open(root / "photos/picture.jpg") as im:
        im.convert("RGB").save(root / "photos/from_jpeg.png")
    want["photos/from_jpeg.png"] = "image"
    (root / "noise.bin").write_bytes(os.urandom(50_000))
    want["noise.bin"] = "store"
    return want


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bbx", required=True, help="the installed bbx command to test")
    bbx = str(Path(ap.parse_args().bbx).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)                       # outside the repository: nothing imports from it
        want = make_folder(tmp / "in")
        print(run(bbx, "--version", cwd=tmp).stdout.strip())
        print(run(bbx, "codecs", cwd=tmp).stdout, end="")
        report = json.loads(run(bbx, "create", "in", "-o", "a.bbx", "--json", cwd=tmp).stdout)
        if report["warnings"]:
            sys.exit(f"smoke: create warned: {report['warnings']}")
        rows = json.loads(run(bbx, "list", "a.bbx", "--json", cwd=tmp).stdout)["entries"]
        got = {r["path"][len("in/"):]: r["codec"] for r in rows if r["type"] == "file"}
        wrong = {p: (got.get(p), c) for p, c in want.items() if got.get(p) != c}
        if wrong:
            sys.exit(f"smoke: files did not reach their codec (got, wanted): {wrong}")
        run(bbx, "verify", "a.bbx", cwd=tmp)
        run(bbx, "extract", "a.bbx", "-C", "out", "-q", cwd=tmp)
        for p in want:
            if (tmp / "out/in" / p).read_bytes() != (tmp / "in" / p).read_bytes():
                sys.exit(f"smoke: {p} did not come back byte for byte")
        print(f"smoke: {len(want)} files, codecs {sorted(set(want.values()))}: "
              f"{report['input_bytes']} -> {report['output_bytes']} bytes, all checks passed")


if __name__ == "__main__":
    main()
