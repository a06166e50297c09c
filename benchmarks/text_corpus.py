"""Held-out validation text of every kind the text codec meets, for benchmarks/bench_text.py.

    .venv/bin/python benchmarks/text_corpus.py [--out data/textbench]

Whole files only, from the sources of /work/shared/DATA.md (never its reserved packages), fetched
by package name (`apt-get download` + `dpkg-deb -x`, the botocore wheel with `pip download`) and
written to OUT/valid/<kind>/. Nothing here may be trained or tuned on: the HMM's training text
(archiver/train/text_data.py) uses none of these packages except the books and files that
text_data.py itself holds out (persuasion, Acts, the Devil's dictionary, the vim docs with
index % 10 == 5), and HELD_OUT below is the list a training script must skip. Logs are what
real programs print here (strace, pip -v, gcc -v), never /var/log.
"""
from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEBS = ["r-cran-janeaustenr", "bible-kjv", "bible-kjv-text", "dict-devil", "vim-runtime", "manpages",
        "manpages-dev", "linux-libc-dev", "golang-1.19-src", "libjs-d3", "unicode-data",
        "ieee-data", "distro-info-data", "tzdata", "python3.11-doc", "docbook-xsl"]

# (kind, package, path inside the package or "generated:<how>"): the held-out files.
VIM_DOC = "usr/share/vim/vim90/doc"
PYDOC = "usr/share/doc/python3.11/html"
GO = "usr/share/go-1.19/src"
HELD_OUT = [
    ("books", "r-cran-janeaustenr", "persuasion"),
    ("books", "bible-kjv", "Ac1:1-Ac28:31"),
    ("books", "dict-devil", "usr/share/dictd/devil.dict.dz"),
    ("techprose", "vim-runtime", f"{VIM_DOC}/pattern.txt"),
    ("techprose", "vim-runtime", f"{VIM_DOC}/ft_sql.txt"),
    ("techprose", "python3.11-doc", f"{PYDOC}/_sources/library/asyncio-task.rst.txt"),
    ("techprose", "python3.11-doc", f"{PYDOC}/_sources/howto/logging.rst.txt"),
    ("techprose", "python3.11-doc", f"{PYDOC}/_sources/reference/datamodel.rst.txt"),
    ("techprose", "python3.11-doc", f"{PYDOC}/_sources/whatsnew/3.3.rst.txt"),
    ("man", "manpages-dev", "usr/share/man/man2/open.2.gz"),
    ("man", "manpages-dev", "usr/share/man/man2/clone.2.gz"),
    ("man", "manpages-dev", "usr/share/man/man3/printf.3.gz"),
    ("man", "manpages-dev", "usr/share/man/man2/mmap.2.gz"),
    ("man", "manpages", "usr/share/man/man7/signal.7.gz"),
    ("man", "manpages", "usr/share/man/man7/socket.7.gz"),
    ("man", "manpages", "usr/share/man/man5/proc.5.gz"),
    ("man", "manpages", "usr/share/man/man7/tcp.7.gz"),
    ("c", "linux-libc-dev", "usr/include/linux/videodev2.h"),
    ("c", "linux-libc-dev", "usr/include/linux/bpf.h"),
    ("c", "linux-libc-dev", "usr/include/linux/ethtool.h"),
    ("c", "linux-libc-dev", "usr/include/linux/input.h"),
    ("c", "linux-libc-dev", "usr/include/linux/if_link.h"),
    ("js", "libjs-d3", "usr/share/javascript/d3/d3.js"),
    ("go", "golang-1.19-src", f"{GO}/net/http/server.go"),
    ("go", "golang-1.19-src", f"{GO}/net/http/request.go"),
    ("go", "golang-1.19-src", f"{GO}/strings/strings.go"),
    ("go", "golang-1.19-src", f"{GO}/encoding/json/decode.go"),
    ("go", "golang-1.19-src", f"{GO}/sort/sort.go"),
    ("go", "golang-1.19-src", f"{GO}/bufio/bufio.go"),
    ("json", "botocore", "botocore/data/route53/2013-04-01/service-2.json.gz"),
    ("json", "botocore", "botocore/data/inspector/2016-02-16/service-2.json.gz"),
    ("json", "botocore", "botocore/data/snowball/2016-06-30/service-2.json.gz"),
    ("json", "botocore", "botocore/data/sagemaker-runtime/2017-05-13/service-2.json.gz"),
    ("json", "botocore", "botocore/data/s3tables/2018-05-10/service-2.json.gz"),
    ("json", "botocore", "botocore/data/wellarchitected/2020-03-31/service-2.json.gz"),
    ("tables", "unicode-data", "usr/share/unicode/UnicodeData.txt"),
    ("tables", "unicode-data", "usr/share/unicode/Blocks.txt"),
    ("tables", "unicode-data", "usr/share/unicode/EastAsianWidth.txt"),
    ("tables", "ieee-data", "usr/share/ieee-data/mam.csv"),
    ("tables", "ieee-data", "usr/share/ieee-data/iab.csv"),
    ("tables", "distro-info-data", "usr/share/distro-info/ubuntu.csv"),
    ("tables", "distro-info-data", "usr/share/distro-info/debian.csv"),
    ("tables", "tzdata", "usr/share/zoneinfo/zone1970.tab"),
    ("markup", "python3.11-doc", f"{PYDOC}/library/functions.html"),
    ("markup", "python3.11-doc", f"{PYDOC}/library/os.path.html"),
    ("markup", "python3.11-doc", f"{PYDOC}/tutorial/classes.html"),
    ("markup", "python3.11-doc", f"{PYDOC}/glossary.html"),
    ("markup", "docbook-xsl", "usr/share/xml/docbook/stylesheet/docbook-xsl/html/chunk-common.xsl"),
    ("markup", "docbook-xsl", "usr/share/xml/docbook/stylesheet/docbook-xsl/fo/table.xsl"),
    ("markup", "docbook-xsl", "usr/share/xml/docbook/stylesheet/docbook-xsl/common/refentry.xsl"),
    ("logs", "generated", "strace -f -tt python3 -S -c 'import json'"),
    ("logs", "generated", "pip download -vv --no-deps --no-cache-dir six"),
    ("logs", "generated", "python3 -v -c 'import email.parser, http.client'"),
    ("logs", "generated", "gcc -v -H -O2 -c (a file including stdio.h, linux/bpf.h)"),
]


