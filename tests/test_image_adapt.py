"""Scale adaptation of the ar image decoder (Config.scale_adapt): the encoder's vectorised
rule, the decoder's pixel-by-pixel state and the plain-int reference give the same scale
indices, and it steers the coder (changes the indices where a block's errors disagree with
the network's scales)."""
from __future__ import annotations

import numpy as np
import pytest

from archiver.models.image import adapt, arch, reference


def _case(seed: int, nblocks: int = 3, noise: int = 6):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(nblocks, 3, 32, 32))
    # locations off by noise of a per-block size; scale indices over the whole range, in
    # runs (as a network's are), with the extremes 0 and 127 present
    sigma = rng.integers(1, noise + 1, size=(nblocks, 1, 1, 1)) * 64
    loc = 256 * x + 128 + rng.normal(0, 1, x.shape) * sigma
    loc = np.clip(loc, -(1 << 26), 1 << 26).astype(np.int64)
    loc[0, 0, 0, :4] = [-(1 << 26), 1 << 26, 0, 65535]         # errors beyond the clip
    j = np.repeat(rng.integers(0, 128, size=(nblocks, 3, 32, 4)), 8, axis=3)
    j[0, 1, 0, :2] = [0, 127]
    return x, loc, j


@pytest.mark.parametrize("cross", [False, True])
def test_vectorised_rule_equals_the_plain_int_reference(cross):
    for seed in range(3):
        x, loc, j = _case(seed)
        want = reference.adapt_scales(x, loc, j, cross)
        got = adapt.adapt_scales(x, loc, j, cross=cross)
        assert np.array_equal(got, want)
        assert (got != j).mean() > 0.3          # it does change the coder's parameters


def test_cross_colour_shift_follows_the_earlier_colours_errors():
    """scale_adapt 2: G and B of pixels whose R was far off get larger indices than with the
    block rule alone, and smaller where R was nearly exact (small network scales)."""
    j = np.full((1, 3, 32, 32), 20, np.int64)
    x = np.full((1, 3, 32, 32), 100, np.int64)
    loc = 256 * x
    loc[0, 0, ::2] += 16 * arch.ADAPT_MAD[20]          # R far off on even rows
    base = adapt.adapt_scales(x, loc, j)
    both = adapt.adapt_scales(x, loc, j, cross=True)
    assert (both[0, 1:, ::2] > base[0, 1:, ::2]).all()
    assert (both[0, 1:, 1::2] < base[0, 1:, 1::2]).any()
    assert np.array_equal(both, reference.adapt_scales(x, loc, j, True))


@pytest.mark.parametrize("cross", [False, True])
def test_decoder_state_pixel_by_pixel_equals_the_encoders_rule(cross):
    x, loc, j = _case(5, nblocks=4)
    want = adapt.adapt_scales(x, loc, j, cross=cross)
    state = adapt.ScaleState(4, cross)
    for yy in range(32):
        for xx in range(32):
            for c in range(3):
                got = state.scale(c, j[:, c, yy, xx])
                assert np.array_equal(got, want[:, c, yy, xx])
                state.update(c, j[:, c, yy, xx], x[:, c, yy, xx], loc[:, c, yy, xx])


def test_scales_follow_the_errors_within_a_bucket():
    """Errors 4x the expected size raise a bucket's index by up to 2 octaves (16 steps) but
    never past DMAX; errors far below it lower the index; the first pixel keeps the
    network's."""
    j = np.full((1, 3, 32, 32), 40, np.int64)
    x = np.full((1, 3, 32, 32), 100, np.int64)
    mad = arch.ADAPT_MAD[40]
    loc = 256 * x + np.where(np.arange(32) % 2, 1, -1) * 4 * mad
    loc[:, 2] = 256 * x[:, 2]                                    # blue: exact predictions
    out = adapt.adapt_scales(x, loc, j)
    assert out[0, 0, 0, 0] == 40
    assert out[0, 0, -1, -1] == 40 + arch.ADAPT_DMAX             # clamped at +DMAX
    assert out[0, 2, -1, -1] == 40 - arch.ADAPT_DMAX
    assert np.array_equal(out[0, 0], out[0, 1])


@pytest.mark.parametrize("mode", [1, 2])
def test_whole_images_with_edge_padding_and_grey_round_trip_with_adaptation(mode):
    """The image coder pushes only real pixels (and one colour of grey images); the encoder's
    adaptation counts exactly the pixels the C decoder pops, or decoding would go wrong."""
    from archiver.models.image import image_coder
    from archiver.models.image.model import ImageRuntime
    from cython_ans import Message
    from tests.test_image_runtime import SMALL_AR, random_weights
    rt = ImageRuntime(random_weights(arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": mode}),
                                     3))
    rng = np.random.default_rng(8)
    for channels, (h, w) in ((3, (45, 70)), (1, (33, 35))):
        base = rng.integers(40, 200, size=(channels, 1, 1))
        img = np.clip(base + rng.integers(-9, 10, size=(channels, h, w)), 0, 255).astype(np.uint8)
        msg = Message(seed=1)
        image_coder.encode_image(rt, msg, img)
        back = Message.from_bytes(msg.to_bytes(), seed=1)
        assert np.array_equal(image_coder.decode_image(rt, back, channels, h, w), img)
        assert back.is_initial()


@pytest.mark.parametrize("mode", [1, 2])
def test_the_c_rule_equals_the_numpy_rule_with_and_without_a_coded_mask(mode):
    from archiver.models.image import _ar
    from archiver.models.image.model import ImageRuntime
    from tests.test_image_runtime import SMALL_AR, random_weights
    rt = ImageRuntime(random_weights(arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": mode}),
                                     3))
    kernel = _ar.ArKernel(rt.w)
    x, loc, j = _case(9, nblocks=4)
    # coded as the image coder's masks are: whole pixels (all colours) or none
    coded = np.repeat(np.random.default_rng(2).random((4, 1, 32, 32)) < 0.7, 3, axis=1)
    for mask in (None, coded):
        want = adapt.adapt_scales(x, loc, j, mask, cross=mode == 2)
        got = kernel.adapt(x, loc, j, mask)
        keep = np.ones(x.shape, bool) if mask is None else mask
        assert np.array_equal(got[keep], want[keep])
    assert not np.array_equal(adapt.adapt_scales(x, loc, j, coded)[coded],
                              adapt.adapt_scales(x, loc, j)[coded])
