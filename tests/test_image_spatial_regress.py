"""Spatial regression of the ar image decoder's locations (Config.spatial_adapt): the encoder's
vectorised rule, the decoder's pixel-by-pixel state, the plain-int reference and the C kernel
(its encoder copy and, through round trips, its decoder) give the same locations, and whole
images round-trip with it."""
from __future__ import annotations

import numpy as np
import pytest

from archiver.models.image import arch, reference, spatial_regress


def _case(seed: int, nblocks: int = 3):
    """Errors that follow their W and N neighbours' with a per-block, per-colour slope (what the
    rule learns), locations over the whole range with clipped extremes, scale indices 0..127."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(nblocks, 3, 32, 32))
    a = rng.uniform(-0.9, 0.9, size=(nblocks, 3, 1))
    bn = rng.uniform(-0.9, 0.9, size=(nblocks, 3, 1))
    e = rng.normal(0, 500, size=x.shape)
    for yy in range(32):
        for xx in range(32):
            if xx:
                e[:, :, yy, xx] += a[..., 0] * e[:, :, yy, xx - 1] * 0.6
            if yy:
                e[:, :, yy, xx] += bn[..., 0] * e[:, :, yy - 1, xx] * 0.6
    loc = (256 * x - e).astype(np.int64)
    loc[0, :, 0, :3] = [[-(1 << 26), 1 << 26, 9]] * 3              # errors beyond the clip
    loc[1, 2, 5, 7] = 1 << 26
    j = rng.integers(0, 128, size=x.shape)
    j[0, :, 1, :2] = [0, 127]
    return x, loc, j


def test_vectorised_rule_equals_the_plain_int_reference():
    for seed in range(2):
        x, loc, j = _case(seed)
        got = spatial_regress.spatial_locs(x, loc, j)
        assert np.array_equal(got, reference.spatial_locs(x, loc, j))
        assert np.array_equal(got[:, :, 0, 0], loc[:, :, 0, 0])      # nothing learnt yet
        assert (got != loc).mean() > 0.5                             # every colour moves


def test_it_learns_a_blocks_spatial_slope():
    """Errors that are 0.8 of the W neighbour's: the moved locations remove most of them."""
    rng = np.random.default_rng(3)
    x = np.full((1, 3, 32, 32), 128, np.int64)
    e = np.zeros((1, 3, 32, 32))
    noise = rng.normal(0, 300, size=e.shape)
    for xx in range(32):
        e[..., xx] = noise[..., xx] + (0.8 * e[..., xx - 1] if xx else 0)
    loc = 256 * x - np.clip(e, -4000, 4000).astype(np.int64)
    got = spatial_regress.spatial_locs(x, loc, np.full(x.shape, 40))
    before = np.abs(256 * x - loc)[..., 8:, :].mean()
    after = np.abs(256 * x - got)[..., 8:, :].mean()
    assert after < 0.8 * before


def test_only_coded_colours_count():
    """Colours not pushed (edge padding, grey images' copied colours) neither move nor teach:
    they count as error 0."""
    x, loc, j = _case(4)
    coded = np.random.default_rng(1).random(x.shape) < 0.6
    got = spatial_regress.spatial_locs(x, loc, j, coded)
    assert np.array_equal(got[~coded], loc[~coded])
    kept = np.where(coded, x, 0), np.where(coded, loc, 0)
    assert np.array_equal(got[coded],
                          spatial_regress.spatial_locs(kept[0], kept[1], j, coded)[coded])
    # a top-left rectangle (an image's edge) is what the rule sees of the cropped block
    rect = np.zeros(x.shape, bool)
    rect[:, :, :20, :13] = True
    got = spatial_regress.spatial_locs(x, loc, j, rect)
    want = reference.spatial_locs(x[:, :, :20, :13], loc[:, :, :20, :13], j[:, :, :20, :13])
    assert np.array_equal(got[:, :, :20, :13], want)


def test_decoder_state_pixel_by_pixel_equals_the_encoders_rule():
    x, loc, j = _case(5, nblocks=4)
    want = spatial_regress.spatial_locs(x, loc, j)
    state = spatial_regress.SpatialState(4)
    for yy in range(32):
        for xx in range(32):
            for c in range(3):
                got = state.loc(c, loc[:, c, yy, xx], j[:, c, yy, xx], xx)
                assert np.array_equal(got, want[:, c, yy, xx])
                state.popped(c, x[:, c, yy, xx], loc[:, c, yy, xx], xx)


