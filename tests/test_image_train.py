"""Training side of the image model: data helpers, the torch twin, and the exporter agreeing
with the integer runtime."""
from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from archiver.models.image import arch, weights_io  # noqa: E402
from archiver.models.image.codelength import block_bits  # noqa: E402
from archiver.models.image.model import BlockInputs, ImageRuntime  # noqa: E402
from archiver.train.image_data import area_down2, jpeg_in_eet, opaque_rect, rcc_files  # noqa: E402
from archiver.train.image_export import export  # noqa: E402
from archiver.train.image_torch import ImageModel, discretized_logistic_logp  # noqa: E402
from archiver.train.image_train import CropSampler, evaluate  # noqa: E402

SMALL = arch.Config(levels=2, zc=4, width=8, trunk=8, head=8, zfeat=4)


def test_area_down2_rounds_half_up_and_crops_odd_edges():
    img = np.array([[[0], [1], [9]], [[1], [1], [9]], [[5], [5], [5]]], np.uint8)
    out = area_down2(np.repeat(img, 3, axis=2))
    assert out.shape == (1, 1, 3) and out[0, 0, 0] == 1          # (0+1+1+1+2)//4


def test_jpeg_found_inside_a_container(tmp_path):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 77, np.uint8)).save(buf, "JPEG", quality=95)
    blob = b"EET header \x00\x01" + buf.getvalue() + b"trailing dictionary"
    path = tmp_path / "x.edj"
    path.write_bytes(blob)
    assert jpeg_in_eet(path).startswith(buf.getvalue())


def _rcc(files: dict[str, tuple[int, bytes]]) -> bytes:
    """A Qt resource bundle (format 3) holding files under one directory "dir": name ->
    (flags, payload as stored)."""
    import struct
    names, data, name_off, data_off = b"", b"", {}, {}
    for n in ["dir"] + list(files):
        name_off[n] = len(names)
        u = n.encode("utf-16-be")
        names += struct.pack(">HI", len(n), 0) + u
    for n, (_, blob) in files.items():
        data_off[n] = len(data)
        data += struct.pack(">I", len(blob)) + blob
    nodes = [struct.pack(">IHII", 0, 2, 1, 1) + bytes(8),                 # root: 1 child
             struct.pack(">IHII", name_off["dir"], 2, len(files), 2) + bytes(8)]
    for n, (flags, _) in files.items():
        nodes.append(struct.pack(">IHHHI", name_off[n], flags, 0, 0, data_off[n]) + bytes(8))
    tree = b"".join(nodes)
    head = 24
    return (b"qres" + struct.pack(">IIIII", 3, head + len(data) + len(names), head,
                                  head + len(data), 0) + data + names + tree)


def test_rcc_bundle_files_stored_and_zlib_compressed():
    import struct
    import zlib
    raw = b"stored payload"
    packed = b"compressed payload " * 20
    bundle = _rcc({"a.webp": (0, raw),
                   "b.webp": (1, struct.pack(">I", len(packed)) + zlib.compress(packed))})
    assert dict(rcc_files(bundle)) == {"/dir/a.webp": raw, "/dir/b.webp": packed}
    with pytest.raises(ValueError):
        list(rcc_files(b"not a bundle" + bundle))


def test_opaque_rect_is_the_largest_fully_opaque_rectangle(tmp_path):
    from PIL import Image
    rgba = np.zeros((100, 120, 4), np.uint8)
    rgba[..., :3] = np.arange(120, dtype=np.uint8)[None, :, None]
    rgba[10:90, 20:110, 3] = 255         # 80 x 90 opaque
    rgba[30, 50, 3] = 254                # one translucent pixel: rows 31..89 x 90 columns win
    rgba[92:100, :, 3] = 255             # 8 x 120: larger than some, but thinner than 48
    Image.fromarray(rgba).save(tmp_path / "s.png")
    out = opaque_rect(tmp_path / "s.png")
    assert out.shape == (59, 90, 3) and out[0, 0, 0] == 20 and out[0, -1, 0] == 109
    rgba[..., 3] = 0
    Image.fromarray(rgba).save(tmp_path / "t.png")
    assert opaque_rect(tmp_path / "t.png") is None


def test_balanced_sampler_spreads_crops_over_sources():
    big = np.zeros((400, 400, 3), np.uint8)
    small = np.full((48, 48, 3), 200, np.uint8)
    images = [("e-big", big), ("g-small", small)]
    plain = CropSampler(images, seed=0)
    even = CropSampler(images, seed=0, balance=1.0)
    assert plain.p[1] < 0.001
    assert np.allclose(even.p, [0.5, 0.5])
    crops = even.batch(400)[0]
    assert 150 < int((crops[:, 0, 0, 0] == 200).sum()) < 250


