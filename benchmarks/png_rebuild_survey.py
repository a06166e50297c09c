"""Which PNG files does archiver.codecs.image_files rebuild byte for byte? Per writer: Pillow
(default, optimize=True, compress_level 0-9), ImageMagick's convert, optipng, and the PNGs as
shipped in a few Debian packages. Pillow deflating with zlib-ng is simulated (see
zlib_ng_pillow_files). Prints one table row per writer: files, share rebuilt exactly, decompose
CPU time (mean, max; the whole decompose: decode, search and the rebuild check; CPU rather
than wall time, which the machine's load would inflate), how many deflate
settings were tried for the files found, and why the others were refused. Then the search cost
on a 10 MP photo-like image: found (Pillow default) and not found (a stream flushed every 64 KB, which no
zlib setting writes).

    nice python benchmarks/png_rebuild_survey.py [--work DIR] [--per-package N] [--sources N]

Needs apt-get (to download the packages; nothing is installed), ImageMagick's convert and
optipng on PATH (apt-get install imagemagick optipng)."""
from __future__ import annotations

import argparse
import collections
import io
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from archiver.codecs import image_files  # noqa: E402
from archiver.codecs.image_files.deflate_search import SearchStats  # noqa: E402

PACKAGES = ("tuxpaint-stamps-default", "oxygen-icon-theme", "gnome-icon-theme")
MODES = ("RGB", "RGBA", "L", "LA", "P")


