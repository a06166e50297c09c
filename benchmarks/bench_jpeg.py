"""bbx on a folder of photo JPEGs against tar | zstd -19, tar | xz -9, and each JPEG library
alone (Lepton, JPEG XL lossless transcoding), side by side in one run.

    PYTHONPATH=. python benchmarks/bench_jpeg.py [--set camera|distro] [--workdir DIR] [--out FILE]

The photos come from Debian packages (../shared/DATA.md), fetched with `apt-get download` and
unpacked into --workdir. `--set camera` (default): the 16 photo backgrounds of
enlightenment-data, JPEGs as a camera at its best quality writes them (quality ~99, 4:4:4,
8 MP). `--set distro`: every distinct JPEG of lomiri-wallpapers-16.04/-20.04,
plasma-workspace-wallpapers and palapeli-data (web-style, ~1 bit/pixel, mostly optimized
Huffman tables; the KDE screenshots included, they are JPEGs users have too), plus progressive
and grayscale JPEGs made from some of them with Pillow.
Targets (issue 12): bbx at least 20% smaller than zstd -19 (ratio <= 0.80); create and extract
at least 20 MB/s. Wall time is what a user waits on this shared 2-core machine; CPU time (user
+ system of the process and its children) shows the cost without the other users' load.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "plasma-workspace-wallpapers",
            "palapeli-data"]
MADE_FROM = 6           # photos re-encoded by Pillow as progressive and as grayscale
# Camera-quality set: the photo backgrounds of enlightenment-data (JPEG quality ~99, 4:4:4,
# 3840x2160) stored inside Eet containers; the drawings are left out.
CAMERA_PACKAGE = "enlightenment-data"
DRAWINGS = ("Dunes", "Flat-Fan", "Sunset-Hills", "Squiggle")


def jpeg_end(data: bytes, start: int) -> int | None:
    """End (after EOI) of the JPEG starting at `start`: segments by their lengths, entropy
    coded data up to the next marker that is not a stuffed byte or a restart marker."""
    i = start + 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xD9:
            return i + 2
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 1 if marker == 0xFF else 2
            continue
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA:                      # scan data follows its header
            while True:
                i = data.find(b"\xff", i)
                if i < 0 or i + 1 >= len(data):
                    return None
                if data[i + 1] == 0x00 or 0xD0 <= data[i + 1] <= 0xD7:
                    i += 2
                    continue
                break
    return None


def fetch_camera(work: Path) -> Path:
    """Camera-quality folder: the largest JPEG inside each photo background of CAMERA_PACKAGE
    (found by its signature and parsed to its EOI)."""
    folder = work / "camera"
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    debs, unpacked = work / "debs", work / "unpacked-camera"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", CAMERA_PACKAGE], cwd=debs, check=True, capture_output=True)
    deb = next(debs.glob(f"{CAMERA_PACKAGE}_*.deb"))
    unpacked.mkdir(exist_ok=True)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(unpacked), "--wildcards", "*backgrounds/*.edj"],
                   stdin=tar.stdout, check=True)
    tar.wait()
    folder.mkdir(parents=True)
    for edj in sorted(unpacked.rglob("*.edj")):
        if edj.stem.startswith(DRAWINGS):
            continue
        data, best = edj.read_bytes(), b""
        at = data.find(b"\xff\xd8\xff")
        while at >= 0:
            end = jpeg_end(data, at)
            if end and end - at > len(best):
                best = data[at:end]
            at = data.find(b"\xff\xd8\xff", at + 3)
        if best:
            (folder / f"{edj.stem}.jpg").write_bytes(best)
    return folder


def fetch_photos(work: Path) -> Path:
    """The distribution folder: every distinct JPEG of PACKAGES plus the Pillow-made ones."""
    folder = work / "photos"
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    debs, unpacked = work / "debs", work / "unpacked"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True, capture_output=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    folder.mkdir(parents=True)
    seen = set()
    paths = sorted(p for p in unpacked.rglob("*") if p.is_file() and not p.is_symlink()
                   and p.suffix.lower() in (".jpg", ".jpeg"))
    for p in paths:
        data = p.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            name = str(p.relative_to(unpacked)).replace("/", "_")
            (folder / name).write_bytes(data)
    from PIL import Image
    sources = sorted((p for p in folder.iterdir() if p.stat().st_size > 200_000), key=lambda p: p.name)
    for p in sources[:MADE_FROM]:
        img = Image.open(p)
        img.save(folder / f"made_progressive_{p.stem}.jpg", quality=90, progressive=True)
        img.convert("L").save(folder / f"made_grayscale_{p.stem}.jpg", quality=90)
    return folder


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def adopt_orphans() -> None:
    """Become the subreaper of what we start: bbx's JPEG helper processes outlive the pool
    workers that started them (they end at the EOF of their pipe), so without this their CPU
    time would be counted nowhere."""
    import ctypes
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans(timeout: float = 10.0) -> None:
    """Wait for adopted helpers to end, so that RUSAGE_CHILDREN counts them."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def run(cmd, **kw) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and all its descendants)."""
    c, t = cpu_children(), time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    wall = time.perf_counter() - t
    reap_orphans()
    return wall, cpu_children() - c


