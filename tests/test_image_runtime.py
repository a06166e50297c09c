"""Integer-exact image model runtime: the fast float32-GEMM path equals the int64 reference bit
for bit, at 1 and 2 BLAS threads, on random weights and on the shipped weights."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from archiver.models.image import arch, reference, weights_io
from archiver.models.image.model import GRID, BlockInputs, ImageRuntime, ar_inputs, chain_locs
from archiver.models.image.runtime import GraphRunner
from archiver.models.image.weights_io import ConvParams, ImageWeights, ImageWeightsError

REPO = Path(__file__).resolve().parents[1]
SMALL = arch.Config(levels=2, zc=4, width=8, trunk=8, head=8, zfeat=4)
SMALL_AR = arch.Config(**{**SMALL.to_dict(), "decoder": "ar", "ar_hidden": 8, "ar_radius": 2,
                          "tfeat": 4})
CONFIGS = {"absolute": SMALL, "dc_base": arch.Config(**{**SMALL.to_dict(), "dc_base": True}),
           "ar": SMALL_AR,
           # two residual blocks (as image-l4e) and the grid position input (grid_pos runs)
           "ar_grid": arch.Config(**{**SMALL_AR.to_dict(), "ar_blocks": 2, "grid_pos": 1})}


def random_weights(cfg: arch.Config, seed: int) -> ImageWeights:
    """Random int8 weights, scaled down per output channel until the float32 bound holds."""
    rng = np.random.default_rng(seed)
    convs = {}
    for name, g in arch.graphs(cfg).items():
        shapes = arch.shape_of(g)
        kinds = arch.tensor_kinds(g)
        convs[name] = {}
        for op in g.convs():
            gk = arch.group_classes(g, op)
            ws = []
            for (n, k, _), cls in zip(op.inputs, gk):
                lim = arch.class_weight_max(cls)
                w = rng.integers(-lim, lim + 1, size=(op.cout, shapes[n][0], k, k))
                if not cls.endswith("16"):       # int8 classes: shrink to the float32 bound
                    bound = np.abs(w).reshape(op.cout, -1).sum(1) * arch.KIND_MAX[kinds[n]]
                    shrink = np.maximum(1, -(-bound // (weights_io.FLOAT_EXACT - 1)))
                    w = w // shrink.reshape(-1, 1, 1, 1)
                ws.append(w.astype(np.int16 if cls.endswith("16") else np.int8))
            # multipliers that keep activations spread over the int8 range
            per_kind = {k: rng.integers(1 << 12, 1 << 15, size=op.cout) >> (8 if k.endswith("16") else 0)
                        for k in set(gk)}
            m = np.stack([per_kind[k] for k in gk])
            b = rng.integers(-(1 << 30), 1 << 30, size=op.cout)
            convs[name][op.out] = ConvParams(ws, m.astype(np.int64), b.astype(np.int64))
    return ImageWeights(cfg, 24, convs, np.full(cfg.levels, 0.01), (130944, 60))


def random_inputs(graph: arch.Graph, batch: int, rng) -> dict[str, np.ndarray]:
    out = {}
    for name, kind, (c, h, w) in graph.inputs:
        lim = arch.KIND_MAX[kind]
        out[name] = rng.integers(-lim, lim + 1, size=(batch, c, h, w))
    return out


@pytest.fixture(scope="module", params=list(CONFIGS))
def small_weights(request):
    return random_weights(CONFIGS[request.param], seed=1)


@pytest.fixture(scope="module", params=["absolute", "dc_base"])
def planes_weights(request):
    return random_weights(CONFIGS[request.param], seed=1)


def random_crops(rng, n: int, width: int = arch.CROP_W) -> np.ndarray:
    return rng.integers(0, 256, size=(n, arch.CROP_H, width, 3), dtype=np.uint8)


def test_fast_path_equals_int64_reference_on_random_weights(small_weights):
    rng = np.random.default_rng(2)
    for name, g in small_weights.graphs.items():
        fast = GraphRunner(g, small_weights.convs[name], small_weights.shift)
        inputs = random_inputs(g, 3, rng)
        a = fast(inputs)
        b = reference.run_graph(g, small_weights.convs[name], small_weights.shift, inputs)
        assert a.dtype == np.int64 and a.shape == b.shape
        assert np.array_equal(a, b), f"{name}: fast path differs from the int64 reference"
        assert np.abs(a).max() > 0


def test_extreme_inputs_saturate_identically(small_weights):
    """All inputs at their bound: the largest partial sums the exactness proof allows."""
    for name, g in small_weights.graphs.items():
        inputs = {n: np.full((1, c, h, w), arch.KIND_MAX[kind], np.int64)
                  for n, kind, (c, h, w) in g.inputs}
        fast = GraphRunner(g, small_weights.convs[name], small_weights.shift)(inputs)
        assert np.array_equal(fast, reference.run_graph(g, small_weights.convs[name],
                                                        small_weights.shift, inputs))


def test_weights_round_trip_and_refusals(small_weights, tmp_path):
    path = tmp_path / "w.npz"
    weights_io.save(small_weights, path)
    back = weights_io.load(path)
    assert back.cfg == small_weights.cfg and back.top_prior == small_weights.top_prior
    for name, convs in small_weights.convs.items():
        for op, p in convs.items():
            q = back.convs[name][op]
            assert all(np.array_equal(x, y) for x, y in zip(p.ws, q.ws))
            assert np.array_equal(p.m, q.m) and np.array_equal(p.b, q.b)
    # a weight row whose partial sums could pass 2**24 is refused
    bad = random_weights(arch.Config(levels=2, zc=16, width=8, trunk=8, head=8, zfeat=4), 1)
    bad.convs["p1"]["h0"].ws[0][...] = 127       # 9 * 16 * 1023 * 127 > 2**24
    with pytest.raises(ImageWeightsError, match="2\\*\\*24"):
        weights_io.check_exact(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ImageWeightsError, match="unreadable"):
        weights_io.load(tmp_path / "junk.npz")


def test_head_through_the_model_equals_the_reference_every_pass(planes_weights):
    """model.head (plane-only outputs, cached trunk sums, DC base correction) = reference."""
    small_weights = planes_weights
    rt = ImageRuntime(small_weights)
    rng = np.random.default_rng(5)
    crops = rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    inp = BlockInputs.from_crops(crops, np.array([True, False, True]), np.array([True, True, False]))
    z = rng.integers(0, arch.LATENT_BINS, size=(3, SMALL.zc, SMALL.zs, SMALL.zs))
    trunk = rt.trunk(inp, z)
    decoded: list[int] = []
    for plane in arch.PASS_ORDER:
        planes = np.pad(inp.ctx[:, :, 3:, 3:], ((0, 0), (0, 0), (0, 1), (0, 1)))
        known = np.repeat(np.pad(inp.ctxmask[:, :, 3:, 3:], ((0, 0), (0, 0), (0, 1), (0, 1))), 4, 1)
        known[:, :, 1:17, 1:17] = 0
        for p in decoded:
            planes[:, 3 * p:3 * p + 3, 1:17, 1:17] = 2 * inp.block[:, 3 * p:3 * p + 3] - 255
            known[:, p, 1:17, 1:17] = arch.MASK_ON
        ref = reference.run(small_weights, "head", {"trunk": trunk.feats, "planes": planes,
                                                    "known": known})
        o = plane * arch.PIXEL_PARAMS
        assert np.array_equal(rt.head(inp, trunk, decoded, plane), ref[:, o:o + 9])
        assert np.array_equal(rt.head(inp, trunk, decoded), ref)
        decoded.append(plane)


def test_ar_pixel_by_pixel_equals_the_block_and_the_reference():
    """The decoder's one-pixel evaluations (only earlier pixels known) give the integers of the
    encoder's whole-block evaluation, and both equal the int64 reference."""
    w = random_weights(SMALL_AR, seed=3)
    rt = ImageRuntime(w)
    rng = np.random.default_rng(6)
    crops = random_crops(rng, 4)
    inp = BlockInputs.from_crops(crops, np.array([1, 0, 1, 1], bool), np.array([1, 1, 0, 1], bool),
                                 np.array([1, 1, 1, 0], bool))
    z = rng.integers(0, arch.LATENT_BINS, size=(4, SMALL.zc, SMALL.zs, SMALL.zs))
    trunk = rt.trunk(inp, z)
    full, base2 = rt.ar_raw(inp, trunk)
    feeds, _ = ar_inputs(inp.crop, inp.known, SMALL_AR.ar_radius, (0, 32), (0, 32))
    feeds["tfeat"] = trunk.feats
    assert np.array_equal(full, reference.run(w, "ar", feeds))
    hidden = inp.context_only()
    for y, x in [(0, 0), (0, 31), (1, 30), (13, 7), (31, 31)]:
        hidden.crop[:, :, 8:8 + y, 8:40] = inp.crop[:, :, 8:8 + y, 8:40]      # rows above
        hidden.crop[:, :, 8 + y, 8:8 + x] = inp.crop[:, :, 8 + y, 8:8 + x]    # left in the row
        one, b1 = rt.ar_raw(hidden, trunk, (y, y + 1), (x, x + 1))
        assert np.array_equal(one[:, :, 0, 0], full[:, :, y, x]), (y, x)
        assert np.array_equal(b1[:, :, 0, 0], base2[:, :, y, x])
        hidden = inp.context_only()


