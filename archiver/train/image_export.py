"""Export a trained (QAT) checkpoint to the integer weights the runtime reads.

Latent bins (Bit-Swap appendix F): each layer gets LATENT_BINS uniform bins over a symmetric range
[-R_i, R_i] chosen from samples of the inference model on training crops and of ancestral samples
of the generative model, so both fall inside. The top layer uses the same uniform bins under its
standard-logistic prior (the coder's logistic family needs uniform bins; see benchmarks/results).
Every float (weight step, bias, bin width) is folded here, once, into int8 weights and integer
multipliers/offsets; nothing downstream sees a float.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from archiver.models.image import arch
from archiver.models.image.model import LOC_CENTRE
from archiver.models.image.weights_io import ConvParams, ImageWeights, check_exact
from archiver.train.image_torch import LN2, ImageModel, KIND_SCALE

SHIFT = 24
RANGE_QUANTILE = 0.9995
RANGE_MARGIN = 1.25


def load_checkpoint(path: Path) -> ImageModel:
    blob = torch.load(path, weights_only=False, map_location="cpu")
    model = ImageModel(arch.Config(**blob["cfg"]))
    model.load_state_dict(blob["model"])
    model.eval()
    return model


@torch.no_grad()
def latent_samples(model: ImageModel, crops: torch.Tensor) -> list[np.ndarray]:
    """Per layer, |z| of q-samples on training crops and of ancestral generative samples."""
    cfg = model.cfg
    torch.manual_seed(0)
    e = arch.CONTEXT + arch.BLOCK
    pix = (2.0 * crops[:, :, :e, :e] - 255.0) * arch.PIXEL_SCALE
    from archiver.train.image_torch import s2d
    xb = s2d(pix)[:, :, 4:, 4:]
    out = [[] for _ in range(cfg.levels)]
    mu, l2s = model.latent("q1", xb, True, key="xb")
    z = mu + torch.exp(l2s * LN2) * torch.logit(torch.rand_like(mu).clamp(1e-6, 1 - 1e-6))
    out[0].append(z)
    for i in range(2, cfg.levels + 1):
        mu, l2s = model.latent(f"q{i}", z, True)
        z = mu + torch.exp(l2s * LN2) * torch.logit(torch.rand_like(mu).clamp(1e-6, 1 - 1e-6))
        out[i - 1].append(z)
    z = torch.logit(torch.rand_like(z).clamp(1e-6, 1 - 1e-6))
    out[-1].append(z)
    for i in range(cfg.levels - 1, 0, -1):
        mu, l2s = model.latent(f"p{i}", z, True)
        z = mu + torch.exp(l2s * LN2) * torch.logit(torch.rand_like(mu).clamp(1e-6, 1 - 1e-6))
        out[i - 1].append(z)
    return [torch.cat(o).abs().flatten().numpy() for o in out]


def latent_deltas(samples: list[np.ndarray]) -> np.ndarray:
    ranges = [float(np.quantile(s, RANGE_QUANTILE)) * RANGE_MARGIN for s in samples]
    return np.array([2.0 * r / arch.LATENT_BINS for r in ranges])


def _io_deltas(name: str, deltas: np.ndarray) -> tuple[float | None, float | None]:
    """(bin width of the latent a net reads, bin width of the latent it parameterises)."""
    if name == "q1":
        return None, deltas[0]
    if name == "trunk":
        return deltas[0], None
    if name in ("head", "ar"):
        return None, None
    i = int(name[1:])
    if name[0] == "q":             # q(z_i | z_{i-1})
        return deltas[i - 2], deltas[i - 1]
    return deltas[i], deltas[i - 1]  # p(z_i | z_{i+1})


def _raw_affine(name: str, cout: int, cfg: arch.Config, delta_out: float | None):
    """Gain and offset per raw output channel, mapping the float output to coder integers."""
    if name == "head":
        gain, off = np.zeros(cout), np.zeros(cout)
        for p in range(4):
            o = p * arch.PIXEL_PARAMS
            relative = cfg.dc_base and p != arch.DC_BASE_PLANE   # + 256 x_base at run time
            gain[o:o + 3], off[o:o + 3] = 256.0 * 128.0, 0.0 if relative else 256.0 * 127.5
            gain[o + 3:o + 6], off[o + 3:o + 6] = 16.0, 64.0                # scale index
            gain[o + 6:o + 9], off[o + 6:o + 9] = 256.0, 0.0                # colour coeffs
        return gain, off
    if name == "ar":       # means relative to base (+ 128 * base2 at run time), as in the head
        gain = np.array([256.0 * arch.AR_LOC_GAIN] * 3 + [16.0] * 3 + [arch.AR_COEF_GAIN] * 3)
        off = np.array([0.0] * 3 + [64.0] * 3 + [0.0] * 3)
        return gain, off
    zc = cfg.zc
    gain = np.concatenate([np.full(zc, 256.0 / delta_out), np.full(zc, 8.0)])
    off = np.concatenate([np.full(zc, float(LOC_CENTRE)),
                          np.full(zc, 8.0 * (-1.0 - math.log2(delta_out)) + 32.0)])
    return gain, off


def quantise_net(model: ImageModel, name: str, deltas: np.ndarray) -> dict[str, ConvParams]:
    net = model.nets[name]
    graph = net.graph
    kinds = arch.tensor_kinds(graph)
    d_in, d_out = _io_deltas(name, deltas)
    out = {}
    for op in graph.convs():
        scales = [KIND_SCALE[kinds[n]] if kinds[n] != arch.LATENT else d_in / 2.0
                  for n, _, _ in op.inputs]
        us = [net.weights[f"{op.out}__{g}"].detach().double().numpy() * s
              for g, s in enumerate(scales)]
        gk = arch.group_classes(graph, op)
        steps = {}
        for kind in set(gk):          # the same per-class grids as the training fake-quant
            amax = np.max([np.abs(u).reshape(op.cout, -1).max(1)
                           for u, k in zip(us, gk) if k == kind], axis=0)
            steps[kind] = np.maximum(amax / arch.class_weight_max(kind), 1e-12)
        ws = [np.round(u / steps[k].reshape(-1, 1, 1, 1)).astype(
            np.int16 if k.endswith("16") else np.int8) for u, k in zip(us, gk)]
        bias = net.biases[op.out].detach().double().numpy()
        if op.act == "raw":
            gain, off = _raw_affine(name, op.cout, model.cfg, d_out)
        else:
            gain, off = np.full(op.cout, 1.0 / arch.ACT_SCALE), np.zeros(op.cout)
        m = np.stack([np.round(gain * steps[k] * 2.0 ** SHIFT) for k in gk]).astype(np.int64)
        b = np.round((gain * bias + off) * 2.0 ** SHIFT).astype(np.int64) + (1 << (SHIFT - 1))
        out[op.out] = ConvParams(ws, m, b)
    return out


def export(model: ImageModel, crops: np.ndarray) -> ImageWeights:
    """crops: (N, 40, 40 or 48, 3) uint8 training crops for the latent statistics."""
    x = torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))).float()
    deltas = latent_deltas(latent_samples(model, x))
    convs = {name: quantise_net(model, name, deltas) for name in model.nets}
    top_j = int(round(32.0 - 8.0 * math.log2(deltas[-1])))
    w = ImageWeights(model.cfg, SHIFT, convs, deltas, (LOC_CENTRE, min(127, max(0, top_j))))
    check_exact(w)
    return w