# Files of the same packages kept apart from HELD_OUT for tuning the model (benchmarks/tune_cm.c):
# (package, path, bytes kept from the start or None for all).
TUNE = [
    ("vim-runtime", f"{VIM_DOC}/eval.txt", None),
    ("linux-libc-dev", "usr/include/linux/nl80211.h", None),
    ("golang-1.19-src", f"{GO}/net/http/transport.go", None),
    ("unicode-data", "usr/share/unicode/LineBreak.txt", None),
    ("ieee-data", "usr/share/ieee-data/oui.csv", 400000),
    ("python3.11-doc", f"{PYDOC}/library/stdtypes.html", None),
    ("botocore", "botocore/data/ec2/2016-11-15/service-2.json.gz", 500000),
    ("manpages-dev", "usr/share/man/man2/fcntl.2.gz", None),
    ("docbook-xsl", "usr/share/xml/docbook/stylesheet/docbook-xsl/fo/pagesetup.xsl", None),
    ("generated", "strace -f -tt ls -laR /usr/share/doc", 500000),
    ("bible-kjv", "Ge1:1-Ge50:26", None),
]


def fetch(out: Path) -> tuple[Path, Path]:
    debs, root = out / "debs", out / "root"
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in DEBS if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    wheels = list(debs.glob("botocore-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "botocore",
                        "-d", str(debs)], check=True)
        wheels = list(debs.glob("botocore-*.whl"))
    if not (root / "usr").exists():
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root, wheels[0]


def render_man(page: Path) -> bytes:
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", GROFF_NO_SGR="1", LC_ALL="C.UTF-8")
    raw = subprocess.run(["man", "-l", "-P", "cat", str(page)], env=env, check=True,
                         capture_output=True).stdout
    return subprocess.run(["col", "-bx"], input=raw, check=True, capture_output=True).stdout


