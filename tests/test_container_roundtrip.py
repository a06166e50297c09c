"""Round trips through the container: generated trees come back exactly (content, names,
types, modes, mtimes); chunking, grouping and codec choice behave as specified."""
from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import archiver
from archiver.codecs import registry
from archiver.codecs.base import Codec
from archiver.container.records import FILE
from archiver.errors import MissingWeights, WouldOverwrite
from conftest import snapshot, write_tree

NAME = st.one_of(
    st.text(string.ascii_letters + string.digits + "._- ", min_size=1, max_size=12).map(str.encode),
    st.binary(min_size=1, max_size=8).map(lambda b: b.replace(b"/", b"_").replace(b"\0", b"_")),
).filter(lambda n: n not in (b".", b".."))
CONTENT = st.one_of(st.binary(max_size=300), st.just(b""), st.binary(min_size=2000, max_size=9000),
                    st.just(b"abc" * 4000))


@st.composite
def trees(draw):
    spec: dict[bytes, object] = {}
    dirs = [b""]
    for _ in range(draw(st.integers(1, 14))):
        parent = draw(st.sampled_from(dirs))
        name = draw(NAME)
        path = parent + b"/" + name if parent else name
        if any(path == p or path.startswith(p + b"/") or p.startswith(path + b"/") for p in spec):
            continue
        kind = draw(st.sampled_from(["file", "file", "dir", "link"]))
        if kind == "dir":
            spec[path] = None
            dirs.append(path)
        elif kind == "link":
            spec[path] = ("link", draw(st.sampled_from([b"target", b"../x", name])))
        else:
            spec[path] = draw(CONTENT)
    return spec


@settings(max_examples=300 if os.environ.get("BBX_SLOW_TESTS") else 25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=trees(), chunk_size=st.sampled_from([64, 1000, 1 << 20]))
def test_generated_trees_round_trip(tmp_path_factory, spec, chunk_size):
    work = tmp_path_factory.mktemp("rt")
    write_tree(work / "src", spec)
    archiver.create(work / "t.bbx", [work / "src"], level=1, chunk_size=chunk_size)
    with archiver.open(work / "t.bbx") as a:
        assert a.verify().ok
        report = a.extract(work / "out")
    assert report.errors == []
    assert snapshot(work / "out" / "src") == snapshot(work / "src")


def test_sample_tree_round_trip_keeps_modes_and_odd_names(sample_tree, tmp_path):
    archiver.create(tmp_path / "t.bbx", [sample_tree])
    with archiver.open(tmp_path / "t.bbx") as a:
        names = {e.path for e in a.entries}
        a.extract(tmp_path / "out")
    assert b"src/odd \xff name\n.txt" in names
    assert snapshot(tmp_path / "out" / "src") == snapshot(sample_tree)
    assert (tmp_path / "out/src/a.txt").stat().st_mode & 0o777 == 0o600


def test_small_files_share_one_chunk_and_classes_fill_their_own_chunks(tmp_path):
    spec = {f"s{i}.txt".encode(): f"small file {i}\n".encode() for i in range(50)}
    spec[b"big.bin"] = os.urandom(10_000)
    write_tree(tmp_path / "src", spec)
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], chunk_size=4096)
    with archiver.open(tmp_path / "t.bbx") as a:
        smalls = {e.chunk for e in a.entries if e.type == FILE and e.path.endswith(b".txt")}
        big = next(e for e in a.entries if e.path.endswith(b"big.bin"))
        assert len(smalls) == 1                          # 50 small files, one chunk
        assert big.offset == 0                           # a large file starts its own chunk
        small_bytes = sum(len(v) for k, v in spec.items() if k.endswith(b".txt"))
        # the text files (router class text) fill a chunk of their own, the binary file
        # (class other) its own: binary never shares a chunk with text; the class whose
        # chunks take longer comes first (chunking.class_order)
        assert [c.raw_size for c in a.chunks] == [4096, 4096, 1808, small_bytes]
        assert all(c.raw_size <= 4096 for c in a.chunks)
        assert a.verify().ok


