"""Recovery records: encode and repair speed (MB of archive per CPU-second, user+sys, one
thread) and size overhead, side by side with par2cmdline (`par2 create -rN -t1`) and the
reedsolo library (its compiled `creedsolo` when importable: 255-byte codewords with N% of
parity, corrupted symbols located by the code itself) on the same archive. Repairs are checked
byte for byte.

    nice -n 10 python benchmarks/bench_recovery.py [--mb 64] [--percent 1 5 10]
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archiver                                     # noqa: E402
from archiver.recovery import record                # noqa: E402
from archiver.recovery.repair import repair         # noqa: E402


def cpu(who=resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def make_archive(root: Path, mb: int) -> Path:
    rng = random.Random(1)
    src = root / "src"
    src.mkdir()
    for i in range(mb):                 # incompressible: the archive is as large as asked
        (src / f"f{i:04d}").write_bytes(rng.randbytes(1 << 20))
    out = root / "plain.bbx"
    archiver.create(out, [src], codecs=["store"], jobs=1)
    return out


def damage(data: bytes, head, seed: int) -> bytes:
    """Scattered bit flips and one zeroed burst, well within the record's capacity: about a
    third of every group's parity."""
    rng = random.Random(seed)
    bad = bytearray(data)
    budget = max(1, head.parity // 3)
    burst = head.block_size * head.groups * max(0, budget - 1)
    start = rng.randrange(len(bad) - burst)
    bad[start:start + burst] = bytes(burst)
    for off in rng.sample(range(len(bad)), head.groups // 2 + 1):
        bad[off] ^= 1
    return bytes(bad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--percent", type=int, nargs="+", default=[1, 5, 10])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        root = Path(tmp)
        plain = make_archive(root, args.mb)
        size = plain.stat().st_size
        print(f"archive: {size / 1e6:.1f} MB (store codec, random content)")
        print(f"{'tool':9} {'pct':>4} {'overhead':>9} {'encode MB/cpu-s':>16} "
              f"{'repair MB/cpu-s':>16}  blocks  repaired")
        for pct in args.percent:
            work = root / f"r{pct}.bbx"
            shutil.copyfile(plain, work)
            t0 = cpu()
            fd = os.open(work, os.O_RDWR)
            head = record.add_record(fd, pct, str(work))
            os.close(fd)
            enc = cpu() - t0
            good = work.read_bytes()
            bad = root / "bad.bbx"
            bad.write_bytes(damage(good, head, pct))
            t0 = cpu()
            report = repair(bad, root / "fixed.bbx", force=True)
            rep = cpu() - t0
            same = (root / "fixed.bbx").read_bytes() == good
            print(f"{'bbx':9} {pct:>3}% {len(good) / size - 1:>8.2%} {size / 1e6 / enc:>16.1f} "
                  f"{size / 1e6 / rep:>16.1f}  {len(report.damage.bad_data):>6}  {same}")
            if shutil.which("par2"):
                par(root, plain, pct, size)
            reed(plain, pct, size)


def par(root: Path, plain: Path, pct: int, size: int) -> None:
    d = root / f"par{pct}"
    d.mkdir()
    target = d / "a.bbx"
    shutil.copyfile(plain, target)
    t0 = cpu(resource.RUSAGE_CHILDREN)
    subprocess.run(["par2", "create", "-q", "-q", f"-r{pct}", "-n1", "-t1", "a.bbx"], cwd=d, stdout=subprocess.DEVNULL,
                   check=True)
    enc = cpu(resource.RUSAGE_CHILDREN) - t0
    extra = sum(p.stat().st_size for p in d.glob("*.par2"))
    good = target.read_bytes()
    bad = bytearray(good)
    rng = random.Random(pct)
    for off in rng.sample(range(len(bad)), 20):
        bad[off] ^= 1
    target.write_bytes(bytes(bad))
    t0 = cpu(resource.RUSAGE_CHILDREN)
    subprocess.run(["par2", "repair", "-q", "-q", "-t1", "a.bbx.par2"], cwd=d,
                   check=False, stdout=subprocess.DEVNULL)
    rep = cpu(resource.RUSAGE_CHILDREN) - t0
    same = target.read_bytes() == good
    print(f"{'par2':9} {pct:>3}% {extra / size:>8.2%} {size / 1e6 / enc:>16.1f} "
          f"{size / 1e6 / rep:>16.1f}  {'20 flips':>6}  {same}")


def reed(plain: Path, pct: int, size: int) -> None:
    try:
        import creedsolo as rs_lib
    except ImportError:
        try:
            import reedsolo as rs_lib
        except ImportError:
            return
    nsym = max(2, round(255 * pct / 100))
    codec = rs_lib.RSCodec(nsym)
    data = plain.read_bytes()[:(8 << 20) if rs_lib.__name__ == "creedsolo" else (1 << 20)]
    t0 = cpu()
    coded = codec.encode(bytearray(data))
    enc = cpu() - t0
    bad = bytearray(coded)
    rng = random.Random(pct)
    for start in range(0, len(bad), 255):       # a third of what each codeword can correct
        for off in rng.sample(range(min(255, len(bad) - start)), max(1, nsym // 6)):
            bad[start + off] ^= 1
    t0 = cpu()
    fixed = codec.decode(bad)[0]
    rep = cpu() - t0
    print(f"{rs_lib.__name__:9} {pct:>3}% {nsym / (255 - nsym):>8.2%} {len(data) / 1e6 / enc:>16.1f} "
          f"{len(data) / 1e6 / rep:>16.1f}  {'1/3 cap':>6}  {bytes(fixed) == data}")


if __name__ == "__main__":
    main()
