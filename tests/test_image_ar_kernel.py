"""The C pixel decoder of the ar image model (archiver/models/image/_ar.pyx): it decodes what
bitswap.encode wrote, pop for pop like the numpy loop it replaces, and its network gives the
integers of runtime.GraphRunner and the int64 reference, on every path (AVX2 or plain C, one or
two threads, int32 or int64 accumulators)."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from archiver.models.image import _ar, arch, bitswap, reference, weights_io
from archiver.models.image.model import BlockInputs, ImageRuntime, ar_inputs
from cython_ans import Message
from tests.test_image_runtime import SMALL_AR, random_weights

REALISTIC = arch.Config(decoder="ar", trunk=24)
VARIANTS = [(threads, simd) for threads in (1, 2) for simd in range(_ar.SIMD_LEVEL + 1)]


def _blocks(seed: int, n: int, flags: np.ndarray | None = None,
            width: int = arch.CROP_W) -> BlockInputs:
    """Smooth-ish random crops; flags (n, 3) bool = top, left, topright (random if None)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, 1, 1, 3))
    crops = np.clip(base + rng.integers(-20, 21, size=(n, arch.CROP_H, width, 3)), 0, 255)
    if flags is None:
        flags = rng.random((n, 3)) < 0.7
    return BlockInputs.from_crops(crops.astype(np.uint8), flags[:, 0], flags[:, 1], flags[:, 2])


# every combination of top / left / topright context, twice
EDGE_FLAGS = np.array([[t, l, r] for t in (0, 1) for l in (0, 1) for r in (0, 1)] * 2, bool)


def _push_pixels(rt: ImageRuntime, inp: BlockInputs, z: np.ndarray, seed: int) -> bytes:
    """A message holding only the blocks' pixels, pushed as bitswap's encoder does."""
    msg = Message(seed=seed)
    bitswap._encode_pixels(rt, msg, inp, rt.trunk(inp, z))
    return msg.to_bytes()


@pytest.fixture(autouse=True)
def numpy_runtime(monkeypatch):
    """ImageRuntime.ar_raw on whole blocks would itself call the kernel: the expectations here
    come from the numpy GEMM path instead."""
    from archiver.models.image import model
    monkeypatch.setattr(model, "USE_AR_KERNEL", False)


@pytest.fixture(scope="module",
                params=["small", "realistic", "small_adapt", "small_xadapt", "small_creg",
                        "small_sreg", "small_sreg_only", "small_tail"])
def runtime(request):
    cfg = {"small": SMALL_AR, "realistic": REALISTIC,
           "small_adapt": arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 1}),
           "small_xadapt": arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 2}),
           "small_creg": arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 2,
                                        "colour_adapt": 1}),
           "small_sreg": arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 2,
                                        "colour_adapt": 1, "spatial_adapt": 1}),
           "small_sreg_only": arch.Config(**{**SMALL_AR.to_dict(),
                                             "spatial_adapt": 1}),
           # every rule and the tailed logistic, as the shipped weights use them
           "small_tail": arch.Config(**{**SMALL_AR.to_dict(), "scale_adapt": 2,
                                        "colour_adapt": 1, "spatial_adapt": 1,
                                        "tail": 1})}[request.param]
    return ImageRuntime(random_weights(cfg, seed=4))


def test_decodes_what_bitswap_encoded_like_the_numpy_loop(runtime, monkeypatch):
    """Two batches chained on one message, decoded with the kernel and with the numpy loop:
    the same pixels, and the message back to its initial state."""
    a, b = _blocks(1, 3), _blocks(2, 5, EDGE_FLAGS[:5])
    msg = Message(seed=5)
    bitswap.encode(runtime, msg, a)
    bitswap.encode(runtime, msg, b)
    data = msg.to_bytes()
    decoded = {}
    for kernel in (True, False):
        monkeypatch.setattr(bitswap, "AR_KERNEL", kernel)
        back = Message.from_bytes(data, seed=5)
        got_b = bitswap.decode(runtime, back, b.context_only())
        got_a = bitswap.decode(runtime, back, a.context_only())
        assert back.is_initial()
        decoded[kernel] = (got_a, got_b)
        for got, want in ((got_a, a), (got_b, b)):
            assert np.array_equal(got.crop, want.crop)
            assert np.array_equal(got.block, want.block)
    for x, y in zip(decoded[True], decoded[False]):
        assert np.array_equal(x.crop, y.crop)


