"""Codec 0x30 (archiver/codecs/jpeg.py): JPEGs made here with Pillow, well-formed and damaged,
go through the codec and through whole archives byte for byte, or quietly to zstd/store; hostile
payloads give CorruptChunk and never take the process down. Lepton is a declared dependency:
these tests fail, not skip, when it is missing."""
from __future__ import annotations

import os

import pytest

import archiver
from archiver.codecs import jpeg, jpeg_sandbox, registry
from archiver.codecs.base import Declined
from archiver.codecs.jpeg import JPEG
from archiver.container.router import JPEG as JPEG_CLASS, classify
from archiver.errors import CorruptChunk, MissingDecoder
from tests.jpeg_samples import malformed_samples, valid_samples

VALID = valid_samples()
MALFORMED = malformed_samples()
LEPTON_TAKES = sorted(set(VALID) - {"cmyk"})


def test_library_installed_and_codec_registered():
    import lepton_jpeg_python  # noqa: F401 - a declared dependency: its absence is a failure
    assert registry.get(0x30) is JPEG
    assert JPEG.content_classes == frozenset({JPEG_CLASS})
    assert JPEG.model_hashes() == ()
    assert all(classify(data) == JPEG_CLASS for data in VALID.values())


@pytest.mark.parametrize("name", LEPTON_TAKES)
def test_roundtrip_smaller(name):
    data = VALID[name]
    assert JPEG.accepts(data[:65536], name)
    payload = JPEG.encode(data, 19)
    assert payload[:2] == bytes((jpeg.LEPTON, jpeg.LEPTON_FORMAT))
    assert payload[2:4] == jpeg.LEPTON_MAGIC
    assert len(payload) < len(data)
    assert JPEG.decode(payload, len(data)) == data


def test_progress_reports_every_byte():
    data, seen = VALID["baseline"], []
    payload = JPEG.encode(data, 19, progress=seen.append)
    assert sum(seen) == len(data)
    seen.clear()
    JPEG.decode(payload, len(data), progress=seen.append)
    assert sum(seen) == len(data)


def _with_frame(data: bytes, marker: int | None = None, precision: int | None = None) -> bytes:
    """The JPEG with its SOF marker or sample precision changed (heads only: for accepts)."""
    at = data.index(b"\xff\xc0")
    out = bytearray(data)
    if marker is not None:
        out[at + 1] = marker
    if precision is not None:
        out[at + 4] = precision
    return bytes(out)


@pytest.mark.parametrize("head,want", [
    (VALID["baseline"], True), (VALID["progressive"], True), (VALID["grayscale"], True),
    (VALID["cmyk"], False),                                    # 4 components
    (_with_frame(VALID["baseline"], marker=0xC9), False),      # arithmetic coded
    (_with_frame(VALID["baseline"], marker=0xC3), False),      # lossless
    (_with_frame(VALID["baseline"], precision=12), False),     # 12-bit
    (b"\xff\xd8\xff\xe1" + b"\xff\xff" + bytes(100), True),    # frame beyond the head: Lepton decides
    (b"GIF89a", False),
], ids=["baseline", "progressive", "gray", "cmyk", "arithmetic", "lossless", "12bit", "long-exif", "gif"])
def test_accepts_frames_lepton_codes(head, want):
    assert JPEG.accepts(head, "x") is want


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_exact_or_declined(name):
    data = MALFORMED[name]
    try:
        payload = JPEG.encode(data, 19)
    except Declined:
        return
    assert JPEG.decode(payload, len(data)) == data


def test_declines_what_lepton_refuses():
    with pytest.raises(Declined):
        JPEG.encode(VALID["cmyk"], 19)
    with pytest.raises(Declined):
        JPEG.encode(MALFORMED["garbage_after_signature"], 19)


def _tree(tmp_path, samples: dict[str, bytes]):
    src = tmp_path / "photos"
    src.mkdir()
    for name, data in samples.items():
        (src / f"{name}.jpg").write_bytes(data)
    (src / "notes.txt").write_bytes(b"not a photo\n" * 50)
    return src


def _roundtrip(tmp_path, src):
    report = archiver.create(str(tmp_path / "a.bbx"), [str(src)])
    with archiver.open(str(tmp_path / "a.bbx")) as arc:
        codecs = {os.path.basename(r["path"]): r["codec"] for r in arc.rows() if r["type"] == "file"}
        out = tmp_path / "out"
        result = arc.extract(str(out))
    assert result.errors == []
    for p in src.iterdir():
        assert (out / "photos" / p.name).read_bytes() == p.read_bytes(), p.name
    return report, codecs


