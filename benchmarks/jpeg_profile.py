"""Where the JPEG codec's create and extract time goes, per step, in CPU seconds (the helper
process's own time read from /proc, so the load of other users does not count):

    PYTHONPATH=. python benchmarks/jpeg_profile.py FILE_OR_DIR [...]

Steps: Lepton encode with its round-trip decode in the helper, and a decode alone (so the
encode alone is the difference), the pipe copies to and from the helper (the
bbx process's CPU during a request), the zstd floor (entropy_coded_bytes + quick_size), zstd
at 19 (what create ran on every JPEG before the floor), and extract's decode.
"""
from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from archiver.codecs.jpeg import JPEG, entropy_coded_bytes
from archiver.codecs.zstd_codec import ZSTD, quick_size

TICK = os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def helper_cpu() -> float:
    """CPU seconds of this process's JPEG helper so far."""
    fields = Path(f"/proc/{JPEG._helper()._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    paths = []
    for arg in sys.argv[1:]:
        p = Path(arg)
        paths += sorted(p.iterdir()) if p.is_dir() else [p]
    steps: dict[str, float] = {}

    def add(name: str, seconds: float) -> None:
        steps[name] = steps.get(name, 0.0) + seconds

    total = 0
    helper = JPEG._helper()
    for p in paths:
        data = p.read_bytes()
        total += len(data)
        c = own_cpu()
        entropy_coded_bytes(data)
        quick_size(data, 19)
        add("zstd floor: entropy_coded_bytes + quick zstd", own_cpu() - c)
        c = own_cpu()
        ZSTD.encode(data, 19)
        add("zstd -19 (no longer run when the floor holds)", own_cpu() - c)
        try:
            helper._call(b"E", data, len(data), 1)        # starts the helper if needed
        except Exception:  # noqa: BLE001 - refused by Lepton: not part of the profile
            continue
        h, c = helper_cpu(), own_cpu()
        stream = helper.encode(data)                      # encode + round-trip decode
        add("helper: Lepton encode + check decode", helper_cpu() - h)
        add("bbx process during the request (pipe copies)", own_cpu() - c)
        h = helper_cpu()
        back = helper.decode(stream, len(data))
        add("helper: Lepton decode (extract)", helper_cpu() - h)
        assert back == data
    mb = total / 1e6
    print(f"{len(paths)} files, {mb:.1f} MB; CPU seconds and MB per CPU-second per step")
    for name, sec in steps.items():
        print(f"  {name:50s} {sec:8.2f} s  {mb / sec if sec else float('inf'):9.1f} MB/s")
    both = steps["helper: Lepton encode + check decode"]
    dec = steps["helper: Lepton decode (extract)"]
    print(f"  {'(so Lepton encode alone, the difference)':50s} {both - dec:8.2f} s  "
          f"{mb / (both - dec):9.1f} MB/s")


if __name__ == "__main__":
    main()