@pytest.mark.parametrize("threads,simd", VARIANTS)
def test_every_path_pops_the_same_pixels_at_image_edges(runtime, threads, simd):
    """All eight top/left/topright combinations (the top-left block of an image has no
    context at all), 40x40 crops without right context, on each code path."""
    rng = np.random.default_rng(7)
    kernel = _ar.ArKernel(runtime.w)
    for inp in (_blocks(3, len(EDGE_FLAGS), EDGE_FLAGS), _blocks(4, 4, EDGE_FLAGS[::4], 40)):
        cfg = runtime.cfg
        z = rng.integers(0, arch.LATENT_BINS, size=(len(inp.block), cfg.zc, cfg.zs, cfg.zs))
        data = _push_pixels(runtime, inp, z, seed=9)
        hidden = inp.context_only()
        msg = Message.from_bytes(data, seed=9)
        kernel.decode(msg, hidden.crop, hidden.known, runtime.trunk(hidden, z).feats,
                      threads=threads, simd=simd)
        assert np.array_equal(hidden.crop, inp.crop)
        assert msg.is_initial()


def test_decode_consumes_exactly_the_pixels_and_leaves_later_words():
    """Words pushed before the pixels (an earlier batch) stay on the message untouched."""
    rt = ImageRuntime(random_weights(SMALL_AR, seed=2))
    inp = _blocks(5, 6)
    z = np.random.default_rng(1).integers(0, arch.LATENT_BINS, size=(6, 4, 8, 8))
    msg = Message(seed=3)
    below = np.arange(200) % 256
    msg.push_uniform(below, 256)
    bitswap._encode_pixels(rt, msg, inp, rt.trunk(inp, z))
    hidden = inp.context_only()
    _ar.decode_ar_pixels(msg, rt.w, hidden.crop, hidden.known, rt.trunk(hidden, z).feats)
    assert np.array_equal(hidden.crop, inp.crop)
    assert np.array_equal(msg.pop_uniform(200, 256), below) and msg.is_initial()


@pytest.mark.parametrize("threads,simd", VARIANTS)
def test_network_equals_graph_runner_and_reference(runtime, threads, simd):
    rng = np.random.default_rng(11)
    inp = _blocks(6, len(EDGE_FLAGS), EDGE_FLAGS)
    cfg = runtime.cfg
    z = rng.integers(0, arch.LATENT_BINS, size=(len(inp.block), cfg.zc, cfg.zs, cfg.zs))
    trunk = runtime.trunk(inp, z)
    y, base2 = _ar.ArKernel(runtime.w).raw(inp.crop, inp.known, trunk.feats, threads, simd)
    want, want_base2 = runtime.ar_raw(inp, trunk)
    assert np.array_equal(y, want) and np.array_equal(base2, want_base2)
    if cfg is SMALL_AR:
        feeds, _ = ar_inputs(inp.crop, inp.known, cfg.ar_radius, (0, 32), (0, 32))
        feeds["tfeat"] = trunk.feats
        assert np.array_equal(y, reference.run(runtime.w, "ar", feeds))


def _extreme_weights(seed: int):
    """Weights that push the kernel off its fast paths: fine (16-bit) skip weights at full
    scale with radius 5, so those partial sums pass 2^31 (int64 accumulation), and
    multipliers above 2^31 on one conv (scalar requantisation)."""
    cfg = arch.Config(**{**SMALL_AR.to_dict(), "ar_radius": 5})
    w = random_weights(cfg, seed)
    g = w.graphs["ar"]
    out = g.convs()[-1]
    fine = [name for name, _, _ in out.inputs].index("nbr")
    p = w.convs["ar"][out.out]
    p.ws[fine][...] = np.where(p.ws[fine] < 0, -32767, 32767)
    h = w.convs["ar"][g.convs()[1].out]
    h.ws[0] //= 64                                      # keep acc * m below the int64 bound
    h.m[...] = (1 << 33) + np.arange(h.m.shape[1])
    weights_io.check_exact(w)
    return w


def test_int64_accumulators_and_wide_multipliers_stay_exact():
    w = _extreme_weights(5)
    classes = [c for op in _ar._plan(w)[0] for c in op["cls"]]
    assert any(c["wide"] for c in classes) and not all(c["m32"] for c in classes)
    rt = ImageRuntime(w)
    kernel = _ar.ArKernel(w)
    rng = np.random.default_rng(12)
    inp = _blocks(8, 4)
    z = rng.integers(0, arch.LATENT_BINS, size=(4, w.cfg.zc, w.cfg.zs, w.cfg.zs))
    trunk = rt.trunk(inp, z)
    want, _ = rt.ar_raw(inp, trunk)
    for threads, simd in VARIANTS:
        y, _ = kernel.raw(inp.crop, inp.known, trunk.feats, threads, simd)
        assert np.array_equal(y, want), (threads, simd)
    data = _push_pixels(rt, inp, z, seed=1)
    hidden = inp.context_only()
    msg = Message.from_bytes(data, seed=1)
    kernel.decode(msg, hidden.crop, hidden.known, trunk.feats)
    assert np.array_equal(hidden.crop, inp.crop) and msg.is_initial()