def test_archive_of_every_kind_byte_for_byte(tmp_path):
    src = _tree(tmp_path, VALID)
    report, codecs = _roundtrip(tmp_path, src)
    assert report.warnings == []
    zstd = registry.get(0x01)
    for name in LEPTON_TAKES:       # the smallest wins: zstd on tiny JPEGs that are mostly tables
        data = VALID[name]
        lepton_wins = len(JPEG.encode(data, 19)) < len(zstd.encode(data, 19))
        assert codecs[f"{name}.jpg"] == ("jpeg" if lepton_wins else "zstd"), name
    assert codecs["baseline.jpg"] == codecs["progressive.jpg"] == "jpeg"
    assert codecs["cmyk.jpg"] in ("zstd", "store")


def test_archive_of_damaged_jpegs_quietly_falls_back(tmp_path):
    src = _tree(tmp_path, MALFORMED)
    report, codecs = _roundtrip(tmp_path, src)
    assert report.warnings == []                    # declining is not a failure
    assert codecs["garbage_after_signature.jpg"] in ("zstd", "store")
    assert codecs["baseline_trailing_bytes.jpg"] == "jpeg"


def _payload() -> tuple[bytes, int]:
    data = VALID["baseline"]
    return JPEG.encode(data, 19), len(data)


@pytest.mark.parametrize("damage", [
    lambda p: p[:1], lambda p: b"\x07" + p[1:], lambda p: p[:1] + b"\x09" + p[2:],
    lambda p: p[:2], lambda p: p[:len(p) // 2], lambda p: p[:40] + bytes(len(p) - 40),
    lambda p: p[:2] + os.urandom(len(p) - 2), lambda p: p[:60] + bytes([p[60] ^ 0xFF]) + p[61:],
    lambda p: p + b"junk",
], ids=["header-cut", "library", "format", "empty-stream", "half", "zeroed", "random",
        "flip", "appended"])
def test_hostile_payloads_raise_corrupt_chunk(damage):
    payload, size = _payload()
    bad = damage(payload)
    try:
        out = JPEG.decode(bad, size)
    except CorruptChunk:
        return
    # Lepton may ignore damage in padding; what it returns must still be the right size.
    assert len(out) == size


def test_wrong_size_is_corrupt():
    payload, size = _payload()
    with pytest.raises(CorruptChunk, match="expected"):
        JPEG.decode(payload, size + 1)


def test_helper_death_is_contained_and_it_restarts():
    payload, size = _payload()
    helper = JPEG._helper()
    JPEG.decode(payload, size)
    helper._proc.kill()
    helper._proc.wait()
    with pytest.raises(CorruptChunk, match="helper process"):
        JPEG.decode(payload, size)
    assert JPEG.decode(payload, size) == VALID["baseline"]      # a fresh helper


def test_time_limit_is_enforced(monkeypatch):
    payload, size = _payload()
    monkeypatch.setattr(jpeg_sandbox, "BASE_SECONDS", 0.0)
    monkeypatch.setattr(jpeg_sandbox, "SECONDS_PER_MB", 0.0)
    with pytest.raises(CorruptChunk, match="ran out of time"):
        JPEG.decode(payload, size)
    with pytest.raises(Declined, match="ran out of time"):
        JPEG.encode(VALID["baseline"], 19)


def test_memory_limit_is_enforced():
    """A helper capped below what Lepton needs for a large image says no; bbx lives on."""
    from tests.jpeg_samples import photo, save
    big = save(photo(512, 256, seed=8).resize((4096, 2048)), quality=90)   # Lepton needs ~45 MB
    small = jpeg_sandbox.Sandbox(memory_limit=30 << 20)     # the helper starts in ~16 MB
    try:
        with pytest.raises(jpeg_sandbox.Refused):
            small.encode(big)
        assert small.encode(VALID["baseline"])[:2] == jpeg.LEPTON_MAGIC    # still serving
    finally:
        small.close()


def test_missing_library_refuses_clearly(tmp_path, monkeypatch):
    src = _tree(tmp_path, {"baseline": VALID["baseline"]})
    archiver.create(str(tmp_path / "a.bbx"), [str(src)])
    monkeypatch.setattr(jpeg, "MODULE", "no_such_lepton_module")
    with pytest.raises(MissingDecoder):
        JPEG.model_hashes()
    with archiver.open(str(tmp_path / "a.bbx")) as arc:
        report = arc.extract(str(tmp_path / "out"))
    assert len(report.errors) == 1
    err = report.errors[0]
    assert isinstance(err, MissingDecoder)
    assert "no_such_lepton_module" in str(err) and "baseline.jpg" in str(err)
    assert (tmp_path / "out" / "photos" / "notes.txt").exists()      # the rest still extracts
    assert not (tmp_path / "out" / "photos" / "baseline.jpg").exists()


# -- speed: zstd skipped where it cannot win, Lepton's threads ------------------------------

def _big_photo() -> bytes:
    """A JPEG large enough for Lepton to split into several segments (and for a copy of it
    behind it to lie beyond zlib's 32 KiB window)."""
    from tests.jpeg_samples import photo, save
    return save(photo(320, 240, seed=11).resize((1280, 960)), quality=95, subsampling=0)


def test_entropy_coded_bytes_counts_only_scan_data():
    def seg(marker: int, body: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + (len(body) + 2).to_bytes(2, "big") + body
    scan = b"ab\xff\x00cd\xff\xd0ef"                 # a stuffed 0xFF and a restart marker inside
    data = (b"\xff\xd8" + seg(0xE1, b"Exif" + bytes(100)) + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
            + scan + b"\xff\xff" + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + scan + b"\xff\xd9")
    assert jpeg.entropy_coded_bytes(data) == 2 * len(scan)
    assert jpeg.entropy_coded_bytes(data + b"trailing" * 100) == 2 * len(scan)
    assert jpeg.entropy_coded_bytes(data[:-2]) == 2 * len(scan)      # no EOI
    assert jpeg.entropy_coded_bytes(b"\xff\xd8garbage") == 0


def _floor_cases() -> dict[str, bytes]:
    big = _big_photo()
    text = b"".join(sorted(p.read_bytes() for p in (
        __import__("pathlib").Path(archiver.__file__).parent / "container").glob("*.py")))
    from PIL import Image
    from tests.jpeg_samples import save
    from tests.jpeg_samples import photo
    # flat grayscale: zstd -19 gains 10% over zstd -1 on it (long repeats, better parse)
    flat = save(photo(64, 48, seed=3, mode="L").resize((2048, 1536), Image.BICUBIC), quality=90)
    return {**{k: VALID[k] for k in LEPTON_TAKES}, "big": big, "big+copy": big + big,
            "big+text": big + text, "baseline+zeros": VALID["baseline"] + bytes(50_000),
            "flat_grayscale": flat, "big+flat": big + flat}


@pytest.mark.parametrize("level", [9, 19, 22])
def test_zstd_floor_is_below_what_zstd_reaches(level):
    """The floor under which the chunk coder skips zstd is never above zstd's real payload
    (else a payload zstd would beat could be kept), whatever follows or precedes the image."""
    from archiver.codecs.zstd_codec import quick_size
    zstd = registry.get(0x01)
    for name, data in _floor_cases().items():
        floor = JPEG.zstd_floor(data, lambda: quick_size(data, level))
        assert floor <= len(zstd.encode(data, level)), (name, level)


def test_chunk_coder_skips_zstd_only_where_it_cannot_win(monkeypatch):
    from archiver.container.chunk_coder import ChunkCoder
    coder = ChunkCoder(19, allowed={0x01, 0x30})
    zstd, calls = registry.get(0x01), []
    real = type(zstd).encode
    monkeypatch.setattr(type(zstd), "encode",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    big = _big_photo()
    assert coder.code(big, "a.jpg", JPEG_CLASS)[0] == 0x30 and calls == []    # far ahead: skipped
    # A JPEG followed by a copy of itself: Lepton keeps the copy (zlib sees 32 KiB back), zstd
    # finds it whole, so zstd must run, and win.
    twice = big + big
    codec_id, payload = coder.code(twice, "b.jpg", JPEG_CLASS)
    assert calls and codec_id == 0x01
    assert len(payload) < len(JPEG.encode(twice, 19))
    assert zstd.decode(payload, len(twice)) == twice


def test_lepton_stream_and_archive_same_whatever_the_threads(tmp_path):
    big = _big_photo()
    helper = jpeg_sandbox.Sandbox()
    try:
        one, two = helper.encode(big, threads=1), helper.encode(big, threads=2)
        assert one == two
        assert helper.decode(one, len(big), threads=2) == big
        assert helper.decode(one, len(big), threads=1) == big
    finally:
        helper.close()
    src = tmp_path / "photos"
    src.mkdir()
    (src / "big.jpg").write_bytes(big)
    (src / "small.jpg").write_bytes(VALID["baseline"])
    digests = set()
    for jobs in (1, 2):        # one chunk alone: 1 thread, then every core
        archiver.create(str(tmp_path / f"{jobs}.bbx"), [str(src)], jobs=jobs)
        digests.add((tmp_path / f"{jobs}.bbx").read_bytes())
        with archiver.open(str(tmp_path / f"{jobs}.bbx")) as arc:
            assert arc.extract(str(tmp_path / f"out{jobs}"), jobs=jobs).errors == []
        assert (tmp_path / f"out{jobs}" / "photos" / "big.jpg").read_bytes() == big
    assert len(digests) == 1
