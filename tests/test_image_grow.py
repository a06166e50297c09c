"""Growing a training checkpoint (archiver/train/image_grow.py): the grown model computes what
the old one did, carries its optimiser state, and its new channels learn."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from archiver.models.image import arch  # noqa: E402
from archiver.train.image_torch import ImageModel  # noqa: E402
from archiver.train.image_grow import grow, grow_checkpoint  # noqa: E402

SMALL = arch.Config(levels=2, zc=4, width=8, trunk=8, head=8, zfeat=4, decoder="ar",
                    ar_hidden=8, ar_radius=2, tfeat=4)
GROWN = {"trunk": 12, "tfeat": 6, "ar_hidden": 12, "ar_blocks": 2, "grid_pos": 1}


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, size=(n, 3, 1, 1))
    x = np.clip(base + rng.integers(-20, 21, size=(n, 3, arch.CROP_H, arch.CROP_W)), 0, 255)
    return torch.from_numpy(x.astype(np.float32)), torch.ones(n, dtype=torch.bool)


def _trained_small(steps=5):
    torch.manual_seed(0)
    model = ImageModel(SMALL)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x, yes = _batch()
    for _ in range(steps):
        loss, _ = model(x, yes, yes, quant=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def _terms(model, x, yes):
    torch.manual_seed(7)                     # the same latent samples for both models
    with torch.no_grad():
        _, t = model(x, yes, yes, quant=True)
    return {k: float(v) for k, v in t.items()}


def test_grown_model_computes_exactly_what_the_old_one_did():
    old, _ = _trained_small()
    old.eval()
    new, _ = grow(old, arch.Config(**{**SMALL.to_dict(), **GROWN}))
    new.eval()
    x, yes = _batch(seed=3)
    assert _terms(new, x, yes) == _terms(old, x, yes)
    # it really is bigger: a new residual block and wider convs
    assert sum(p.numel() for p in new.parameters()) > sum(p.numel() for p in old.parameters())
    assert "weights.a1h__0" in dict(new.nets["ar"].named_parameters())
    # the grid position is a new input of the trunk's last conv, read with weight 0 for now
    assert not dict(new.nets["trunk"].named_parameters())["weights.tf__1"].any()


def test_grown_checkpoint_resumes_with_the_old_adam_state_and_its_new_channels_learn(tmp_path):
    old, opt = _trained_small()
    src = tmp_path / "old.pt"
    torch.save({"cfg": SMALL.to_dict(), "model": old.state_dict(), "opt": opt.state_dict(),
                "state": {"step": 5, "best": 1.0, "history": []}, "latents": True}, src)
    cfg = grow_checkpoint(src, tmp_path / "new.pt", **GROWN)
    blob = torch.load(tmp_path / "new.pt", weights_only=False)
    assert arch.Config(**blob["cfg"]) == cfg and blob["state"]["step"] == 5
    new = ImageModel(cfg)
    new.load_state_dict(blob["model"])
    nopt = torch.optim.Adam(new.parameters(), 1e-2)
    nopt.load_state_dict(blob["opt"])
    # the old moments sit where the old weights sit; the new entries start at zero
    old_p = dict(old.named_parameters())["nets.ar.weights.a0__2"]        # a0 reading tfeat
    new_p = dict(new.named_parameters())["nets.ar.weights.a0__2"]
    o, n = opt.state[old_p]["exp_avg_sq"], nopt.state[new_p]["exp_avg_sq"]
    assert torch.equal(n[:o.shape[0], :o.shape[1]], o) and not n[o.shape[0]:].any() \
        and not n[:, o.shape[1]:].any()
    # the trunk's per-pixel features keep their DepthToSpace phases: old row p*4+c -> p*6+c
    tf_old = dict(old.named_parameters())["nets.trunk.weights.tf__0"]
    tf_new = dict(new.named_parameters())["nets.trunk.weights.tf__0"]
    for p in range(4):
        assert torch.equal(tf_new[p * 6:p * 6 + 4, :8], tf_old[p * 4:p * 4 + 4])
    # one step moves the weights old channels give the new ones (they were zero)
    x, yes = _batch(seed=4)
    loss, _ = new(x, yes, yes, quant=True)
    nopt.zero_grad()
    loss.backward()
    nopt.step()
    assert new_p[:o.shape[0], o.shape[1]:].abs().sum() > 0


def test_a_checkpoint_cannot_shrink(tmp_path):
    old, opt = _trained_small(steps=1)
    with pytest.raises(ValueError, match="cannot grow"):
        grow(old, arch.Config(**{**SMALL.to_dict(), "ar_hidden": 4}))


def test_grid_position_input_marks_rows_and_columns_mod_4_of_the_half_resolution_grid():
    g = np.array(arch.grid_input())
    assert g.shape == (arch.GRID_CHANNELS, 16, 16)
    # every position has exactly one row channel and one column channel set
    assert (g[:4].sum(0) == arch.MASK_ON).all() and (g[4:].sum(0) == arch.MASK_ON).all()
    assert g[1, 5, 0] == arch.MASK_ON and g[4 + 3, 0, 7] == arch.MASK_ON and g[0, 5, 0] == 0
