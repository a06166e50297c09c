"""Colour regression of the ar image decoder's locations (Config.colour_adapt): the encoder's
vectorised rule, the decoder's pixel-by-pixel state, the plain-int reference and the C kernel
give the same locations, and whole images round-trip with it."""
from __future__ import annotations

import numpy as np
import pytest

from archiver.models.image import arch, colour_regress, reference


def _case(seed: int, nblocks: int = 3):
    """Pixels whose G and B errors follow R's with a per-block slope (what the rule learns),
    locations over the whole range with clipped extremes, scale indices 0..127."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(nblocks, 3, 32, 32))
    r = rng.normal(0, 600, size=(nblocks, 1, 32, 32))
    slope = rng.uniform(-1, 1, size=(nblocks, 3, 1, 1))
    noise = rng.normal(0, 200, size=x.shape)
    loc = (256 * x - slope * r - noise).astype(np.int64)
    loc[0, :, 0, :3] = [[-(1 << 26), 1 << 26, 9]] * 3              # errors beyond the clip
    j = rng.integers(0, 128, size=x.shape)
    j[0, :, 1, :2] = [0, 127]
    return x, loc, j


def test_vectorised_rule_equals_the_plain_int_reference():
    for seed in range(2):
        x, loc, j = _case(seed)
        got = colour_regress.regress_locs(x, loc, j)
        assert np.array_equal(got, reference.regress_locs(x, loc, j))
        assert np.array_equal(got[:, 0], loc[:, 0])                  # R never moves
        assert (got[:, 1:] != loc[:, 1:]).mean() > 0.5              # G and B do


def test_it_learns_a_blocks_colour_slope():
    """G's errors twice R's: after a few pixels G's moved location all but removes them."""
    rng = np.random.default_rng(3)
    x = np.full((1, 3, 32, 32), 128, np.int64)
    r = rng.normal(0, 800, size=(1, 32, 32)).astype(np.int64)
    loc = 256 * x
    loc[:, 0] -= r
    loc[:, 1] -= np.clip(2 * r, -4000, 4000)
    got = colour_regress.regress_locs(x, loc, np.full(x.shape, 40))
    before = np.abs(256 * x[:, 1] - loc[:, 1])[:, 8:].mean()
    after = np.abs(256 * x[:, 1] - got[:, 1])[:, 8:].mean()
    assert after < 0.25 * before


def test_only_whole_coded_pixels_count():
    """Pixels not pushed (edge padding, grey images' copied colours) neither move nor teach."""
    x, loc, j = _case(4)
    coded = np.repeat(np.random.default_rng(1).random((3, 1, 32, 32)) < 0.6, 3, axis=1)
    got = colour_regress.regress_locs(x, loc, j, coded)
    assert np.array_equal(got[~coded], loc[~coded])
    kept = np.where(coded, x, 0), np.where(coded, loc, 0)
    assert np.array_equal(got[coded], colour_regress.regress_locs(kept[0], kept[1], j, coded)[coded])
    grey = np.zeros(x.shape, bool)
    grey[:, 0] = True
    assert np.array_equal(colour_regress.regress_locs(x, loc, j, grey), loc)


def test_decoder_state_pixel_by_pixel_equals_the_encoders_rule():
    x, loc, j = _case(5, nblocks=4)
    want = colour_regress.regress_locs(x, loc, j)
    state = colour_regress.RegressState(4)
    for yy in range(32):
        for xx in range(32):
            for c in range(3):
                got = state.loc(c, loc[:, c, yy, xx], j[:, :, yy, xx])
                assert np.array_equal(got, want[:, c, yy, xx])
                state.popped(c, x[:, c, yy, xx], loc[:, c, yy, xx], got)


@pytest.mark.parametrize("scale_adapt", [0, 2])
def test_whole_images_with_edge_padding_and_grey_round_trip(scale_adapt):
    """The C decoder moves the locations exactly as the encoder did (or decoding fails)."""
    from archiver.models.image import image_coder
    from archiver.models.image.model import ImageRuntime
    from cython_ans import Message
    from tests.test_image_runtime import SMALL_AR, random_weights
    cfg = arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": scale_adapt, "colour_adapt": 1})
    rt = ImageRuntime(random_weights(cfg, 3))
    rng = np.random.default_rng(8)
    for channels, (h, w) in ((3, (45, 70)), (1, (33, 35))):
        base = rng.integers(40, 200, size=(channels, 1, 1))
        img = np.clip(base + rng.integers(-9, 10, size=(channels, h, w)), 0, 255).astype(np.uint8)
        if channels == 3:        # correlated colours: the regression has something to learn
            img[1:] = np.clip(img[:1].astype(int) + rng.integers(-2, 3, size=(2, h, w)), 0, 255)
        msg = Message(seed=1)
        image_coder.encode_image(rt, msg, img)
        back = Message.from_bytes(msg.to_bytes(), seed=1)
        assert np.array_equal(image_coder.decode_image(rt, back, channels, h, w), img)
        assert back.is_initial()


def test_older_configs_export_without_the_new_field():
    """Weights shipped before colour_adapt existed re-export byte for byte: the field is
    left out of the config while it is 0."""
    assert "colour_adapt" not in arch.Config().to_dict()
    assert arch.Config(colour_adapt=1).to_dict()["colour_adapt"] == 1
    assert arch.Config(**arch.Config(colour_adapt=1).to_dict()).colour_adapt == 1


def test_the_c_rule_equals_the_numpy_rule_with_and_without_a_coded_mask():
    from archiver.models.image import _ar
    from archiver.models.image.model import ImageRuntime
    from tests.test_image_runtime import SMALL_AR, random_weights
    cfg = arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 2, "colour_adapt": 1})
    kernel = _ar.ArKernel(random_weights(cfg, 3))
    x, loc, j = _case(9, nblocks=4)
    loc = np.clip(loc, -(1 << 26), 1 << 26)
    coded = np.repeat(np.random.default_rng(2).random((4, 1, 32, 32)) < 0.7, 3, axis=1)
    for mask in (None, coded):
        assert np.array_equal(kernel.regress(x, loc, j, mask),
                              colour_regress.regress_locs(x, loc, j, mask))