def test_ar_inputs_read_only_known_causal_pixels():
    rng = np.random.default_rng(8)
    crops = random_crops(rng, 2)
    inp = BlockInputs.from_crops(crops, np.array([0, 1], bool), np.array([1, 0], bool),
                                 np.array([1, 0], bool))
    feeds, base2 = ar_inputs(inp.crop, inp.known, 2, (0, 32), (0, 32))
    offs = arch.ar_offsets(2)
    up = offs.index((-1, 0))
    # block 0 has no rows above: its first row sees no upper neighbour and base = W
    assert not feeds["nbr"][0, 3 * up:3 * up + 3, 0].any()
    assert np.array_equal(base2[0, :, 0, 1:], 2 * inp.crop[0, :, 8, 8:39])
    assert not feeds["flags"][0, 0, 0].any() and feeds["flags"][0, 0, 1:].all()
    # block 1: no column left, no block above-right
    assert not feeds["flags"][1, 1, :, 0].any() and not feeds["flags"][1, 2, 0, 30:].any()
    # pixels right of the block in its own rows are never known
    assert not feeds["flags"][:, 2, 1:, 30:].any() and feeds["flags"][:, 2, 1:, :30].all()
    # top-left pixel of an image (nothing known): base 128 and no neighbours
    b = BlockInputs.from_crops(crops[:1], np.array([False]), np.array([False]))
    f0, b0 = ar_inputs(b.crop, b.known, 2, (0, 1), (0, 1))
    assert (b0 == 256).all() and not f0["nbr"].any() and not f0["flags"].any()