def test_incompressible_data_is_stored_compressible_data_is_zstd(tmp_path):
    write_tree(tmp_path / "src", {b"noise": os.urandom(50_000), b"text.txt": b"la " * 20_000})
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], chunk_size=50_000, codecs=["zstd"])
    with archiver.open(tmp_path / "t.bbx") as a:
        codecs = {r["path"]: r["codec"] for r in a.rows() if r["type"] == "file"}
        assert codecs == {"src/noise": "store", "src/text.txt": "zstd"}
        assert all(c.stored_size <= c.raw_size for c in a.chunks)


class _FakeModel(Codec):
    """A model codec that wins on chunks starting with b'MODEL' and needs 'weights'."""
    codec_id = 0xF0
    name = "fake-model"
    digest = "ab" * 32

    def model_hashes(self):
        return (self.digest,)

    def accepts(self, sample, path):
        return sample.startswith(b"MODEL")

    def encode(self, data, level, progress=None):
        return b"M" + len(data).to_bytes(4, "little")[:1]      # absurdly small: always wins

    def decode(self, payload, size, progress=None):
        return b"MODEL" + b"x" * (size - 5)


MODEL_AND_ZSTD = ["zstd", "fake-model"]      # the shipped model codecs stay out of these tests


@pytest.fixture
def fake_model():
    codec = registry.register(_FakeModel())
    yield codec
    registry._BY_ID.pop(codec.codec_id)


def test_model_codec_used_where_it_wins_and_its_hash_is_recorded(tmp_path, fake_model):
    write_tree(tmp_path / "src", {b"m.dat": b"MODEL" + b"x" * 995, b"other.txt": b"plain " * 200})
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], chunk_size=1000, codecs=MODEL_AND_ZSTD)
    with archiver.open(tmp_path / "t.bbx") as a:
        codecs = {r["path"]: r["codec"] for r in a.rows() if r["type"] == "file"}
        assert codecs == {"src/m.dat": "fake-model", "src/other.txt": "zstd"}
        assert a.model_hashes == [fake_model.digest]
        assert a.verify().ok
        fake_model.digest = "cd" * 32                    # installed weights changed
        with pytest.raises(MissingWeights, match="abababab"):
            a.extract(tmp_path / "out")
        assert not (tmp_path / "out").exists()


def test_model_hashes_not_recorded_when_model_codec_unused(tmp_path, fake_model):
    write_tree(tmp_path / "src", {b"t.txt": b"plain " * 200})
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], codecs=MODEL_AND_ZSTD)
    with archiver.open(tmp_path / "t.bbx") as a:
        assert a.model_hashes == []


def test_create_refuses_overwrite_without_force_and_excludes(sample_tree, tmp_path):
    out = tmp_path / "t.bbx"
    archiver.create(out, [sample_tree], exclude=["*.bin", "empty-dir"])
    with pytest.raises(WouldOverwrite):
        archiver.create(out, [sample_tree])
    archiver.create(out, [sample_tree], force=True, exclude=["sub"])
    with archiver.open(out) as a:
        assert not any(e.path.startswith(b"src/sub") for e in a.entries)


def test_archive_inside_its_own_input_is_not_archived(sample_tree):
    archiver.create(sample_tree / "self.bbx", [sample_tree])
    with archiver.open(sample_tree / "self.bbx") as a:
        assert not any(b".bbx" in e.path for e in a.entries)


def test_interrupted_create_leaves_nothing_under_the_final_name(sample_tree, tmp_path):
    class Boom:
        def start(self, files, total, by_class=None): ...
        def advance(self, files=0, nbytes=0, content_class=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        archiver.create(tmp_path / "t.bbx", [sample_tree], progress=Boom())
    assert os.listdir(tmp_path) == ["src"]               # no archive, no temporary file


def test_extract_selected_members(sample_tree, tmp_path):
    archiver.create(tmp_path / "t.bbx", [sample_tree])
    with archiver.open(tmp_path / "t.bbx") as a:
        a.extract(tmp_path / "out", ["src/sub/deeper", "src/a.txt"])
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in Path(tmp_path / "out").rglob("*"))
    assert got == ["src", "src/a.txt", "src/sub", "src/sub/deeper", "src/sub/deeper/b.bin"]


def test_replaced_archive_inside_the_input_is_not_archived(sample_tree):
    archiver.create(sample_tree / "self.bbx", [sample_tree])
    archiver.create(sample_tree / "self.bbx", [sample_tree], force=True)
    with archiver.open(sample_tree / "self.bbx") as a:
        assert not any(b".bbx" in e.path for e in a.entries)