def generated_log(how: str, tmp: Path) -> bytes:
    tmp.mkdir(parents=True, exist_ok=True)
    if how.startswith("strace"):
        trace = tmp / "strace.txt"
        subprocess.run(["strace", "-f", "-tt", "-o", str(trace), "python3", "-S", "-c",
                        "import json"], check=True)
        return trace.read_bytes()
    if how.startswith("pip"):
        res = subprocess.run([sys.executable, "-m", "pip", "download", "-vv", "--no-deps",
                              "--no-cache-dir", "six", "-d", str(tmp / "pip")],
                             capture_output=True, check=True)
        return res.stdout + res.stderr
    if how.startswith("python3 -v"):
        return subprocess.run(["python3", "-v", "-c", "import email.parser, http.client"],
                              capture_output=True, check=True).stderr
    src = tmp / "probe.c"
    src.write_text("#include <stdio.h>\n#include <linux/bpf.h>\n"
                   "int main(void) { printf(\"%d\\n\", BPF_MAXINSNS); return 0; }\n")
    res = subprocess.run(["gcc", "-v", "-H", "-O2", "-c", str(src), "-o", str(tmp / "probe.o")],
                         capture_output=True, check=True)
    return res.stdout + res.stderr


def build(out: Path) -> Path:
    from archiver.train.text_data import _rdata_vectors
    root, wheel = fetch(out)
    valid = out / "valid"
    for kind, pkg, path in HELD_OUT:
        if pkg == "r-cran-janeaustenr":
            lines = _rdata_vectors(root / "usr/lib/R/site-library/janeaustenr/data")[path]
            name, data = f"{path}.txt", "\n".join(lines).encode() + b"\n"
        elif pkg == "bible-kjv":
            name = "kjv-acts.txt"
            data = subprocess.run([str(root / "usr/bin/bible"), "-f", "-l", "100000", "-d",
                                   str(root / "usr/lib/bible.data"), path],
                                  check=True, capture_output=True).stdout
        elif pkg == "botocore":
            with zipfile.ZipFile(wheel) as z:
                data = gzip.decompress(z.read(path))
            name = path.split("/")[2] + ".json"
        elif pkg == "generated":
            name = path.split()[0] + ("-v" if " -v " in path else "") + ".log"
            data = generated_log(path, out / "tmp")
        elif kind == "man":
            name, data = Path(path).name[:-3] + ".txt", render_man(root / path)
        else:
            f = root / path
            data = gzip.decompress(f.read_bytes()) if f.suffix in (".gz", ".dz") else f.read_bytes()
            name = f.name[:-3] + ".txt" if f.suffix in (".gz", ".dz") else f.name
        dest = valid / kind / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return valid


def build_tune(out: Path) -> Path:
    """The tuning files (TUNE) into OUT/tune/: never any of HELD_OUT."""
    root, wheel = fetch(out)
    tune = out / "tune"
    tune.mkdir(parents=True, exist_ok=True)
    held = {path for _, _, path in HELD_OUT}
    for pkg, path, keep in TUNE:
        assert path not in held, path
        if pkg == "bible-kjv":
            name = "kjv-genesis.txt"
            data = subprocess.run([str(root / "usr/bin/bible"), "-f", "-l", "100000", "-d",
                                   str(root / "usr/lib/bible.data"), path],
                                  check=True, capture_output=True).stdout
        elif pkg == "botocore":
            with zipfile.ZipFile(wheel) as z:
                data, name = gzip.decompress(z.read(path)), path.split("/")[2] + ".json"
        elif pkg == "generated":
            trace = out / "tmp" / "strace-ls.txt"
            trace.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["strace", "-f", "-tt", "-o", str(trace), "ls", "-laR",
                            "/usr/share/doc"], check=True, stdout=subprocess.DEVNULL)
            data, name = trace.read_bytes(), "strace.log"
        elif path.startswith("usr/share/man/"):
            data, name = render_man(root / path), Path(path).name[:-3] + ".txt"
        else:
            data, name = (root / path).read_bytes(), Path(path).name
        (tune / name).write_bytes(data[:keep] if keep else data)
    return tune


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("data/textbench"))
    ap.add_argument("--tune", action="store_true", help="also build the tuning files (TUNE)")
    args = ap.parse_args(argv)
    valid = build(args.out)
    if args.tune:
        build_tune(args.out)
    for kind in sorted(p.name for p in valid.iterdir()):
        files = sorted((valid / kind).iterdir())
        print(f"{kind:10s} {len(files):3d} files {sum(f.stat().st_size for f in files):>10,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
