"""Bit-Swap coding with the integer image model on the real rANS message decodes exactly."""
from __future__ import annotations

import numpy as np
import pytest

from archiver.models.image import arch, bitswap
from archiver.models.image.codelength import block_bits
from archiver.models.image.model import BlockInputs, ImageRuntime, coded_scales
from cython_ans import TAIL_FLAG, Message
from tests.test_image_runtime import CONFIGS, random_weights


def _blocks(seed: int, n: int) -> BlockInputs:
    rng = np.random.default_rng(seed)
    # smooth-ish random content so the model's distributions are not all at the edges
    base = rng.integers(0, 256, size=(n, 1, 1, 3))
    crops = np.clip(base + rng.integers(-20, 21, size=(n, arch.CROP_H, arch.CROP_W, 3)),
                    0, 255).astype(np.uint8)
    return BlockInputs.from_crops(crops, rng.random(n) < 0.7, rng.random(n) < 0.7,
                                  rng.random(n) < 0.7)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_bitswap_round_trip_two_batches_on_one_message(config):
    rt = ImageRuntime(random_weights(CONFIGS[config], 4))
    a, b = _blocks(1, 3), _blocks(2, 2)
    msg = Message(seed=5)
    bitswap.encode(rt, msg, a)
    bitswap.encode(rt, msg, b)
    data = msg.to_bytes()
    back = Message.from_bytes(data, seed=5)
    got_b = bitswap.decode(rt, back, b.context_only())
    got_a = bitswap.decode(rt, back, a.context_only())
    assert np.array_equal(got_b.block, b.block)
    assert np.array_equal(got_a.block, a.block)
    assert back.is_initial()


ADAPT = arch.Config(**{**CONFIGS["ar"].to_dict(), "scale_adapt": 1})
XADAPT = arch.Config(**{**CONFIGS["ar"].to_dict(), "scale_adapt": 2})
TAIL = arch.Config(**{**CONFIGS["ar"].to_dict(), "scale_adapt": 2, "tail": 1})


def test_tail_rule_picks_the_tailed_logistic_by_scale_bucket():
    """Config.tail: indices below 24 and in 40..95 go to the tailed family, the rest stay."""
    j = np.arange(128)
    coded = arch.tail_scales(j)
    tailed = coded >= arch.TAIL_FLAG
    assert np.array_equal(tailed, (j < 24) | ((j >= 40) & (j < 96)))
    assert np.array_equal(coded % arch.TAIL_FLAG, j)
    assert arch.TAIL_FLAG == TAIL_FLAG
    rt = ImageRuntime(random_weights(TAIL, 4))
    assert np.array_equal(coded_scales(rt.cfg, j), coded)
    assert np.array_equal(coded_scales(CONFIGS["ar"], j), j)


@pytest.mark.parametrize("config", ["absolute", "ar", "ar_adapt", "ar_tail"])
def test_message_grows_by_about_the_code_length(config):
    """Net growth of a chained message ~ the -ELBO of the blocks (bits back works)."""
    cfg = {"ar_adapt": ADAPT, "ar_tail": TAIL}.get(config) or CONFIGS[config]
    rt = ImageRuntime(random_weights(cfg, seed=4))
    first, blocks = _blocks(3, 4), _blocks(4, 4)
    msg = Message(seed=1)
    bitswap.encode(rt, msg, first)          # pays the initial bits once
    before = msg.bit_length()
    bitswap.encode(rt, msg, blocks)
    grown = msg.bit_length() - before
    bits = block_bits(rt, blocks, np.random.default_rng(0))
    assert bits.posterior > 100             # a real bits-back saving is at stake
    assert abs(grown - bits.total) < 0.02 * (bits.pixels + bits.prior) + 64


@pytest.mark.parametrize("kernel", [True, False])
def test_scale_adaptation_changes_the_pixel_code_and_still_decodes(kernel, monkeypatch):
    """The same network without Config.scale_adapt, with the block rule (1), with the
    cross-colour shift too (2) and then the tailed logistic: different pixel code lengths (each rule steers the coder), all
    decode exactly, with the C pixel kernel and with the numpy loop (adapt.ScaleState)."""
    import dataclasses
    monkeypatch.setattr(bitswap, "AR_KERNEL", kernel)
    w = random_weights(ADAPT, seed=4)
    plain = ImageRuntime(dataclasses.replace(w, cfg=CONFIGS["ar"], graphs={}))
    adapted = ImageRuntime(w)
    crossed = ImageRuntime(dataclasses.replace(w, cfg=XADAPT, graphs={}))
    tailed = ImageRuntime(dataclasses.replace(w, cfg=TAIL, graphs={}))
    blocks = _blocks(6, 3)
    bits = [block_bits(rt, blocks, np.random.default_rng(0)).pixels
            for rt in (plain, adapted, crossed, tailed)]
    assert len(set(bits)) == 4
    for rt in (plain, adapted, crossed, tailed):
        msg = Message(seed=2)
        bitswap.encode(rt, msg, blocks)
        back = Message.from_bytes(msg.to_bytes(), seed=2)
        assert np.array_equal(bitswap.decode(rt, back, blocks.context_only()).block, blocks.block)
        assert back.is_initial()