def test_model_codec_losing_on_the_sample_is_not_run_on_the_whole_chunk(tmp_path, fake_model):
    sizes = []
    fake_model.encode = lambda data, level, progress=None: sizes.append(len(data)) or bytes(len(data))
    write_tree(tmp_path / "src", {b"m.dat": b"MODEL" + b"x" * 300_000})
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], codecs=MODEL_AND_ZSTD)
    assert sizes == [64 << 10]                       # the sample only: zstd won the race
    with archiver.open(tmp_path / "t.bbx") as a:
        assert {c.codec_id for c in a.chunks} == {0x01}


def test_model_codec_winning_on_the_sample_is_run_on_the_whole_chunk(tmp_path, fake_model):
    sizes = []
    fake_model.encode = lambda data, level, progress=None: sizes.append(len(data)) or b"M"
    write_tree(tmp_path / "src", {b"m.dat": b"MODEL" + b"x" * 300_000})
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], codecs=MODEL_AND_ZSTD)
    assert sizes == [64 << 10, 300_005]
    with archiver.open(tmp_path / "t.bbx") as a:
        assert {c.codec_id for c in a.chunks} == {0xF0}


def test_router_classes_by_content_not_name(tmp_path):
    from archiver.container import router
    assert router.classify(b"\x89PNG\r\n\x1a\n" + bytes(20)) == router.IMAGE
    assert router.classify(b"P6\n3 2\n255\n" + bytes(18)) == router.IMAGE
    assert router.classify(b"P6 is a plain sentence.\n") == router.TEXT
    assert router.classify(b"\xff\xd8\xff\xe0" + bytes(20)) == router.JPEG
    assert router.classify("héllo wörld\n".encode()) == router.TEXT
    assert router.classify(bytes(range(256))) == router.OTHER
    # a text file named .png is text; binary data named .txt is other
    write_tree(tmp_path / "src", {b"a.png": b"just words\n" * 50, b"b.txt": os.urandom(3000)})
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"])
    with archiver.open(tmp_path / "t.bbx") as a:
        files = {e.path.rsplit(b"/", 1)[-1]: e.chunk for e in a.entries if e.type == FILE}
        assert files[b"a.png"] != files[b"b.txt"]


def test_whole_file_classes_get_one_chunk_each(tmp_path):
    pngs = {f"p{i}.png".encode(): b"\x89PNG\r\n\x1a\n" + os.urandom(100 + i) for i in range(3)}
    write_tree(tmp_path / "src", pngs)
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], chunk_size=64)
    with archiver.open(tmp_path / "t.bbx") as a:
        files = [e for e in a.entries if e.type == FILE]
        assert len({e.chunk for e in files}) == 3 and all(e.offset == 0 for e in files)
        # each whole file is one chunk even above chunk_size
        assert sorted(c.raw_size for c in a.chunks) == sorted(len(v) for v in pngs.values())
        assert a.verify().ok


@pytest.mark.parametrize("factor, runs", [(1.02, True), (1.06, False)])
def test_screen_compares_model_and_zstd_on_the_same_sample(tmp_path, fake_model, factor, runs):
    """The model's sample payload against zstd's payload of the same sample, within the
    measured margin (chunk_coder.SCREEN_MARGIN = 1.04)."""
    from archiver.codecs.zstd_codec import ZSTD
    sizes = []

    def encode(data, level, progress=None):
        sizes.append(len(data))
        if len(sizes) == 1:             # the sample: a payload `factor` x zstd's on it
            return bytes(int(len(ZSTD.encode(data, level)) * factor))
        return b"M"                     # the whole chunk: smallest, kept when it runs
    fake_model.encode = encode
    rng = __import__("random").Random(8)
    body = bytes(rng.choice(b"MODEL xyz\n") for _ in range(400_000))
    write_tree(tmp_path / "src", {b"m.dat": b"MODEL" + body})
    archiver.create(tmp_path / "t.bbx", [tmp_path / "src"], codecs=MODEL_AND_ZSTD, jobs=1,
                    parts=1)            # one chunk: the text class is not cut
    assert sizes == ([64 << 10, 400_005] if runs else [64 << 10])