def test_aligned_crops_put_blocks_on_the_8x8_grid_mirrored_or_not():
    """A grid_pos model trains on crops whose block starts at a multiple of 8 of the image, as
    a whole image's blocks do: each pixel holds its own coordinates mod 8 here, so a crop shows
    where it came from."""
    from archiver.train.image_train import validation_crops
    yy, xx = np.mgrid[0:203, 0:205]
    img = np.stack([yy % 8, xx % 8, np.zeros_like(yy)], axis=2).astype(np.uint8)
    c0 = arch.CONTEXT
    crops = CropSampler([("e-x", img)], seed=3, align=8).batch(200)[0]
    block = crops[:, c0:c0 + 32, c0:c0 + 32]
    assert (block[:, :, :, 0] == np.arange(32)[None, :, None] % 8).all()   # rows on the grid
    cols = block[:, 0, :, 1]
    mirrored = (cols == 7 - np.arange(32) % 8).all(axis=1)
    assert ((cols == np.arange(32) % 8).all(axis=1) | mirrored).all() and 0 < mirrored.sum() < 200
    v = validation_crops([("e-x", img)], 20, align=8)[:, c0:c0 + 32, c0:c0 + 32]
    assert (v[:, :, :, 1] == np.arange(32) % 8).all()
    free = CropSampler([("e-x", img)], seed=3).batch(200)[0][:, c0, c0, 0]
    assert len(set(free.tolist())) == 8                          # unaligned: any phase


def test_discretised_logistic_sums_to_one_over_all_bins():
    x = torch.arange(256, dtype=torch.float64).view(-1, 1)
    for mu, s in ((3.2, 0.1), (128.0, 5.0), (250.7, 40.0), (-20.0, 2.0)):
        p = discretized_logistic_logp(x, torch.tensor(mu, dtype=torch.float64),
                                      torch.tensor(s, dtype=torch.float64), 256).exp().sum()
        assert abs(float(p) - 1.0) < 1e-6


@pytest.mark.parametrize("extra", [{}, {"dc_base": True},
                                   {"decoder": "ar", "ar_hidden": 8, "ar_radius": 2, "tfeat": 4},
                                   {"decoder": "ar", "ar_hidden": 8, "ar_radius": 2, "tfeat": 4,
                                    "ar_blocks": 2},
                                   {"decoder": "ar", "ar_hidden": 8, "ar_radius": 2, "tfeat": 4,
                                    "grid_pos": 1}],
                         ids=["absolute", "dc_base", "ar", "ar-2-blocks", "ar-grid-pos"])
def test_exported_integer_model_matches_the_qat_torch_model(extra):
    """The integer code length (coder's exact frequencies, sampled discrete latents) agrees
    with the fake-quantised torch -ELBO on the same crops within a small margin."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = ImageModel(arch.Config(**{**SMALL.to_dict(), **extra}))
    rng = np.random.default_rng(0)
    base = rng.integers(30, 220, size=(32, 1, 1, 3))
    crops = np.clip(base + rng.integers(-25, 26, size=(32, arch.CROP_H, arch.CROP_W, 3)),
                    0, 255).astype(np.uint8)
    # the ar decoder starts at 1-pixel scales: on this noisy content it needs bigger steps
    opt = torch.optim.Adam(model.parameters(), 2e-2 if extra.get("decoder") == "ar" else 3e-3)
    x = torch.from_numpy(crops.transpose(0, 3, 1, 2).copy()).float()
    ones = torch.ones(32, dtype=torch.bool)
    for _ in range(15):                      # a few steps so outputs are not at their init
        loss, _ = model(x, ones, ones, quant=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    float_bpd = evaluate(model, crops, quant=True)["elbo"]
    w = export(model, crops)
    rt = ImageRuntime(w)
    inp = BlockInputs.from_crops(crops, np.ones(32, bool), np.ones(32, bool))
    int_bpd = block_bits(rt, inp, np.random.default_rng(1)).total / (32 * 3 * 32 * 32)
    assert float_bpd < 7.5                   # it learned something
    assert abs(int_bpd - float_bpd) < 0.05 * float_bpd, (int_bpd, float_bpd)


def test_model_without_latents_pays_no_kl_and_costs_fewer_macs():
    """The latent ablation's model: no q/p networks, -ELBO = reconstruction alone, and its
    MAC count leaves out everything latent (so an equal-cost comparison is honest)."""
    from archiver.train.image_train import macs_per_block
    cfg = arch.Config(levels=2, zc=4, width=8, trunk=8, zfeat=4, decoder="ar", ar_hidden=8)
    with_z, without = ImageModel(cfg), ImageModel(cfg, latents=False)
    assert set(without.nets) == {"trunk", "ar"} and "q1" in with_z.nets
    rng = np.random.default_rng(0)
    crops = torch.from_numpy(rng.integers(0, 256, (3, 3, 40, 48)).astype(np.float32))
    yes = torch.ones(3, dtype=torch.bool)
    _, terms = without(crops, yes, yes, quant=True)
    assert set(terms) == {"rec", "elbo"} and float(terms["elbo"]) == float(terms["rec"]) > 0
    _, terms = with_z(crops, yes, yes, quant=True)
    assert {"kl1", "kl2"} <= set(terms)
    full = arch.macs_per_block(cfg)
    assert macs_per_block(cfg) == full["total"]
    # no q1, q2, p1 and no z_1 branch of the trunk, but all of the pixel network
    assert full["ar"] < macs_per_block(cfg, latents=False) < full["trunk"] + full["ar"]
