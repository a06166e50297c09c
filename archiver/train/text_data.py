"""Training text for the HMM: fetched by Debian/PyPI package name, split by whole files/books.

    python -m archiver.train.text_data [--out data/text]

Downloads the packages of /work/shared/DATA.md with `apt-get download` (no install), unpacks
them with `dpkg-deb -x`, and writes one file per book / document under
`OUT/corpus/{train,valid}/<kind>/`. The validation split holds out whole books and whole files
(never random crops), so benchmarks measure text the model has not seen.
"""
from __future__ import annotations

import argparse
import gzip
import struct
import subprocess
import sys
import sysconfig
import zlib
from pathlib import Path

PACKAGES = ["r-cran-janeaustenr", "r-cran-tokenizers", "bible-kjv", "bible-kjv-text", "fortunes",
            "jargon-text", "dict-devil", "dict-gcide", "vim-runtime"]

# Held-out books and files (validation split); everything else of the same source trains.
VALID_AUSTEN = {"persuasion"}
VALID_BIBLE = [("acts", "Ac1:1-Ac28:31")]
TRAIN_BIBLE = [("ot", "Ge1:1-Mal4:6"), ("gospels", "Mt1:1-Joh21:25"), ("epistles", "Ro1:1-Re22:21")]
VALID_FORTUNES = {"science", "wisdom", "pratchett", "computers"}
GCIDE_TRAIN_BYTES = 12 << 20          # the dictionary is 40 MB; a slice keeps the mix balanced
GCIDE_VALID_BYTES = 1 << 20           # taken from the far end of the file


def fetch(out: Path) -> Path:
    """apt-get download + dpkg-deb -x every package into out/root (idempotent)."""
    debs, root = out / "debs", out / "root"
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in PACKAGES if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def _rdata_vectors(data_dir: Path) -> dict[str, list[str]]:
    """Character vectors of an R lazy-load database (Rdata.rdx index + Rdata.rdb records)."""
    import rdata  # training-only dependency (pip install rdata)

    def parse(raw: bytes):
        return rdata.conversion.convert(rdata.parser.parse_data(raw))

    index = parse(gzip.decompress((data_dir / "Rdata.rdx").read_bytes()))
    rdb = (data_dir / "Rdata.rdb").read_bytes()
    out = {}
    for name, (off, length) in index["variables"].items():
        rec = rdb[int(off):int(off) + int(length)]
        (size,) = struct.unpack(">I", rec[:4])
        raw = zlib.decompress(rec[4:])
        assert len(raw) == size, f"{data_dir}: record {name} has a bad length"
        out[str(name)] = [str(s) for s in parse(raw)]
    return out


def _write(corpus: Path, split: str, kind: str, name: str, data: bytes) -> None:
    path = corpus / split / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build(out: Path) -> Path:
    root = fetch(out)
    corpus = out / "corpus"
    lib = root / "usr/lib/R/site-library"
    for name, lines in _rdata_vectors(lib / "janeaustenr/data").items():
        _write(corpus, "valid" if name in VALID_AUSTEN else "train", "prose", name + ".txt",
               "\n".join(lines).encode() + b"\n")
    for name, lines in _rdata_vectors(lib / "tokenizers/data").items():
        _write(corpus, "train", "prose", name + ".txt", "\n".join(lines).encode("utf-8"))
    bible = root / "usr/bin/bible"
    for split, ranges in (("train", TRAIN_BIBLE), ("valid", VALID_BIBLE)):
        for name, rng in ranges:
            # bible looks a -d path up under "./" and /usr/lib/: give it relative to its cwd
            text = subprocess.run([str(bible), "-f", "-l", "100000", "-d", "bible.data", rng],
                                  cwd=root / "usr/lib", check=True, capture_output=True).stdout
            _write(corpus, split, "prose", f"kjv-{name}.txt", text)
    fort = root / "usr/share/games/fortunes"
    for f in sorted(fort.iterdir()):
        if f.is_file() and f.suffix == "" and not f.is_symlink():
            _write(corpus, "valid" if f.name in VALID_FORTUNES else "train", "fortunes",
                   f"fortune-{f.name}.txt", f.read_bytes())
    _write(corpus, "train", "markup", "jargon.txt",
           gzip.decompress((root / "usr/share/doc/jargon-text/jargon.txt.gz").read_bytes()))
    _write(corpus, "valid", "markup", "devil.txt",
           gzip.decompress((root / "usr/share/dictd/devil.dict.dz").read_bytes()))
    gcide = gzip.decompress((root / "usr/share/dictd/gcide.dict.dz").read_bytes())
    _write(corpus, "train", "markup", "gcide-head.txt", gcide[:GCIDE_TRAIN_BYTES])
    _write(corpus, "valid", "markup", "gcide-tail.txt", gcide[-GCIDE_VALID_BYTES:])
    for i, f in enumerate(sorted((root / "usr/share/vim/vim90/doc").glob("*.txt"))):
        _write(corpus, "valid" if i % 10 == 5 else "train", "techdoc", f.name, f.read_bytes())
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py")
                   if "site-packages" not in p.parts and "test" not in p.parts)
    for i, f in enumerate(files):
        name = "-".join(f.relative_to(stdlib).parts)
        _write(corpus, "valid" if i % 10 == 5 else "train", "code", name, f.read_bytes())
    return corpus


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("data/text"))
    args = ap.parse_args(argv)
    corpus = build(args.out)
    for split in ("train", "valid"):
        for kind in sorted(p.name for p in (corpus / split).iterdir()):
            files = list((corpus / split / kind).iterdir())
            print(f"{split:5s} {kind:9s} {len(files):5d} files {sum(f.stat().st_size for f in files):>11,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