def fetch(work: Path, package: str) -> Path:
    root = work / package
    if not root.exists():
        subprocess.run(["apt-get", "download", package], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = next(work.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def measure(files) -> dict:
    """files: iterable of PNG bytes."""
    n = ok = 0
    times, tries, reasons, params = [], [], collections.Counter(), collections.Counter()
    for data in files:
        stats = SearchStats()
        t = time.process_time()
        got = image_files.decompose(data, stats=stats)
        times.append(time.process_time() - t)
        n += 1
        if got is not None:
            ok += 1
            tries.append(stats.tried)
            p = stats.params
            params[type(p).__name__ if not hasattr(p, "lib") else
                   f"{'zlib-ng' if p.lib else 'zlib'} L{p.level} s{p.strategy} m{p.mem_level}"] += 1
        else:
            reasons[stats.reason.split(":")[0] or "?"] += 1
    return {"n": n, "ok": ok, "times": times, "tries": tries, "reasons": reasons,
            "params": params}


def row(name: str, m: dict) -> str:
    t = m["times"] or [0.0]
    why = ", ".join(f"{r} {c}" for r, c in m["reasons"].most_common(3))
    tries = m["tries"] or [0]
    return (f"| {name} | {m['n']} | {m['ok'] / max(1, m['n']):.1%} | {1000 * sum(t) / len(t):.0f} "
            f"| {1000 * max(t):.0f} | {sum(tries) / len(tries):.1f} / {max(tries)} | {why} |")


def sources(pngs: list[Path], count: int, rng: random.Random) -> list[Image.Image]:
    """Decoded images of at least 64x64, cycled through the PNG colour modes."""
    out = []
    for path in rng.sample(pngs, len(pngs)):
        try:
            with Image.open(path) as im:
                im.load()
                if min(im.size) < 64:
                    continue
                out.append(im.convert("RGBA").convert(MODES[len(out) % len(MODES)]))
        except Exception:
            continue
        if len(out) == count:
            break
    return out


def pillow_files(images, **kw):
    for im in images:
        b = io.BytesIO()
        im.save(b, "PNG", **kw)
        yield b.getvalue()


def zlib_ng_pillow_files(images, level: int):
    """What a Pillow wheel deflating with zlib-ng writes (this Pillow deflates with the system's
    zlib): Pillow's own filtered rows, deflated by the zlib-ng package (the zlib-ng release
    Pillow's wheels are built with) with Pillow's settings (window 15, memLevel 9, default
    strategy), one scanline per deflate() call as Pillow's encoder feeds it."""
    from zlib_ng import zlib_ng
    for data, im in zip(pillow_files(images, compress_level=level), images):
        c = zlib_ng.compressobj(level, zlib.DEFLATED, 15, 9, 0)
        raw = zlib.decompress(b"".join(_idat_bodies(data)))
        row = len(raw) // im.size[1]
        z = b"".join(c.compress(raw[i:i + row]) for i in range(0, len(raw), row)) + c.flush()
        yield _with_idat(data, z)


def tool_files(images, tmp: Path, command):
    for i, im in enumerate(images):
        src, dst = tmp / f"s{i}.png", tmp / f"d{i}.png"
        im.save(src, "PNG", compress_level=0)
        dst.unlink(missing_ok=True)
        subprocess.run(command(src, dst), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        yield dst.read_bytes()


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random field plus noise: compresses like a photo, not like flat art."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 64 + 2, w // 64 + 2, 3)).astype(np.float32)
    big = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((w, h), Image.BICUBIC))
    return np.clip(big + rng.normal(0, 6, size=big.shape), 0, 255).astype(np.uint8)


def big_timing() -> list[str]:
    im = Image.fromarray(photo(2736, 3648))
    b = io.BytesIO()
    im.save(b, "PNG")
    found = b.getvalue()
    # The same pixels with a zlib stream flushed every 64 KB: no single setting writes that.
    raw = zlib.decompress(b"".join(_idat_bodies(found)))
    c = zlib.compressobj(6)
    z = b"".join(c.compress(raw[i:i + 65536]) + c.flush(zlib.Z_SYNC_FLUSH)
                 for i in range(0, len(raw), 65536)) + c.flush()
    unfound = _with_idat(found, z)
    # Worse for the search: the stream is Pillow's own up to 4 MB, then one flush: the right
    # settings pass the first-block test and fail late.
    c = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY)
    late = c.compress(raw[:4 << 20]) + c.flush(zlib.Z_SYNC_FLUSH) + c.compress(raw[4 << 20:])
    late = _with_idat(found, late + c.flush())
    # zlib-ng fed the whole buffer at once (the rebuild feeds it by scanline): ordinary blocks,
    # so every setting of the right memLevel gets the first-block test.
    from zlib_ng import zlib_ng
    c = zlib_ng.compressobj(6, zlib.DEFLATED, 15, 9, 0)
    whole = _with_idat(found, c.compress(raw) + c.flush())
    lines = []
    for name, data in (("found (Pillow default)", found), ("not found (flushed stream)", unfound),
                       ("not found (flushed once after 4 MB)", late),
                       ("not found (zlib-ng fed all at once)", whole)):
        stats = SearchStats()
        t = time.process_time()
        got = image_files.decompose(data, stats=stats)
        total = time.process_time() - t
        lines.append(f"| {name} | {len(data) / 1e6:.1f} MB | {got is not None} | "
                     f"{stats.seconds:.2f} s | {stats.tried} | {total:.2f} s |")
    return lines


def _idat_bodies(png: bytes):
    at = 8
    while at < len(png):
        n = int.from_bytes(png[at:at + 4], "big")
        if png[at + 4:at + 8] == b"IDAT":
            yield png[at + 8:at + 8 + n]
        at += 12 + n


def _with_idat(png: bytes, z: bytes) -> bytes:
    out, at, done = [png[:8]], 8, False
    while at < len(png):
        n = int.from_bytes(png[at:at + 4], "big")
        kind = png[at + 4:at + 8]
        if kind != b"IDAT":
            out.append(png[at:at + 12 + n])
        elif not done:
            out.append(len(z).to_bytes(4, "big") + b"IDAT" + z
                       + zlib.crc32(b"IDAT" + z).to_bytes(4, "big"))
            done = True
        at += 12 + n
    return b"".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bbx-png-survey")
    ap.add_argument("--per-package", type=int, default=300)
    ap.add_argument("--sources", type=int, default=40)
    ap.add_argument("--no-big", action="store_true", help="skip the 10 MP search timing")
    ap.add_argument("--only", default="", help="only the writers whose name contains this")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    shipped = {p: sorted(fetch(args.work, p).rglob("*.png")) for p in PACKAGES}
    shipped = {p: [f for f in files if f.is_file() and not f.is_symlink()]
               for p, files in shipped.items()}
    all_pngs = [f for files in shipped.values() for f in files]
    images = sources(all_pngs, args.sources, rng)
    print(f"{len(images)} source images ({', '.join(MODES)} in turn), "
          f"{sum(i.size[0] * i.size[1] for i in images) / len(images):.0f} pixels on average")
    print("| writer | files | rebuilt exactly | decompose CPU mean ms | max ms "
          "| settings tried when found (mean / max) | refused because |")
    print("|---|---|---|---|---|---|---|")
    params = collections.Counter()

    def report(name, files):
        if args.only not in name:
            return
        m = measure(files)
        params.update(m["params"])
        print(row(name, m), flush=True)

    report("Pillow default", pillow_files(images))
    report("Pillow optimize=True", pillow_files(images, optimize=True))
    for level in range(10):
        report(f"Pillow compress_level={level}", pillow_files(images, compress_level=level))
    for level in (1, 6, 9):
        report(f"Pillow + zlib-ng, level {level} (simulated)", zlib_ng_pillow_files(images, level))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # /usr/bin/convert: the real ImageMagick, not a stand-in earlier on PATH.
        real = Path("/usr/bin/convert")
        convert = str(real) if real.exists() else shutil.which("convert")
        report("ImageMagick convert", tool_files(
            images, tmp, lambda s, d: [convert, str(s), str(d)]))
        report("ImageMagick convert -quality 95", tool_files(
            images, tmp, lambda s, d: [convert, str(s), "-quality", "95", str(d)]))
        report("ImageMagick convert -interlace PNG (Adam7)", tool_files(
            images, tmp, lambda s, d: [convert, str(s), "-interlace", "PNG", str(d)]))
        report("optipng (-o2)", tool_files(
            images, tmp, lambda s, d: ["optipng", "-quiet", "-out", str(d), str(s)]))
    for package, files in shipped.items():
        pick = rng.sample(files, min(args.per_package, len(files)))
        report(f"shipped in {package}", (f.read_bytes() for f in pick))
    print()
    print("parameters found (all writers):", ", ".join(f"{k} {v}" for k, v in params.most_common()))
    if not args.no_big and not args.only:
        print()
        print("| 10 MP photo-like PNG | size | rebuilt | search (CPU) | settings tried "
              "| decompose total (CPU) |")
        print("|---|---|---|---|---|---|")
        for line in big_timing():
            print(line)


if __name__ == "__main__":
    main()
