"""Codec 0x20 (image): whole image files of any size, grey, alpha, through the codec and through
archiver.create / extract; damage is refused; the payload is the same at 1 and 2 BLAS threads.

The codec reads and rebuilds files through archiver.codecs.image_files; these tests plug in
PNM_FORMATS below (binary PGM/PPM, and PAM for alpha), a small exact stand-in with the same
contract, so they test the codec and the image coder, not the file formats."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import archiver
from archiver.codecs import image as image_codec
from archiver.codecs.base import Declined
from archiver.errors import CorruptChunk
from archiver.models.image import image_coder
from cython_ans import Message
from conftest import snapshot, write_tree

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Decomposed:
    planes: np.ndarray
    alpha: np.ndarray | None
    side: bytes


_PNM = re.compile(rb"P([56])\n(\d+) (\d+)\n255\n")
_PAM = re.compile(rb"P7\nWIDTH (\d+)\nHEIGHT (\d+)\nDEPTH ([24])\nMAXVAL 255\nENDHDR\n")


def _header(data: bytes):
    """(header length, width, height, colour planes, alpha?) or None."""
    m = _PNM.match(data)
    if m:
        return m.end(), int(m[2]), int(m[3]), 1 if m[1] == b"5" else 3, False
    m = _PAM.match(data)
    if m:
        return m.end(), int(m[1]), int(m[2]), int(m[3]) - 1, True
    return None


def _decompose(data: bytes):
    head = _header(data)
    if head is None:
        return None
    n, w, h, c, has_alpha = head
    d = c + has_alpha
    if len(data) < n + w * h * d:
        return None
    px = np.frombuffer(data, np.uint8, w * h * d, n).reshape(h, w, d)
    return Decomposed(np.ascontiguousarray(px[:, :, :c].transpose(2, 0, 1)),
                      px[:, :, c].copy() if has_alpha else None,
                      data[:n] + data[n + w * h * d:])


def _rebuild(planes, alpha, side: bytes) -> bytes:
    head = _header(side)
    if head is None:
        raise CorruptChunk("stand-in: bad side bytes")
    n = head[0]
    px = planes.transpose(1, 2, 0)
    if alpha is not None:
        px = np.concatenate([px, alpha[:, :, None]], 2)
    return side[:n] + np.ascontiguousarray(px, np.uint8).tobytes() + side[n:]


PNM_FORMATS = SimpleNamespace(decompose=_decompose, rebuild=_rebuild)


REAL_FORMATS = image_codec.formats


@pytest.fixture(autouse=True)
def pnm_formats(monkeypatch):
    monkeypatch.setattr(image_codec, "formats", lambda: PNM_FORMATS)


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random image (H, W, 3) uint8: gradients plus a little noise, photo-like enough
    for the model's distributions to be far from their edges."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(40, 200, 3)[None, None] + 0.3 * (yy[..., None] * rng.normal(size=3)
                                                          + xx[..., None] * rng.normal(size=3))
    return np.clip(base + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


def ppm(img: np.ndarray, trailer: bytes = b"") -> bytes:
    h, w, c = img.shape
    if c == 1:
        return b"P5\n%d %d\n255\n" % (w, h) + img.tobytes() + trailer
    if c == 3:
        return b"P6\n%d %d\n255\n" % (w, h) + img.tobytes() + trailer
    return (b"P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL 255\nENDHDR\n" % (w, h, c)
            + img.tobytes() + trailer)


def round_trip(data: bytes, codec=image_codec.IMAGE) -> bytes:
    reported = []
    payload = codec.encode(data, 19, reported.append)
    assert sum(reported) == len(data)
    back = []
    assert codec.decode(payload, len(data), back.append) == data
    assert sum(back) == len(data)
    return payload


@pytest.mark.parametrize("h,w", [(1, 1), (31, 33), (3, 1000), (1000, 3)])
def test_odd_sizes_round_trip(h, w):
    round_trip(ppm(photo(h, w, seed=h + w), trailer=b"tail"))


def test_grey_alpha_and_grey_alpha_round_trip():
    img = photo(37, 40, seed=3)
    grey = img[:, :, :1]
    alpha = (np.arange(37 * 40).reshape(37, 40, 1) % 7 * 30).astype(np.uint8)
    for px in (grey, np.concatenate([img, alpha], 2), np.concatenate([grey, alpha], 2)):
        round_trip(ppm(np.ascontiguousarray(px)))


def test_grey_is_coded_as_one_plane_smaller_than_three():
    grey = photo(40, 40, seed=4)[:, :, :1]
    one = round_trip(ppm(grey))
    three = round_trip(ppm(np.repeat(grey, 3, 2)))      # R = G = B: coded as one plane too
    assert three[1] & image_codec.F_REPLICATED
    assert abs(len(one) - len(three)) < 64


def test_bb_ans_scheme_round_trips():
    bbans = image_codec.ImageCodec()
    bbans.scheme = image_coder.BBANS
    payload = round_trip(ppm(photo(40, 70, seed=5)), bbans)
    assert payload[1] & image_codec.SCHEME_MASK == image_coder.BBANS


class CountingMessage:
    """A Message that counts the pixel symbols pushed (256 bins)."""

    def __init__(self):
        self.msg, self.pixels = Message(seed=0), 0

    def push_logistic(self, symbols, loc, scale_idx, nbins, precision):
        if nbins == 256:
            self.pixels += len(symbols)
        self.msg.push_logistic(symbols, loc, scale_idx, nbins, precision)

    def pop_logistic(self, *args):
        return self.msg.pop_logistic(*args)


@pytest.mark.parametrize("channels", [1, 3])
def test_padding_is_never_coded(channels):
    """Only real pixels of edge blocks are pushed; the decoder rebuilds the padding."""
    img = photo(33, 35, seed=6).transpose(2, 0, 1)[:channels]
    counting = CountingMessage()
    image_coder.encode_image(image_codec.runtime(), counting, img)
    assert counting.pixels == img.size
    back = Message.from_bytes(counting.msg.to_bytes())
    got = image_coder.decode_image(image_codec.runtime(), back, channels, 33, 35)
    assert np.array_equal(got, img) and back.is_initial()


def test_damage_is_refused():
    data = ppm(photo(40, 40, seed=7))
    payload = image_codec.IMAGE.encode(data, 19)
    codec = image_codec.IMAGE
    bad = bytearray(payload)
    bad[len(payload) // 2] ^= 0x10                     # inside the rANS message
    with pytest.raises(CorruptChunk):
        codec.decode(bytes(bad), len(data))
    for cut in (3, 12, len(payload) - 5):
        with pytest.raises(CorruptChunk):
            codec.decode(payload[:cut], len(data))
    huge = bytearray(payload)
    huge[2:10] = (1 << 31).to_bytes(4, "little") * 2   # 2^31 x 2^31 pixels: refused, no alloc
    with pytest.raises(CorruptChunk, match="declares"):
        codec.decode(bytes(huge), len(data))
    with pytest.raises(CorruptChunk):
        codec.decode(payload, len(data) + 1)            # side bytes rebuild a different size


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_png_files_by_pillow_round_trip_with_image_files(monkeypatch, tmp_path, mode):
    """The real image_files: PNGs written by Pillow come back byte for byte."""
    from PIL import Image
    monkeypatch.setattr(image_codec, "formats", REAL_FORMATS)
    img = photo(35, 41, seed=11)
    px = {"RGB": img, "RGBA": np.concatenate([img, img[:, :, :1]], 2), "L": img[:, :, 0],
          "LA": img[:, :, :2]}[mode]
    Image.fromarray(np.ascontiguousarray(px), mode).save(tmp_path / "x.png")
    round_trip((tmp_path / "x.png").read_bytes())


def test_not_an_exact_image_is_not_applicable():
    with pytest.raises(Declined):
        image_codec.IMAGE.encode(b"P6\n4 4\n255\n" + b"\0" * 10, 19)     # truncated


def _archive(tmp_path: Path) -> tuple[Path, Path]:
    write_tree(tmp_path / "src", {
        b"a.ppm": ppm(photo(48, 50, seed=8)),
        b"dir/g.pgm": ppm(photo(80, 90, seed=9)[:, :, :1], trailer=b"# trailing bytes\n"),
        b"notes.txt": b"some text beside the photos\n" * 20,
    })
    archiver.create(tmp_path / "p.bbx", [tmp_path / "src"])
    return tmp_path / "p.bbx", tmp_path / "src"


def test_create_extract_codes_images_with_the_image_codec(tmp_path):
    path, src = _archive(tmp_path)
    with archiver.open(path) as a:
        codecs = {r["path"]: r["codec"] for r in a.rows() if r["type"] == "file"}
        assert a.verify().ok
        a.extract(tmp_path / "out")
    assert codecs["src/a.ppm"] == "image" and codecs["src/dir/g.pgm"] == "image"
    assert snapshot(tmp_path / "out" / "src") == snapshot(src)


def test_damaged_image_chunk_is_named_and_other_files_extract(tmp_path):
    path, src = _archive(tmp_path)
    with archiver.open(path) as a:
        chunk = next(c for c in a.chunks if c.codec_id == image_codec.IMAGE.codec_id)
        victim = next(e.name for e in a.entries if e.size and a.chunks[e.chunk] is chunk)
    data = bytearray(path.read_bytes())
    data[chunk.offset + chunk.stored_size // 2 + 8] ^= 0x01
    path.write_bytes(bytes(data))
    with archiver.open(path) as a:
        report = a.extract(tmp_path / "out")
    assert report.errors and victim in " ".join(str(e) for e in report.errors)
    original = snapshot(src)
    got = snapshot(tmp_path / "out" / "src")
    for rel, value in got.items():          # whatever was extracted is right
        if value[0] == "file":
            assert value[:2] == original[rel][:2]
    assert got[b"notes.txt"][:2] == original[b"notes.txt"][:2]


_THREADS_SCRIPT = """
import hashlib, os, sys
sys.path.insert(0, {tests!r})
import test_image_codec as t
from threadpoolctl import threadpool_limits
from archiver.codecs import image as ic
ic.formats = lambda: t.PNM_FORMATS
ic.runtime()                          # (it sets one BLAS thread: set the count under test)
threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")
print(hashlib.sha256(ic.IMAGE.encode(t.ppm(t.photo(40, 72, seed=10)), 19)).hexdigest())
"""


def test_same_payload_at_one_and_two_blas_threads():
    script = _THREADS_SCRIPT.format(tests=str(REPO / "tests"))
    digests = set()
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                   PYTHONPATH=str(REPO))
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             capture_output=True, text=True, cwd=REPO)
        digests.add(out.stdout.strip())
    local = image_codec.IMAGE.encode(ppm(photo(40, 72, seed=10)), 19)
    digests.add(hashlib.sha256(local).hexdigest())
    assert len(digests) == 1


def test_golden_messages_decode_and_re_encode_byte_for_byte():
    """format_spec/vectors/image: the bitstream is pinned for the shipped weights (new weights
    must come with regenerated vectors: make_image_vectors.py)."""
    import importlib.util
    import json
    from archiver.models import weights
    here = REPO / "format_spec" / "vectors" / "image"
    pinned = json.loads((here / "weights.json").read_text())["image-l4.npz"]
    assert weights.verified_path("image-l4.npz")[1] == pinned, \
        "the image weights changed: run format_spec/vectors/image/make_image_vectors.py"
    spec = importlib.util.spec_from_file_location("make_image_vectors",
                                                  here / "make_image_vectors.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    for channels in (3, 1):
        golden = (here / f"bitswap-{maker.W}x{maker.H}-c{channels}.msg").read_bytes()
        msg = Message.from_bytes(golden, seed=0)
        got = image_coder.decode_image(image_codec.runtime("image-l4.npz"), msg, channels, maker.H, maker.W)
        assert np.array_equal(got, maker.image(channels)) and msg.is_initial()
    assert maker.vectors() == {f"bitswap-{maker.W}x{maker.H}-c{c}.msg":
                               (here / f"bitswap-{maker.W}x{maker.H}-c{c}.msg").read_bytes()
                               for c in (3, 1)}


def test_every_byte_flip_is_refused_or_gives_the_right_length():
    """Hostile payloads: a flipped byte anywhere gives CorruptChunk, or (side bytes the
    stand-in does not check) output of the declared size for the container's SHA-256 to
    judge; never another exception."""
    import random
    data = ppm(photo(20, 45, seed=12), trailer=b"tail")
    payload = image_codec.IMAGE.encode(data, 19)
    rng = random.Random(3)
    for at in rng.sample(range(len(payload)), 40):
        bad = bytearray(payload)
        bad[at] ^= 1 << rng.randrange(8)
        try:
            out = image_codec.IMAGE.decode(bytes(bad), len(data))
        except CorruptChunk:
            continue
        assert len(out) == len(data)


def test_png_kinds_through_create_come_back_byte_for_byte(monkeypatch, tmp_path):
    """Real image_files: 8-bit RGB, a PNG with trailing bytes, and kinds it may leave to the
    fallback (palette, 16-bit): every file comes back byte for byte, whichever codec won (on
    these small synthetic images PNG's own deflate may beat the model)."""
    from PIL import Image
    monkeypatch.setattr(image_codec, "formats", REAL_FORMATS)
    src = tmp_path / "src"
    src.mkdir()
    img = photo(40, 50, seed=13)
    Image.fromarray(img).save(src / "rgb.png")
    (src / "tail.png").write_bytes((src / "rgb.png").read_bytes() + b"trailing bytes")
    Image.fromarray(img).quantize(64).save(src / "palette.png")
    Image.fromarray(img[:, :, 0].astype(np.uint16) * 257).save(src / "deep.png")
    for name in ("rgb.png", "tail.png"):
        round_trip((src / name).read_bytes())
    archiver.create(tmp_path / "k.bbx", [src])
    with archiver.open(tmp_path / "k.bbx") as a:
        assert a.verify().ok
        a.extract(tmp_path / "out")
    assert snapshot(tmp_path / "out" / "src") == snapshot(src)


def test_payloads_of_older_weights_still_decode():
    """Version 1 payloads were coded with image-l4, version 2 with image-l4b, version 3 with
    image-l4c (the cross-colour scale correction and the colour regression), version 4 with
    image-l4d (the same network with the spatial regression too), version 5 with image-l4e (a
    grown per-pixel network, the same rules); the encoder now writes version 6 (image-l4f:
    the tailed logistic too). All decode, each with its own weights, and every hash is
    installed."""
    from archiver.container.weights_check import installed_hashes
    from archiver.models import weights
    data = ppm(photo(40, 36, seed=21))
    payloads = {}
    for version in image_codec.WEIGHTS_BY_VERSION:
        codec = image_codec.ImageCodec()
        codec.version = version
        payloads[version] = codec.encode(data, 19)
        assert payloads[version][0] == version
    assert payloads[image_codec.VERSION] == image_codec.IMAGE.encode(data, 19)
    assert len(set(payloads.values())) == len(payloads)
    for payload in payloads.values():
        assert image_codec.IMAGE.decode(payload, len(data)) == data
    shipped = {weights.verified_path(n)[1] for n in image_codec.WEIGHTS_BY_VERSION.values()}
    assert shipped <= installed_hashes()
    assert image_codec.IMAGE.model_hashes() == (weights.verified_path("image-l4f.npz")[1],)


def _jpeg_decoded(img: np.ndarray, quality: int = 92) -> np.ndarray:
    """img as a JPEG decoder gives it back (PIL: libjpeg's colour conversion)."""
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_decoded_jpeg_codes_b_on_the_colour_lattice(monkeypatch):
    """A decoded JPEG has every pixel on the decoder's YCbCr lattice: the codec flags it, codes
    B among the values R and G allow, decodes it exactly, and the payload is smaller than the
    same image coded without the lattice. An image off the lattice is not flagged."""
    from archiver.models.image import lattice
    img = _jpeg_decoded(photo(72, 80, seed=5))
    assert lattice.on_lattice(img)
    data = ppm(img)
    payload = image_codec.IMAGE.encode(data, 19)
    assert payload[1] & image_codec.F_LATTICE
    assert image_codec.IMAGE.decode(payload, len(data)) == data
    monkeypatch.setattr(lattice, "on_lattice", lambda rgb: False)
    plain = image_codec.IMAGE.encode(data, 19)
    assert not plain[1] & image_codec.F_LATTICE
    assert image_codec.IMAGE.decode(plain, len(data)) == data
    assert len(payload) < 0.97 * len(plain)
    monkeypatch.undo()
    off = photo(72, 80, seed=5)
    assert not lattice.on_lattice(off)
    assert not image_codec.IMAGE.encode(ppm(off), 19)[1] & image_codec.F_LATTICE


def test_lattice_push_is_the_same_from_the_numpy_path(monkeypatch):
    """The encoder's numpy parameter path (model.USE_AR_KERNEL off) pushes the same words as
    the C kernel with the lattice masks, and code_length predicts the message's growth."""
    from archiver.models.image import model
    rt = image_codec.runtime()
    planes = np.ascontiguousarray(_jpeg_decoded(photo(40, 70, seed=8)).transpose(2, 0, 1))
    words = []
    for kernel in (True, False):
        monkeypatch.setattr(model, "USE_AR_KERNEL", kernel)
        msg = Message(seed=0)
        image_coder.encode_image(rt, msg, planes, lattice=True)
        words.append(msg.to_bytes())
    assert words[0] == words[1]
    back = image_coder.decode_image(rt, Message.from_bytes(words[0], 0), 3, 40, 70, lattice=True)
    assert np.array_equal(back, planes)
    bits = image_coder.code_length(rt, planes, np.random.default_rng(0), lattice=True)
    plain = image_coder.code_length(rt, planes, np.random.default_rng(0))
    assert bits < 0.97 * plain


def test_lattice_flag_is_refused_where_it_cannot_apply():
    """The lattice flag in a version 5 payload, or beside the grey flag, is damage."""
    img = _jpeg_decoded(photo(40, 36, seed=6))
    data = ppm(img)
    payload = bytearray(image_codec.IMAGE.encode(data, 19))
    assert payload[1] & image_codec.F_LATTICE
    for version, flags in ((5, payload[1]), (6, payload[1] | image_codec.F_GREY)):
        bad = bytearray(payload)
        bad[0], bad[1] = version, flags
        with pytest.raises(CorruptChunk, match="flags"):
            image_codec.IMAGE.decode(bytes(bad), len(data))


def test_lattice_masks_match_the_decoder_conversion():
    """Every Y, Cb, Cr of a sample maps to an allowed (R, G, B); the masks allow ~25% of B
    values and at least one per (R, G)."""
    from archiver.models.image import lattice
    rng = np.random.default_rng(0)
    ycc = rng.integers(0, 256, (3, 5000))
    rgb = lattice.ycc_to_rgb(*ycc)
    assert lattice.on_lattice(rgb[None])
    bits = np.unpackbits(lattice.masks(), axis=1, bitorder="little")
    assert 0.24 < bits.mean() < 0.27 and bits.any(axis=1).all()
    # JFIF's real-valued conversion, rounded, agrees away from ties:
    # R = Y + 1.402 (Cr - 128), G = Y - 0.34414 (Cb - 128) - 0.71414 (Cr - 128),
    # B = Y + 1.772 (Cb - 128); 100, 200, 50 -> -9.4, 130.9, 227.6
    assert lattice.ycc_to_rgb(128, 128, 128).tolist() == [128, 128, 128]
    assert lattice.ycc_to_rgb(100, 200, 50).tolist() == [0, 131, 228]