def test_block_inputs_hide_unavailable_context():
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    inp = BlockInputs.from_crops(crops, np.array([True, False, True]), np.array([True, True, False]))
    # block region of the context grid is always empty
    assert not inp.ctx[:, :, 4:, 4:].any() and not inp.ctxmask[:, :, 4:, 4:].any()
    assert inp.ctxmask[0, 0, :4].all() and inp.ctxmask[0, 0, :, :4].all()
    assert not inp.ctx[1, :, :4].any() and inp.ctxmask[1, 0, 4:, :4].all()   # no rows above
    assert not inp.ctx[2, :, :, :4].any() and not inp.ctxmask[2, 0, :4, :4].any()
    assert np.array_equal(inp.block[:, 0:3], crops[:, 8::2, 8::2].transpose(0, 3, 1, 2))


def test_colour_chain_is_integer_linear():
    base = np.array([[[[1000]], [[2000]], [[3000]]]], np.int64)
    c = np.array([[[[256]], [[-128]], [[64]]]], np.int64)
    x = np.array([[[[200]], [[100]], [[0]]]], np.int64)
    loc = chain_locs(base, c, x)
    assert loc[0, :, 0, 0].tolist() == [1000, 2000 + 256 * 72, 3000 - 128 * 72 + 64 * (-28)]


def _digest_script(weights_path: str, net: str) -> str:
    return f"""
import hashlib, numpy as np
from pathlib import Path
from archiver.models.image import weights_io
from archiver.models.image.runtime import GraphRunner
w = weights_io.load(Path({weights_path!r}))
g = w.graphs[{net!r}]
rng = np.random.default_rng(7)
inputs = {{n: rng.integers(-arch_max, arch_max + 1, size=(64, c, h, wd))
          for n, arch_max, (c, h, wd) in
          [(n, {{'pixel': 255, 'act': 127, 'latent': 1023, 'diff': 510}}[k], s)
           for n, k, s in g.inputs]}}
out = GraphRunner(g, w.convs[{net!r}], w.shift)(inputs)
print(hashlib.sha256(out.tobytes()).hexdigest())
"""


