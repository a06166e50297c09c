"""Coverage-guided fuzzing (atheris/libFuzzer) of everything that reads untrusted bytes: the
container reader (open, list, verify --quick, verify) and each codec's decoder. Run outside CI
(atheris: `pip install -e '.[fuzz]'`):

    PYTHONPATH=$PWD python benchmarks/fuzz_bbx.py TARGET [libFuzzer flags]
    e.g.  ... fuzz_bbx.py container -runs=1000000 -timeout=10 -rss_limit_mb=2048 \\
              -print_final_stats=1 /tmp/corpus-container tests/fuzz_corpus/container

TARGET: container, container-fixed (the same after every header, block and trailer checksum
in the input is recomputed, so mutations reach the checks behind the CRCs), recovery (find,
check and repair against a recovery record), recovery-fixed (the same after the recovery
descriptors' CRCs are recomputed), store, zstd, text, image, jpeg. Only archiver.errors.BBXError may come out of a target;
anything else is a crash, a run over -timeout seconds a hang, over -rss_limit_mb a memory
failure (libFuzzer reports all three and saves the input). Every crash found is kept in
tests/fuzz_corpus/TARGET/ and replayed by tests/test_fuzz_regressions.py.

Codec inputs: 4 bytes little-endian raw size (reduced to at most 1 MiB and to what the
container lets a codec be asked for: its max_ratio bound), then the payload."""
from __future__ import annotations

import os
import struct
import sys
import tempfile
import zlib

from archiver import errors
from archiver.codecs import registry
from archiver.codecs.base import RATIO_SLACK
from archiver.container import layout
from archiver.container.reader import ArchiveReader
from archiver.container.verify import verify

