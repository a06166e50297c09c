"""The C runner of the image model's spatial networks (archiver/models/image/_conv.pyx): the
integers of runtime.GraphRunner and the int64 reference on every graph it runs, on the plain C
and the SIMD path, at random and at extreme inputs; graphs it cannot run exactly are refused
and keep the numpy path."""
from __future__ import annotations

import numpy as np
import pytest

from archiver.models.image import _conv, arch, reference, runtime
from archiver.models.image.runtime import GraphRunner
from tests.test_image_runtime import CONFIGS, random_inputs, random_weights

PATHS = list(range(_conv.SIMD_LEVEL + 1))     # plain C, AVX2, AVX-512 VNNI
REALISTIC = arch.Config(decoder="ar", trunk=24, scale_adapt=1)


@pytest.fixture(scope="module", params=list(CONFIGS) + ["realistic"])
def weights(request):
    cfg = REALISTIC if request.param == "realistic" else CONFIGS[request.param]
    return random_weights(cfg, seed=5)


@pytest.mark.parametrize("simd", PATHS)
def test_equals_graph_runner_and_reference(weights, simd):
    rng = np.random.default_rng(7)
    for name, g in weights.graphs.items():
        net = _conv.ConvNet(g, weights.convs[name], weights.shift)
        for batch in (1, 3):
            inputs = random_inputs(g, batch, rng)
            got = net(inputs, simd=simd)
            want = GraphRunner(g, weights.convs[name], weights.shift)(inputs)
            assert got.dtype == np.int64 and got.shape == want.shape
            assert np.array_equal(got, want), f"{name}: C runner differs from numpy"
            assert np.abs(got).max() > 0
        assert np.array_equal(got, reference.run_graph(g, weights.convs[name], weights.shift,
                                                       inputs))


@pytest.mark.parametrize("simd", PATHS)
def test_extreme_inputs(weights, simd):
    """Every input at +bound, then at -bound: the largest partial sums the proof allows."""
    for name, g in weights.graphs.items():
        net = _conv.ConvNet(g, weights.convs[name], weights.shift)
        for sign in (1, -1):
            inputs = {n: np.full((2, c, h, w), sign * arch.KIND_MAX[kind], np.int64)
                      for n, kind, (c, h, w) in g.inputs}
            assert np.array_equal(net(inputs, simd=simd),
                                  GraphRunner(g, weights.convs[name], weights.shift)(inputs))


def test_odd_widths_and_channels():
    """Odd output widths (the last pixel of a row runs alone) and odd channel counts (a
    zero pad channel) through a small graph of every op kind."""
    g = arch.Graph("t", (("x", arch.PIXEL, (3, 7, 7)), ("m", arch.ACT, (1, 7, 7))), (
        arch.Conv("a", (("x", 3, "same"), ("m", 1, "same")), 5, "relu"),
        arch.Pad("b", "a", (1, 0, 0, 1)),
        arch.Conv("c", (("b", 3, "valid"),), 5, "linear"),
        arch.Add("d", "c", "c"),
        arch.Crop("e", "d", (0, 4), (1, 5)),
        arch.SpaceToDepth("f", "e"),
        arch.Conv("h", (("f", 1, "same"),), 8, "linear"),
        arch.DepthToSpace("i", "h"),
        arch.Conv("o", (("i", 3, "same"),), 3, "raw")), "o")
    rng = np.random.default_rng(1)
    params = {}
    shapes = arch.shape_of(g)
    for op in g.convs():
        ws = [rng.integers(-127, 128, size=(op.cout, shapes[n][0], k, k)).astype(np.int8)
              for n, k, _ in op.inputs]
        params[op.out] = runtime.ConvParams(
            ws, np.repeat(rng.integers(1 << 10, 1 << 13, size=(1, op.cout)), len(ws), 0),
            rng.integers(-(1 << 20), 1 << 20, size=op.cout))
    net = _conv.ConvNet(g, params, 16)
    for batch in (1, 2):
        inputs = random_inputs(g, batch, rng)
        for simd in PATHS:
            assert np.array_equal(net(inputs, simd=simd),
                                  reference.run_graph(g, params, 16, inputs))


def test_refusals():
    w = random_weights(REALISTIC, seed=2)
    p = w.convs["q2"]["h0"]
    # 16-bit weights: 9 * 8 * 32000 * 1023 > 2**31
    bad = runtime.ConvParams([np.full(p.ws[0].shape, 32000, np.int16)], p.m, p.b)
    with pytest.raises(_conv.ConvNetError, match="2\\*\\*31"):
        _conv.ConvNet(w.graphs["q2"], {**w.convs["q2"], "h0": bad}, w.shift)
    net = _conv.ConvNet(w.graphs["q2"], w.convs["q2"], w.shift)
    inputs = random_inputs(w.graphs["q2"], 1, np.random.default_rng(0))
    inputs["z"][0, 0, 0, 0] = 1025
    with pytest.raises(ValueError, match="-1023..1023"):
        net(inputs)
    with pytest.raises(ValueError, match="must be"):
        net({"z": inputs["z"][:, :, :4]})


def test_runners_pick_the_c_kernel_and_fall_back():
    w = random_weights(REALISTIC, seed=3)
    nets = runtime.runners(w)
    assert isinstance(nets["trunk"], _conv.ConvNet) and isinstance(nets["q1"], _conv.ConvNet)
    assert isinstance(nets["ar"], GraphRunner)


def test_repeated_calls_and_threads_share_nothing_they_should_not():
    """Buffers are reused per thread and batch size: calls of alternating sizes, and calls
    from several threads at once, still give GraphRunner's integers."""
    from concurrent.futures import ThreadPoolExecutor
    w = random_weights(REALISTIC, seed=6)
    g = w.graphs["trunk"]
    net = _conv.ConvNet(g, w.convs["trunk"], w.shift)
    ref = GraphRunner(g, w.convs["trunk"], w.shift)
    rng = np.random.default_rng(9)
    cases = [random_inputs(g, b, rng) for b in (3, 1, 3, 2, 3)]
    want = [ref(c) for c in cases]
    for c, y in zip(cases, want):
        assert np.array_equal(net(c), y)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(net, cases * 4))
            assert all(np.array_equal(a, b) for a, b in zip(got, want * 4))