def test_kernel_refuses_bad_weights_and_inputs():
    with pytest.raises(_ar.ArKernelError, match="decoder"):
        _ar.ArKernel(random_weights(arch.Config(levels=2, zc=4, width=8, trunk=8, head=8,
                                                zfeat=4), 1))
    w = random_weights(SMALL_AR, 1)
    kernel = _ar.ArKernel(w)
    inp = _blocks(1, 2)
    tf = np.zeros((2, SMALL_AR.tfeat, 32, 32), np.int64)
    with pytest.raises(TypeError, match="Message"):
        kernel.decode(b"words", inp.crop, inp.known, tf)
    with pytest.raises(ValueError, match="crop must be"):
        kernel.decode(Message(), inp.crop[:, :, :39], inp.known, tf)
    with pytest.raises(ValueError, match="known values"):
        kernel.decode(Message(), inp.crop, inp.known * 2, tf)
    with pytest.raises(ValueError, match="tfeat values"):
        kernel.decode(Message(), inp.crop, inp.known, tf + 128)
    with pytest.raises(ValueError, match="tfeat must be"):
        kernel.raw(inp.crop, inp.known, tf[:, :1])
    with pytest.raises(ValueError, match="threads"):
        kernel.raw(inp.crop, inp.known, tf, threads=3)
    msg = Message(seed=2)
    kernel.decode(msg, inp.crop.copy(), inp.known, tf)      # pops from the seeded source
    assert msg.initial_bits_drawn > 0



def test_two_decoders_in_parallel_threads():
    """The kernel releases the GIL: two Python threads decoding their own messages at once
    (as two archive workers would) both get their pixels back."""
    rt = ImageRuntime(random_weights(SMALL_AR, seed=6))
    jobs = []
    for seed in (1, 2):
        inp = _blocks(seed, 6)
        z = np.random.default_rng(seed).integers(0, arch.LATENT_BINS, size=(6, 4, 8, 8))
        jobs.append((inp, z, _push_pixels(rt, inp, z, seed)))
    results = [None, None]

    def run(i):
        inp, z, data = jobs[i]
        hidden = inp.context_only()
        msg = Message.from_bytes(data, seed=i + 1)
        _ar.decode_ar_pixels(msg, rt.w, hidden.crop, hidden.known, rt.trunk(hidden, z).feats,
                             threads=2)
        results[i] = np.array_equal(hidden.crop, inp.crop) and msg.is_initial()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True]


@pytest.mark.skipif(os.environ.get("BBX_SLOW_TESTS") != "1", reason="set BBX_SLOW_TESTS=1")
def test_slow_two_thread_hand_offs_under_many_batch_sizes():
    """Hundreds of decodes on two threads with batch sizes across the chunking threshold:
    the per-pixel hand-offs never lose or reorder a block."""
    rt = ImageRuntime(random_weights(SMALL_AR, seed=3))
    kernel = _ar.ArKernel(rt.w)
    rng = np.random.default_rng(0)
    for _ in range(150):
        b = int(rng.integers(2, 80))
        inp = _blocks(int(rng.integers(1 << 30)), b)
        z = rng.integers(0, arch.LATENT_BINS, size=(b, 4, 8, 8))
        data = _push_pixels(rt, inp, z, seed=1)
        hidden = inp.context_only()
        msg = Message.from_bytes(data, seed=1)
        kernel.decode(msg, hidden.crop, hidden.known, rt.trunk(hidden, z).feats, threads=2)
        assert np.array_equal(hidden.crop, inp.crop) and msg.is_initial(), b


@pytest.mark.parametrize("channels", [3, 1])
def test_push_params_equal_the_numpy_pipeline(runtime, channels):
    """The encoder's C path (symbols, locations, adapted scales in pop order, edge blocks'
    padding left out) gives the integers of ar_raw + ar_params + the pop ordering in numpy."""
    from archiver.models.image import image_coder
    inp = _blocks(11, 6)
    rng = np.random.default_rng(12)
    z = rng.integers(0, arch.LATENT_BINS, size=(6, runtime.cfg.zc, runtime.cfg.zs,
                                                runtime.cfg.zs))
    trunk = runtime.trunk(inp, z)
    ext = np.array([[32, 32], [1, 32], [32, 1], [17, 5], [32, 31], [2, 2]])
    y, base2 = runtime.ar_raw(inp, trunk)
    x = inp.pixels()
    coded = image_coder._coded_mask(ext, channels)
    p = runtime.ar_params(y, base2, x, coded)
    keep = image_coder._decode_order(coded)
    want = [image_coder._decode_order(a)[keep] for a in (x, p.loc, p.scale_idx)]
    for simd in range(_ar.SIMD_LEVEL + 1):
        got = _ar.ArKernel(runtime.w).push_params(inp.crop, inp.known, trunk.feats, ext,
                                                  channels, simd=simd)
        for g, w in zip(got, want):
            assert np.array_equal(g, w), simd