def test_the_c_rule_equals_the_numpy_rule_with_and_without_a_coded_mask():
    from archiver.models.image import _ar
    from tests.test_image_runtime import SMALL_AR, random_weights
    cfg = arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 2, "colour_adapt": 1,
                         "spatial_adapt": 1})
    kernel = _ar.ArKernel(random_weights(cfg, 3))
    x, loc, j = _case(9, nblocks=4)
    loc = np.clip(loc, -(1 << 26), 1 << 26)
    coded = np.random.default_rng(2).random(x.shape) < 0.7
    for mask in (None, coded):
        assert np.array_equal(kernel.spatial(x, loc, j, mask),
                              spatial_regress.spatial_locs(x, loc, j, mask))


def test_the_full_chain_in_c_equals_numpy_and_the_reference():
    """Colour regression, then spatial regression: the kernel's encoder copies, the numpy
    rules and the plain-int references agree on the composed locations."""
    from archiver.models.image import _ar, colour_regress
    from tests.test_image_runtime import SMALL_AR, random_weights
    cfg = arch.Config(**{**SMALL_AR.to_dict(), "colour_adapt": 1, "spatial_adapt": 1})
    kernel = _ar.ArKernel(random_weights(cfg, 3))
    x, loc, j = _case(11, nblocks=2)
    loc = np.clip(loc, -(1 << 26), 1 << 26)
    want = reference.spatial_locs(x, reference.regress_locs(x, loc, j), j)
    assert np.array_equal(kernel.spatial(x, kernel.regress(x, loc, j), j), want)
    assert np.array_equal(spatial_regress.spatial_locs(
        x, colour_regress.regress_locs(x, loc, j), j), want)


@pytest.mark.parametrize("colour_adapt", [0, 1])
def test_whole_images_with_edge_padding_and_grey_round_trip(colour_adapt):
    """The C decoder moves the locations exactly as the encoder did (or decoding fails)."""
    from archiver.models.image import image_coder
    from archiver.models.image.model import ImageRuntime
    from cython_ans import Message
    from tests.test_image_runtime import SMALL_AR, random_weights
    cfg = arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 2, "colour_adapt": colour_adapt,
                         "spatial_adapt": 1})
    rt = ImageRuntime(random_weights(cfg, 3))
    rng = np.random.default_rng(8)
    for channels, (h, w) in ((3, (45, 70)), (1, (33, 35))):
        base = rng.integers(40, 200, size=(channels, 1, 1))
        ramp = (np.arange(w)[None, None, :] // 3 + np.arange(h)[None, :, None] // 4)
        img = np.clip(base + ramp % 17 + rng.integers(-3, 4, size=(channels, h, w)), 0, 255)
        img = img.astype(np.uint8)
        msg = Message(seed=1)
        image_coder.encode_image(rt, msg, img)
        back = Message.from_bytes(msg.to_bytes(), seed=1)
        assert np.array_equal(image_coder.decode_image(rt, back, channels, h, w), img)
        assert back.is_initial()


def test_the_rule_changes_the_code():
    """Switched on, the pushed locations differ from the weights without it (the rule runs)."""
    from archiver.models.image import _ar
    from archiver.models.image.model import BlockInputs
    from tests.test_image_runtime import SMALL_AR, random_weights
    import dataclasses
    w1 = random_weights(arch.Config(**{**SMALL_AR.to_dict(), "spatial_adapt": 1}), 3)
    w0 = dataclasses.replace(w1, cfg=dataclasses.replace(w1.cfg, spatial_adapt=0), graphs={})
    rng = np.random.default_rng(2)
    crops = rng.integers(0, 256, size=(2, arch.CROP_H, arch.CROP_W, 3)).astype(np.uint8)
    inp = BlockInputs.from_crops(crops, np.array([0, 1], bool), np.array([1, 0], bool),
                                 np.array([0, 1], bool))
    feats = np.zeros((2, w1.cfg.tfeat, 32, 32), np.int16)
    a = _ar.ArKernel(w0).push_params(inp.crop, inp.known, feats)
    b = _ar.ArKernel(w1).push_params(inp.crop, inp.known, feats)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    assert not np.array_equal(a[1], b[1])


def test_older_configs_export_without_the_new_field():
    """Weights shipped before spatial_adapt existed re-export byte for byte: the field is
    left out of the config while it is 0."""
    assert "spatial_adapt" not in arch.Config().to_dict()
    assert "spatial_adapt" not in arch.Config(colour_adapt=1).to_dict()
    assert arch.Config(spatial_adapt=1).to_dict()["spatial_adapt"] == 1
    assert arch.Config(**arch.Config(spatial_adapt=1).to_dict()).spatial_adapt == 1


def test_the_kernel_refuses_an_unknown_rule():
    from archiver.models.image import _ar
    from tests.test_image_runtime import SMALL_AR, random_weights
    with pytest.raises(_ar.ArKernelError):
        _ar.ArKernel(random_weights(arch.Config(**{**SMALL_AR.to_dict(), "spatial_adapt": 2}), 3))