CODEC_IDS = {"store": 0x00, "zstd": 0x01, "text": 0x10, "image": 0x20, "jpeg": 0x30}
MAX_CODEC_RAW = 1 << 20
_scratch = tempfile.NamedTemporaryFile(prefix="bbx-fuzz-", suffix=".bbx",
                                       dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


def run_container(data: bytes) -> None:
    """Open, list, verify quickly and fully; only BBXError may escape."""
    _scratch.seek(0)
    _scratch.truncate()
    _scratch.write(data)
    _scratch.flush()
    try:
        with ArchiveReader(_scratch.name) as r:
            for e in r.entries:
                r.chunks_of(e)
            verify(r, quick=True)
            verify(r, quick=False)
    except errors.BBXError:
        pass


_repaired = os.path.join(os.path.dirname(_scratch.name), "bbx-fuzz-repaired.bbx")


def run_recovery(data: bytes) -> None:
    """Check an archive against its recovery record and repair it; only BBXError may escape,
    and an archive repaired whole must check clean against its record."""
    from archiver.recovery.repair import assess, repair
    _scratch.seek(0)
    _scratch.truncate()
    _scratch.write(data)
    _scratch.flush()
    try:
        assess(_scratch.name)
        report = repair(_scratch.name, _repaired, force=True)
    except errors.BBXError:
        return
    if report.damage.repairable and report.written:
        again, _ = assess(_repaired)                # a whole repair leaves nothing to repair
        assert again is not None and not again.damaged, again and again.summary()


def fix_recovery(data: bytes) -> bytes:
    """Recompute the CRC of every recovery descriptor in the input (from each descriptor
    magic on), so mutations of the geometry reach the checks behind it."""
    buf = bytearray(data)
    at = buf.find(layout.RECOVERY_MAGIC)
    while at >= 0 and at + layout.RECOVERY_HEAD.size <= len(buf):
        try:
            head = layout.parse_recovery_head(bytes(buf[at:at + layout.RECOVERY_HEAD.size]), "")
        except errors.BBXError:
            at = buf.find(layout.RECOVERY_MAGIC, at + 1)
            continue
        end = at + head.descriptor_size
        if end <= len(buf):
            struct.pack_into("<I", buf, end - 4, zlib.crc32(buf[at:end - 4]))
        at = buf.find(layout.RECOVERY_MAGIC, at + 1)
    return bytes(buf)


def fix_checksums(data: bytes) -> bytes:
    """Recompute the CRCs of the header, of each block header and payload walked from the
    header on, and of the trailer: the fuzzer's changes then look like hostile, not damaged,
    input."""
    buf = bytearray(data)
    fixed = layout.HEADER_FIXED
    if len(buf) < fixed.size or buf[:8] != layout.MAGIC:
        return bytes(buf)
    size = fixed.unpack_from(buf)[6]
    if not fixed.size + 4 <= size <= len(buf):
        return bytes(buf)
    struct.pack_into("<I", buf, size - 4, zlib.crc32(buf[:size - 4]))
    pos = size
    while pos + layout.BLOCK.size <= len(buf) - layout.TRAILER.size:
        kind, codec, flags, _, raw, stored, _ = layout.BLOCK.unpack_from(buf, pos)
        end = pos + layout.BLOCK.size + stored
        if end > len(buf) - layout.TRAILER.size:
            break
        crc = zlib.crc32(buf[pos + layout.BLOCK.size:end])
        head = layout.BLOCK.pack(kind, codec, flags, crc, raw, stored, 0)[:-4]
        buf[pos:pos + layout.BLOCK.size] = head + struct.pack("<I", zlib.crc32(head))
        pos = end
    if len(buf) >= layout.TRAILER.size:
        t = len(buf) - layout.TRAILER.size
        struct.pack_into("<I", buf, t + 8, zlib.crc32(buf[t:t + 8]))
    return bytes(buf)


def run_codec(codec_id: int, data: bytes) -> None:
    if len(data) < 4:
        return
    codec = registry.get(codec_id)
    payload = data[4:]
    limit = MAX_CODEC_RAW
    if codec.max_ratio is not None:         # what the container lets through to the decoder
        limit = min(limit, codec.max_ratio * len(payload) + RATIO_SLACK)
    size = int.from_bytes(data[:4], "little") % (limit + 1)
    try:
        out = codec.decode(payload, size)
    except errors.BBXError:
        return
    assert len(out) == size, (len(out), size)


def target(name: str):
    if name == "container":
        return run_container
    if name == "container-fixed":
        return lambda data: run_container(fix_checksums(data))
    if name == "recovery":
        return run_recovery
    if name == "recovery-fixed":
        return lambda data: run_recovery(fix_recovery(data))
    codec_id = CODEC_IDS[name]
    return lambda data: run_codec(codec_id, data)


TARGETS = ("container", "container-fixed", "recovery", "recovery-fixed", *CODEC_IDS)


def _warm_up(fn, dirs: list[str]) -> None:
    """Run every seed once before instrumenting: the decoders import their models lazily, and
    only code already loaded gets instrumented (a lazily imported module would be invisible
    to the fuzzer's coverage)."""
    for d in dirs:
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else ():
            with open(os.path.join(d, name), "rb") as f:
                fn(f.read())


def _instrument_ours(atheris) -> None:
    """Coverage of bbx's own Python code only (archiver, cython_ans): numpy's and the standard
    library's wrappers are not what is fuzzed here, and instrumenting them cost the image
    target 40% of its speed (48 -> 83 inputs/s side by side)."""
    import gc
    import types
    import archiver
    import cython_ans
    roots = tuple(os.path.dirname(m.__file__) + os.sep for m in (archiver, cython_ans))
    funcs = [f for f in gc.get_objects()
             if isinstance(f, types.FunctionType) and f.__code__.co_filename.startswith(roots)]
    for f in funcs:
        atheris.instrument_func(f)
    print(f"INFO: instrumented {len(funcs)} functions of bbx", file=sys.stderr)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0 if len(sys.argv) > 1 else 2)
    if sys.argv[1] not in TARGETS:
        raise SystemExit(f"fuzz_bbx: unknown target {sys.argv[1]!r}; one of {', '.join(TARGETS)}")
    import atheris                  # only here: tests replay the corpus without it
    fn = target(sys.argv[1])
    _warm_up(fn, [a for a in sys.argv[2:] if not a.startswith("-")])
    _instrument_ours(atheris)
    atheris.Setup([sys.argv[0]] + sys.argv[2:], fn)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
