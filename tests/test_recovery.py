"""Recovery records: the GF(2^8) core against its numpy twin, the Reed-Solomon code against
erasures, and real archives damaged (bit flips, zeroed bursts, truncation, a damaged header,
damage inside the record) and repaired byte for byte; damage beyond the record's capacity is
an error naming what is lost."""
from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

import archiver
from archiver.container import layout
from archiver.errors import (CorruptArchive, DamagedRepairable, Unrepairable, UsageError,
                             WouldOverwrite)
from archiver.recovery import _gf256, gf_reference, record
from archiver.recovery.code import Accumulator, coefficient, columns, decoder
from archiver.recovery.repair import assess, open_checked, repair
from conftest import BBX_CMD, BBX_ENV, snapshot, write_tree


# -- the field and the code --------------------------------------------------------------------

def test_c_field_matches_numpy_twin():
    for a in range(256):
        for b in range(0, 256, 7):
            assert _gf256.mul(a, b) == gf_reference.mul(a, b)
        if a:
            assert _gf256.mul(a, _gf256.inv(a)) == 1 == gf_reference.mul(a, gf_reference.inv(a))
    with pytest.raises(ZeroDivisionError):
        _gf256.inv(0)


@pytest.mark.parametrize("n", [1, 15, 16, 31, 33, 100, 4096 + 77])
def test_c_muladd_matches_numpy_twin(n):
    rng = np.random.default_rng(n)
    coefs = rng.integers(0, 256, 5, dtype=np.uint8)
    src = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    start = rng.integers(0, 256, (5, n + 9), dtype=np.uint8)   # rows longer than the source
    c_rows, ref_rows = start.copy(), start.copy()
    _gf256.muladd_rows(c_rows, coefs, src)
    gf_reference.muladd_rows(ref_rows, coefs, src)
    assert np.array_equal(c_rows, ref_rows)
    assert np.array_equal(c_rows[:, n:], start[:, n:])      # past the source: untouched


def test_cauchy_code_recovers_any_erasures_up_to_parity():
    rng = random.Random(3)
    k, m, b = 20, 4, 48
    data = [rng.randbytes(b) for _ in range(k)]
    parity = Accumulator.zeros(m, b)
    cols = columns(m, k)
    for i, block in enumerate(data):
        parity.add(cols[i], block)
    for trial in range(30):
        lost = sorted(rng.sample(range(k), rng.randint(1, m)))
        rows = sorted(rng.sample(range(m), len(lost)))
        syn = Accumulator.zeros(len(rows), b)
        for i in range(k):
            if i not in lost:
                syn.add([coefficient(j, i) for j in rows], data[i])
        for r, j in enumerate(rows):
            syn.rows[r] ^= parity.rows[j]
        out = Accumulator.zeros(len(lost), b)
        x = decoder(lost, rows)
        for r in range(len(rows)):
            out.add(x[:, r], syn.rows[r].tobytes())
        assert [out.rows[n].tobytes() for n in range(len(lost))] == [data[i] for i in lost]