@pytest.mark.parametrize("which", ["pixels", "trunk"])
def test_same_bits_at_one_and_two_blas_threads(small_weights, tmp_path, which):
    net = which if which == "trunk" else {"planes": "head", "ar": "ar"}[small_weights.cfg.decoder]
    path = tmp_path / "w.npz"
    weights_io.save(small_weights, path)
    digests = []
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads)
        r = subprocess.run([sys.executable, "-c", _digest_script(str(path), net)], env=env,
                           capture_output=True, text=True, cwd=REPO, timeout=120)
        assert r.returncode == 0, r.stderr
        digests.append(r.stdout.strip())
    rng = np.random.default_rng(7)
    g = small_weights.graphs[net]
    inputs = {n: rng.integers(-arch.KIND_MAX[k], arch.KIND_MAX[k] + 1, size=(64, *s))
              for n, k, s in g.inputs}
    ref = reference.run_graph(g, small_weights.convs[net], small_weights.shift, inputs)
    assert digests[0] == digests[1] == hashlib.sha256(ref.tobytes()).hexdigest()


@pytest.mark.parametrize("name", ["image-l4.npz", "image-l4b.npz", "image-l4c.npz",
                                  "image-l4d.npz", "image-l4e.npz", "image-l4f.npz"])
def test_shipped_weights_are_verified_exact_and_match_the_reference(name):
    from archiver.models.weights import verified_path
    path, digest = verified_path(name)
    w = weights_io.load(path)
    assert w.cfg.levels >= 4 and len(digest) == 64
    rt = ImageRuntime(w)
    rng = np.random.default_rng(11)
    base = rng.integers(0, 256, size=(2, 1, 1, 3))
    crops = np.clip(base + rng.integers(-12, 13, size=(2, arch.CROP_H, arch.CROP_W, 3)),
                    0, 255).astype(np.uint8)
    inp = BlockInputs.from_crops(crops, np.array([True, False]), np.array([True, True]))
    z = rng.integers(0, arch.LATENT_BINS, size=(2, w.cfg.zc, w.cfg.zs, w.cfg.zs))
    inputs = {
        "q1": {"xb": 2 * inp.block - 255},
        "trunk": {"ctx": inp.ctx, "ctxmask": inp.ctxmask, "z": 2 * z - 1023},
        "q2": {"z": 2 * z - 1023}, "p1": {"z": 2 * z - 1023},
    }
    if w.cfg.grid_pos:          # the constant grid-position input (image-l4f)
        inputs["trunk"]["pos"] = np.broadcast_to(GRID, (2, *GRID.shape))
    trunk = rt.trunk(inp, z)
    if w.cfg.decoder == "ar":
        feeds, _ = ar_inputs(inp.crop, inp.known, w.cfg.ar_radius, (0, 32), (0, 32))
        inputs["ar"] = {**feeds, "tfeat": trunk.feats}
    else:
        planes = np.pad(inp.ctx[:, :, 3:, 3:], ((0, 0), (0, 0), (0, 1), (0, 1)))
        known = np.repeat(np.pad(inp.ctxmask[:, :, 3:, 3:], ((0, 0), (0, 0), (0, 1), (0, 1))),
                          4, 1)
        known[:, :, 1:17, 1:17] = 0
        inputs["head"] = {"trunk": trunk.feats, "planes": planes, "known": known}
    for net, inp_net in inputs.items():
        fast = rt.nets[net](inp_net)
        ref = reference.run_graph(w.graphs[net], w.convs[net], w.shift, inp_net)
        assert np.array_equal(fast, ref), net
    if w.cfg.decoder == "ar":
        full, _ = rt.ar_raw(inp, trunk)
        for y, x in ((0, 0), (9, 31), (31, 2)):
            assert np.array_equal(rt.ar_raw(inp, trunk, (y, y + 1), (x, x + 1))[0][:, :, 0, 0],
                                  full[:, :, y, x])
        return
    # the plane-only head path, with the trunk's partial sums cached over passes, gives the
    # same integers as the full head output
    full = reference.run(w, "head", inputs["head"])
    for plane in (0, 3, 0):
        assert np.array_equal(rt.head(inp, trunk, [], plane), full[:, 9 * plane:9 * plane + 9])
    assert trunk.cache
