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
from archiver.train.image_data import area_down2, jpeg_in_eet  # noqa: E402
from archiver.train.image_export import export  # noqa: E402
from archiver.train.image_torch import ImageModel, discretized_logistic_logp  # noqa: E402
from archiver.train.image_train import evaluate  # noqa: E402

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


def test_discretised_logistic_sums_to_one_over_all_bins():
    x = torch.arange(256, dtype=torch.float64).view(-1, 1)
    for mu, s in ((3.2, 0.1), (128.0, 5.0), (250.7, 40.0), (-20.0, 2.0)):
        p = discretized_logistic_logp(x, torch.tensor(mu, dtype=torch.float64),
                                      torch.tensor(s, dtype=torch.float64), 256).exp().sum()
        assert abs(float(p) - 1.0) < 1e-6


@pytest.mark.parametrize("extra", [{}, {"dc_base": True},
                                   {"decoder": "ar", "ar_hidden": 8, "ar_radius": 2, "tfeat": 4}],
                         ids=["absolute", "dc_base", "ar"])
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