def test_geometry_gives_at_least_the_share_asked_for():
    for size in (1, 1000, 123_457, 5_000_000, 3 << 30):
        for pct in (1, 5, 20, 50):
            b, g, m = record.geometry(size, pct)
            n = -(-size // b)
            assert b % layout.RECOVERY_ALIGN == 0 and -(-n // g) + m <= 256
            assert g * m * b >= size * pct / 100
    for bad in (0, 51):
        with pytest.raises(UsageError):
            record.geometry(1000, bad)


# -- archives ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A few-chunk archive (~400 KB, several recovery groups) with a 5% record, and the
    same archive without one."""
    root = tmp_path_factory.mktemp("rec")
    rng = random.Random(11)
    spec = {f"f{i:02d}.bin".encode(): rng.randbytes(rng.randint(1000, 40000)) for i in range(20)}
    spec[b"text.txt"] = b"some text that compresses well\n" * 2000
    spec[b"sub/link"] = ("link", b"../text.txt")
    write_tree(root / "src", spec)
    plain, protected = root / "plain.bbx", root / "prot.bbx"
    archiver.create(plain, [root / "src"], chunk_size=64 << 10, codecs=["zstd"], jobs=1)
    archiver.create(protected, [root / "src"], chunk_size=64 << 10, codecs=["zstd"], jobs=1,
                    recovery=5)
    return root, plain, protected


def _head(path: Path):
    fd, rec, dmg = open_checked(path)
    os.close(fd)
    assert rec is not None and not dmg.damaged
    return rec.head


def _beyond_capacity(protected: Path, tmp_path: Path) -> tuple[Path, bytes]:
    """A copy of `protected` with a zeroed burst two blocks per group past what its record
    repairs, at tmp_path/bad.bbx, and its bytes."""
    data = protected.read_bytes()
    head = _head(protected)
    start = 200_000
    burst = head.block_size * head.groups * (head.parity + 2)
    bad = data[:start] + bytes(burst) + data[start + burst:]
    damaged = tmp_path / "bad.bbx"
    damaged.write_bytes(bad)
    return damaged, bad


def _repaired(tmp_path: Path, original: bytes, bad: bytes):
    damaged = tmp_path / "bad.bbx"
    damaged.write_bytes(bad)
    report = repair(damaged, tmp_path / "fixed.bbx", force=True)
    return report, (tmp_path / "fixed.bbx").read_bytes() == original


def test_record_keeps_the_archive_readable_as_before(made, tmp_path):
    root, plain, protected = made
    head = _head(protected)
    assert head.groups > 1 and head.protected == plain.stat().st_size
    data = protected.read_bytes()
    assert data[9] == layout.MINOR_TAIL_BLOCKS
    # the protected bytes are the plain archive's, with the header's minor version and the
    # trailer's index offset changed: nothing else moves
    prot = data[:head.offset] + data[head.offset + head.record_size:]
    old = plain.read_bytes()
    hsize = layout.parse_header(data, "")[1]
    assert prot[hsize:head.offset] == old[hsize:head.offset]
    assert prot[head.offset:-layout.TRAILER.size] == old[head.offset:-layout.TRAILER.size]
    overhead = len(data) / len(old) - 1
    assert 0.05 <= overhead < 0.08
    with archiver.open(protected) as a, archiver.open(plain) as b:
        assert [e.path for e in a.entries] == [e.path for e in b.entries]
        report = a.verify()
        assert report.ok and report.recovery is not None and not report.recovery.damaged
        a.extract(tmp_path / "out")
    assert snapshot(tmp_path / "out" / "src") == snapshot(root / "src")


def test_a_1_0_reader_reads_an_archive_with_a_record(made, tmp_path, monkeypatch):
    """bbx 1.0 refused block kind 4 and ignored the minor version: it finds every block
    through the index and never meets the record."""
    root, _, protected = made
    real = layout.parse_block

    def old_parse_block(buf, where, what):
        if buf[0] == layout.BLOCK_RECOVERY:
            raise CorruptArchive(where, f"{what}: unknown block kind 4")
        return real(buf, where, what)
    monkeypatch.setattr(layout, "parse_block", old_parse_block)
    with archiver.open(protected) as a:
        assert not a.problems
        report = a.extract(tmp_path / "out")
    assert not report.errors
    assert snapshot(tmp_path / "out" / "src") == snapshot(root / "src")


def _flip(data: bytes, offsets) -> bytes:
    bad = bytearray(data)
    for off in offsets:
        bad[off] ^= 1 << (off % 8)
    return bytes(bad)


def test_scattered_bit_flips_are_repaired(made, tmp_path):
    _, _, protected = made
    data = protected.read_bytes()
    rng = random.Random(5)
    flips = rng.sample(range(len(data)), 25) + [0, 10, len(data) - 1]   # header and trailer too
    report, same = _repaired(tmp_path, data, _flip(data, flips))
    assert report.damage.repairable and same and report.repaired_blocks > 0


def test_zeroed_burst_within_capacity_is_repaired(made, tmp_path):
    _, _, protected = made
    data = protected.read_bytes()
    head = _head(protected)
    burst = head.block_size * head.groups * (head.parity - 1)      # M-1 blocks in every group
    start = len(data) // 3
    bad = data[:start] + bytes(burst) + data[start + burst:]
    report, same = _repaired(tmp_path, data, bad)
    assert same and report.damage.repairable


def test_truncated_tail_is_restored(made, tmp_path):
    _, _, protected = made
    data = protected.read_bytes()
    head = _head(protected)
    for cut in (1, layout.TRAILER.size, len(data) - head.offset - head.record_size + 100):
        report, same = _repaired(tmp_path, data, data[:-cut])
        assert same, cut


def test_damage_inside_the_record_is_repaired(made, tmp_path):
    _, _, protected = made
    data = protected.read_bytes()
    head = _head(protected)
    first, second = record.descriptor_positions(head)
    spots = [head.offset + 3,                                 # its block header
             first + 40, first + head.descriptor_size - 1,     # the first descriptor
             record.parity_pos(head, 0) + 7,                   # parity blocks
             record.parity_pos(head, head.parity_blocks - 1),
             record.locator_pos(head) + 2]
    report, same = _repaired(tmp_path, data, _flip(data, spots))
    assert same and report.damage.bad_parity and report.damage.bad_frame
    # the second descriptor alone still finds the record (the locator is damaged too)
    bad = _flip(data, [first + 5, record.locator_pos(head) + 2, 2000])
    report, same = _repaired(tmp_path, data, bad)
    assert same
    # both descriptors damaged in different places: the two are merged
    bad = _flip(data, [first + 5, first + 300, second + 100, second + head.descriptor_size - 2])
    report, same = _repaired(tmp_path, data, bad)
    assert same
    # with both damaged in the same place there is no record left to repair with
    bad = _flip(data, [first + 5, second + 5])
    (tmp_path / "none.bbx").write_bytes(bad)
    with pytest.raises(CorruptArchive, match="no recovery record"):
        repair(tmp_path / "none.bbx")


def test_damage_beyond_capacity_names_what_is_lost(made, tmp_path):
    root, _, protected = made
    damaged, bad = _beyond_capacity(protected, tmp_path)
    dmg, verdict = assess(damaged)
    assert isinstance(verdict, Unrepairable) and "chunk" in verdict.message()
    report = repair(damaged, tmp_path / "part.bbx")
    assert not report.damage.repairable and report.written
    assert any(s.startswith("chunk ") and "files: src/" in s for s in report.lost)
    assert damaged.read_bytes() == bad                         # -o: the input is untouched
    with archiver.open(tmp_path / "part.bbx") as a:            # the rest still extracts
        out = a.extract(tmp_path / "out")
    lost = {n for e in out.errors for n in e.lost}
    assert lost
    got = snapshot(tmp_path / "out" / "src")
    want = snapshot(root / "src")
    for rel, value in got.items():
        assert value[:2] == want[rel][:2]
    assert {os.fsencode(n).removeprefix(b"src/") for n in lost} | set(got) >= {
        k for k, v in want.items() if v[0] == "file"}


def test_multi_pass_encoding_gives_the_same_record(made, tmp_path, monkeypatch):
    root, _, protected = made
    monkeypatch.setattr(record, "PARITY_MEMORY", 1)        # one group per pass
    again = tmp_path / "again.bbx"
    archiver.create(again, [root / "src"], chunk_size=64 << 10, codecs=["zstd"], jobs=1,
                    recovery=5)
    # same bytes except mtimes? the inputs are the same files: the archives are equal
    assert again.read_bytes() == protected.read_bytes()


def test_cli_verify_and_repair_in_place(made, tmp_path):
    _, _, protected = made
    data = protected.read_bytes()
    target = tmp_path / "c.bbx"
    target.write_bytes(_flip(data, [1, 50_000, 300_000]))
    run = lambda *args: subprocess.run(BBX_CMD + list(args), env=BBX_ENV, capture_output=True,
                                       text=True)
    v = run("verify", "--quick", str(target))
    assert v.returncode == DamagedRepairable.exit_code and "bbx repair" in v.stderr
    r = run("repair", str(target))
    assert r.returncode == 0 and "in place" in r.stdout
    assert target.read_bytes() == data
    assert run("verify", str(target)).returncode == 0
    assert run("repair", str(target)).stdout.strip().endswith("nothing to repair")
    bad = _flip(data, [1, 300_000])
    target.write_bytes(bad)
    x = run("extract", "-q", "-C", str(tmp_path / "x"), str(target))
    assert x.returncode == 0 and "repaired" in x.stderr and target.read_bytes() == bad
    bad = run("create", "--recovery", "80%", "-o", str(tmp_path / "x.bbx"), str(tmp_path / "c.bbx"))
    assert bad.returncode == 2 and "--recovery" in bad.stderr


def test_repair_does_not_overwrite_another_file_without_force(made, tmp_path):
    _, _, protected = made
    other = tmp_path / "other.bbx"
    other.write_bytes(b"keep me")
    with pytest.raises(WouldOverwrite):
        repair(protected, other)
    assert other.read_bytes() == b"keep me"
    repair(protected, other, force=True)
    assert other.read_bytes() == protected.read_bytes()


def test_repair_of_an_archive_without_record_is_refused(made, tmp_path):
    _, plain, _ = made
    with pytest.raises(CorruptArchive, match="no recovery record"):
        repair(plain, tmp_path / "x.bbx")
    assert not (tmp_path / "x.bbx").exists()


def test_salvage_walks_past_the_record(made, tmp_path):
    """Without repair, a lost trailer is salvaged from the blocks: the record is skipped."""
    root, _, protected = made
    data = protected.read_bytes()
    (tmp_path / "t.bbx").write_bytes(data[:-3])
    with archiver.open(tmp_path / "t.bbx") as a:
        assert a.problems and "recovered" in a.problems[0].message()
        with archiver.open(protected) as whole:
            assert len(a.entries) == len(whole.entries)


def test_damaged_header_costs_nothing_with_the_hashes_copy(tmp_path):
    """A model-coded archive carries its model hashes twice: a damaged header loses none."""
    write_tree(tmp_path / "src", {b"notes.txt": b"A short note about archives and models.\n" * 20})
    path = tmp_path / "m.bbx"
    archiver.create(path, [tmp_path / "src"], codecs=["text"], jobs=1)
    with archiver.open(path) as a:
        hashes = a.model_hashes
        if not hashes:
            pytest.skip("the text model is not usable here")
    data = bytearray(path.read_bytes())
    assert data[9] == layout.MINOR_TAIL_BLOCKS
    data[layout.HEADER_FIXED.size] ^= 0x04          # inside the first model hash
    path.write_bytes(bytes(data))
    with archiver.open(path) as a:
        assert a.model_hashes == hashes
        assert "nothing lost" in a.problems[0].message()
        report = a.extract(tmp_path / "out")
    assert [e.message() for e in report.errors] == [a.problems[0].message()]  # reported, no more
    assert snapshot(tmp_path / "out" / "src") == snapshot(tmp_path / "src")


def test_a_plain_1_0_archive_is_not_scanned(made, monkeypatch):
    """No record in an intact 1.0 archive: found out from its header, without reading it all."""
    _, plain, protected = made
    monkeypatch.setattr(record, "_scan", lambda *a: pytest.fail("scanned"))
    assert assess(plain) == (None, None)
    assert assess(protected)[0] is not None          # found through the locator, not a scan


def test_a_record_inside_a_stored_archive_is_not_taken_for_the_outer_one(made, tmp_path):
    """An archive holding another archive with a record, stored as is: the inner descriptor
    sits where its own geometry does not put it, so scanning the outer one skips it."""
    root, _, protected = made
    write_tree(tmp_path / "src", {b"inner.bbx": protected.read_bytes()})
    outer = tmp_path / "outer.bbx"
    archiver.create(outer, [tmp_path / "src"], codecs=["store"], jobs=1)
    data = outer.read_bytes()
    assert data.count(layout.RECOVERY_MAGIC) >= 2
    outer.write_bytes(_flip(data, [len(layout.MAGIC) + 8]))     # damaged header: it is scanned
    fd = os.open(outer, os.O_RDONLY)
    try:
        assert record.find(fd, "outer") is None
    finally:
        os.close(fd)


# -- extract repairs on its own ----------------------------------------------------------------

def _bbx_temps() -> set[str]:
    import tempfile
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("bbx-")}


def _damages(data: bytes, head):
    """Damage within the record's capacity: scattered bit flips (header and trailer too), a
    zeroed burst of M-1 blocks per group, a cut tail (trailer, index, into the record)."""
    burst = head.block_size * head.groups * (head.parity - 1)
    start = len(data) // 3
    rng = random.Random(7)
    yield "flips", _flip(data, rng.sample(range(len(data)), 20) + [0, 10, len(data) - 1])
    yield "burst", data[:start] + bytes(burst) + data[start + burst:]
    yield "tail", data[:-(len(data) - head.offset - head.record_size + 100)]


def test_cli_extract_repairs_within_capacity(made, tmp_path):
    root, _, protected = made
    data = protected.read_bytes()
    head = _head(protected)
    before = _bbx_temps()
    for kind, bad in _damages(data, head):
        target = tmp_path / f"{kind}.bbx"
        target.write_bytes(bad)
        x = subprocess.run(BBX_CMD + ["extract", "-q", "-C", str(tmp_path / kind), str(target)],
                           env=BBX_ENV, capture_output=True, text=True)
        assert x.returncode == 0, (kind, x.stderr)
        lines = x.stderr.strip().splitlines()
        assert len(lines) == 1 and "archive damaged" in lines[0], (kind, x.stderr)
        assert "repaired" in lines[0] and "recovery record" in lines[0]
        assert snapshot(tmp_path / kind / "src") == snapshot(root / "src"), kind
        assert target.read_bytes() == bad, kind                 # the archive is untouched
        assert not list(tmp_path.glob(".*.tmp")), kind
    assert _bbx_temps() == before                               # the copies are gone


def test_api_extract_repairs_within_capacity(made, tmp_path):
    root, _, protected = made
    data = protected.read_bytes()
    head = _head(protected)
    before = _bbx_temps()
    for kind, bad in _damages(data, head):
        target = tmp_path / f"{kind}.bbx"
        target.write_bytes(bad)
        if kind == "burst":             # opens as it is (the flips hit the magic): extract repairs
            with archiver.open(target) as a:
                report = a.extract(tmp_path / kind)
            assert not report.errors and "repaired" in report.repair_note, kind
            assert snapshot(tmp_path / kind / "src") == snapshot(root / "src"), kind
        with archiver.open(target, repair=True) as a:           # repaired before opening
            assert a.repair.repaired_bytes > 0 and not a.problems
            report = a.extract(tmp_path / f"{kind}2")
        assert not report.errors and "repaired" in report.repair_note, kind
        assert snapshot(tmp_path / f"{kind}2" / "src") == snapshot(root / "src"), kind
        assert target.read_bytes() == bad, kind
    assert _bbx_temps() == before


def test_extract_beyond_capacity_behaves_as_before(made, tmp_path):
    root, _, protected = made
    target, bad = _beyond_capacity(protected, tmp_path)
    x = subprocess.run(BBX_CMD + ["extract", "-q", "-C", str(tmp_path / "x"), str(target)],
                       env=BBX_ENV, capture_output=True, text=True)
    with archiver.open(target) as a:
        report = a.extract(tmp_path / "y")
    assert report.errors and report.repair_note is None
    assert x.returncode == report.errors[0].exit_code and "repaired" not in x.stderr
    assert snapshot(tmp_path / "x") == snapshot(tmp_path / "y")     # every undamaged file
    lost = {n for e in report.errors for n in e.lost}
    assert lost and all(n in x.stderr for n in lost)
    assert target.read_bytes() == bad


def test_damaged_record_alone_is_said_and_the_archive_read_as_is(made, tmp_path):
    root, _, protected = made
    data = protected.read_bytes()
    head = _head(protected)
    bad = _flip(data, [record.parity_pos(head, 0) + 7])
    target = tmp_path / "r.bbx"
    target.write_bytes(bad)
    with archiver.open(target) as a:
        report = a.extract(tmp_path / "out")
    assert not report.errors and "recovery record is damaged" in report.repair_note
    assert snapshot(tmp_path / "out" / "src") == snapshot(root / "src")
    assert target.read_bytes() == bad


def test_repaired_copy_is_tracked_for_signals(made, tmp_path):
    """Ctrl-C, SIGTERM and SIGHUP remove every tracked temporary file (archiver.cli.main):
    the repaired copy is one while it lives."""
    from archiver import tempfiles
    from archiver.recovery.auto import repaired
    _, _, protected = made
    data = protected.read_bytes()
    target = tmp_path / "b.bbx"
    target.write_bytes(_flip(data, [50_000]))
    with repaired(target) as fix:
        copy = Path(os.fsdecode(fix.path))
        assert copy.read_bytes() == data and copy.parent != tmp_path
        tempfiles.remove_all()          # what the signal handler does
        assert not copy.parent.exists()
    assert target.read_bytes() == _flip(data, [50_000])


def test_extract_falls_back_when_repair_fails_or_cannot_read(made, tmp_path, monkeypatch):
    from archiver.errors import InputError, OutputError
    from archiver.recovery import auto
    root, _, protected = made
    data = protected.read_bytes()
    head = _head(protected)
    burst = head.block_size * head.groups * (head.parity - 1)
    bad = data[:150_000] + bytes(burst) + data[150_000 + burst:]
    target = tmp_path / "b.bbx"
    target.write_bytes(bad)

    def no_space(path, output):
        raise OutputError(output, "No space left on device")
    monkeypatch.setattr(auto, "repair", no_space)
    with archiver.open(target) as a:
        report = a.extract(tmp_path / "out")
    assert "repair from its recovery record failed" in report.repair_note
    assert report.errors and {n for e in report.errors for n in e.lost}     # as without one
    with pytest.raises(InputError):                 # a directory: the reader's error, as before
        archiver.open(tmp_path, repair=True)