def bbx(args, env) -> tuple[float, float]:
    return run([sys.executable, "-m", "archiver", *args], env=env, stdout=subprocess.DEVNULL)


def tar_bytes(folder: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for p in sorted(folder.iterdir()):
            tar.add(p, arcname=p.name)
    return out.getvalue()


def pipe(cmd, data: bytes) -> tuple[bytes, float, float]:
    c, t = cpu_children(), time.perf_counter()
    out = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
    return out, time.perf_counter() - t, cpu_children() - c


def library_alone(name, files: list[bytes]) -> tuple[int, float, float, float, float, int]:
    """(total size, encode wall, decode wall, encode CPU, decode CPU, files refused) of one
    library on each file in this process, one thread; a refused or inexact file counts at its
    own size, as bbx would store it."""
    if name == "lepton":
        import lepton_jpeg_python as lep
        cfg = {"threads": "single"}
        enc, dec = (lambda d: lep.compress_bytes(d, cfg)), (lambda p: lep.decompress_bytes(p, cfg))
    else:
        import imagecodecs
        enc = lambda d: imagecodecs.jpegxl_encode_jpeg(d, numthreads=1)    # noqa: E731
        dec = lambda p: imagecodecs.jpegxl_decode_jpeg(p, numthreads=1)    # noqa: E731
    total, te, td, ce, cd, refused = 0, 0.0, 0.0, 0.0, 0.0, 0
    for data in files:
        c, t = cpu_self(), time.perf_counter()
        try:
            payload = bytes(enc(data))
        except Exception:  # noqa: BLE001 - the library refuses this JPEG
            payload = None
        te += time.perf_counter() - t
        ce += cpu_self() - c
        if payload is None:
            refused += 1
            total += len(data)
            continue
        c, t = cpu_self(), time.perf_counter()
        back = bytes(dec(payload))
        td += time.perf_counter() - t
        cd += cpu_self() - c
        if back != data:
            refused += 1
        total += len(payload) if back == data else len(data)
    return total, te, td, ce, cd, refused


def same_tree(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def bbx_round(folder: Path, work: Path, tag: str, env) -> tuple[int, float, float, float, float]:
    archive, dest = work / f"{tag}.bbx", work / f"{tag}-out"
    shutil.rmtree(dest, ignore_errors=True)
    archive.unlink(missing_ok=True)
    cw, cc = bbx(["create", "-q", "-o", str(archive), str(folder)], env)
    dest.mkdir()
    ew, ec = bbx(["extract", "-q", "-C", str(dest), str(archive)], env)
    out = dest / folder.name if (dest / folder.name).is_dir() else dest
    if not same_tree(folder, out):
        raise SystemExit(f"bbx round trip of {folder} is not exact")
    return archive.stat().st_size, cw, cc, ew, ec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="/tmp/bbx-jpeg-bench")
    ap.add_argument("--set", choices=("distro", "camera"), default="camera",
                    help="camera: Enlightenment's quality-99 photos; distro: the wallpaper "
                         "packages' JPEGs plus progressive and grayscale ones made with Pillow")
    ap.add_argument("--out", help="also write the table (markdown) here")
    ap.add_argument("--methods", default="zstd,xz,lepton,jxl,bbx",
                    help="comma list of the rows to run (sizes are deterministic; on a loaded "
                         "machine the slow baselines can be run once and bbx again)")
    args = ap.parse_args()
    adopt_orphans()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    folder = fetch_camera(work) if args.set == "camera" else fetch_photos(work)
    paths = sorted(folder.iterdir())
    files = [p.read_bytes() for p in paths]
    raw = sum(map(len, files))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    mb = raw / 1e6
    rows = []

    def row(name, size, cw, cc, ew, ec, note=""):
        rows.append((name, size, cw, cc, ew, ec, note))
        print(f"{name:28s} {size:>11,d}  {size / raw:.4f}  create {mb / cw:6.2f} MB/s wall "
              f"{mb / cc if cc else 0:6.2f} cpu  extract {mb / ew if ew else 0:6.2f} wall "
              f"{mb / ec if ec else 0:6.2f} cpu {note}", flush=True)

    print(f"{len(files)} JPEGs, {raw:,d} bytes, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    tar = tar_bytes(folder)
    methods = set(args.methods.split(","))
    for name, cmd in (("tar | zstd -19", ["zstd", "-19", "-c"]), ("tar | xz -9", ["xz", "-9", "-c"])):
        if cmd[0] not in methods:
            continue
        packed, cw, cc = pipe(cmd, tar)
        back, ew, ec = pipe([cmd[0], "-d", "-c"], packed)
        assert back == tar
        row(name, len(packed), cw, cc, ew, ec)
    zstd_size = rows[0][1] if "zstd" in methods else None
    for lib in ("lepton", "jxl"):
        if lib not in methods:
            continue
        size, te, td, ce, cd, refused = library_alone(lib, files)
        row(f"{lib} alone (1 thread)", size, te, ce, td, cd, f"{refused} refused")
    single = verdict = ""
    if "bbx" in methods:
        archive_size, cw, cc, ew, ec = bbx_round(folder, work, "all", env)
        row("bbx create/extract", archive_size, cw, cc, ew, ec)
        # One large photo alone: what a single file costs (no chunk parallelism to hide it).
        big = max(paths, key=lambda p: p.stat().st_size)
        one = work / "one"
        shutil.rmtree(one, ignore_errors=True)
        one.mkdir()
        shutil.copy2(big, one / big.name)
        size1, cw1, cc1, ew1, ec1 = bbx_round(one, work, "one", env)
        mb1 = big.stat().st_size / 1e6
        single = (f"one file ({big.name}, {big.stat().st_size:,d} bytes): "
                  f"{size1 / big.stat().st_size:.4f}; create {mb1 / cw1:.2f} MB/s wall "
                  f"({mb1 / cc1:.2f} cpu), extract {mb1 / ew1:.2f} MB/s wall ({mb1 / ec1:.2f} cpu)")
        vs_zstd = f"{archive_size / zstd_size:.4f}" if zstd_size else "(zstd not run)"
        verdict = (f"bbx / zstd -19 = {vs_zstd} (target <= 0.80); "
                   f"create {mb / cw:.2f} MB/s, extract {mb / ew:.2f} MB/s wall (target >= 20)")
        print(single)
        print(verdict)
    if not args.out:
        return
    with open(args.out, "w") as f:
        f.write(f"# bench_jpeg.py --set {args.set}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n\n")
        f.write(f"{len(files)} JPEGs, {raw:,d} bytes; load average at start "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n\n")
        f.write("| method | bytes | of input | vs zstd -19 | create MB/s wall (cpu) | extract MB/s wall (cpu) | note |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for name, size, cw, cc, ew, ec, note in rows:
            f.write(f"| {name.replace('|', chr(92) + '|')} | {size:,d} | {size / raw:.4f} | {f'{size / zstd_size:.4f}' if zstd_size else '-'} | "
                    f"{mb / cw:.2f} ({mb / cc if cc else 0:.2f}) | "
                    f"{mb / ew if ew else 0:.2f} ({mb / ec if ec else 0:.2f}) | {note} |\n")
        f.write(f"\n{single}\n\n{verdict}\n")


if __name__ == "__main__":
    main()
