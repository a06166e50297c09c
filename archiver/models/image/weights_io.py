"""Integer weights of the image model: file format, loading, and the exactness check.

One .npz holds everything the runtime needs, all integers except informational floats:
  config            JSON of arch.Config (uint8 bytes)
  shift             S, the requantisation shift (int64 scalar)
  <net>/<conv>/w<g> int8 (cout, cin, k, k) weights of input group g (int16 for `fine` groups)
  <net>/<conv>/m    int64 (groups, cout) multipliers, <net>/<conv>/b int64 (cout) offset:
                    out = floor((sum_g acc_g * m[g] + b) / 2**S), then clamped for act
                    tensors; groups of the same kind share weight scale, so their m rows are
                    equal and their accumulators may be summed first
  top_prior         int64 (2,) loc and scale index of p(z_L), a standard logistic in bin units
  latent_delta      float64 (L,) bin width of each latent layer (value units; used only by
                    training-side tools, never on the coder's path: it is folded into m and b)
Latent layer i has LATENT_BINS uniform bins over [-delta_i * 512, +delta_i * 512]; a network
reads bin k as the integer 2k - 1023.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archiver.models.image import arch

FLOAT_EXACT = 1 << 24          # float32 sums of integers are exact below this
DOUBLE_EXACT = 1 << 53         # float64 likewise (used for the 16-bit `fine` groups)
INT64_SAFE = 1 << 62


class ImageWeightsError(Exception):
    """The image model's weights file is malformed or would not compute exactly."""


@dataclass
class ConvParams:
    ws: list[np.ndarray]        # int8 (int16 if fine) per input group (cout, cin, k, k)
    m: np.ndarray               # int64 (groups, cout)
    b: np.ndarray               # int64 (cout,)


@dataclass
class ImageWeights:
    cfg: arch.Config
    shift: int
    convs: dict[str, dict[str, ConvParams]]          # net -> conv out name -> params
    latent_delta: np.ndarray
    top_prior: tuple[int, int]
    graphs: dict[str, arch.Graph] = field(default_factory=dict)

    def __post_init__(self):
        if not self.graphs:
            self.graphs = arch.graphs(self.cfg)


def save(weights: ImageWeights, path: Path) -> None:
    arrays = {"config": np.frombuffer(json.dumps(weights.cfg.to_dict(), sort_keys=True).encode(),
                                      np.uint8),
              "shift": np.array(weights.shift, np.int64),
              "latent_delta": np.asarray(weights.latent_delta, np.float64),
              "top_prior": np.asarray(weights.top_prior, np.int64)}
    for net, convs in weights.convs.items():
        for name, p in convs.items():
            for g, w in enumerate(p.ws):
                arrays[f"{net}/{name}/w{g}"] = w.astype(np.int16 if w.dtype == np.int16
                                                        else np.int8)
            arrays[f"{net}/{name}/m"] = p.m.astype(np.int64)
            arrays[f"{net}/{name}/b"] = p.b.astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    Path(path).write_bytes(buf.getvalue())


def load(path: Path) -> ImageWeights:
    try:
        z = np.load(Path(path), allow_pickle=False)
        cfg = arch.Config(**json.loads(bytes(z["config"]).decode()))
        shift = int(z["shift"])
        delta = np.asarray(z["latent_delta"], np.float64)
        top = tuple(int(v) for v in z["top_prior"])
        convs: dict[str, dict[str, ConvParams]] = {}
        graphs = arch.graphs(cfg)
        for net, g in graphs.items():
            convs[net] = {}
            for op in g.convs():
                classes = arch.group_classes(g, op)
                ws = [np.asarray(z[f"{net}/{op.out}/w{i}"]).astype(
                    np.int16 if classes[i].endswith("16") else np.int8)
                    for i in range(len(op.inputs))]
                convs[net][op.out] = ConvParams(ws, np.asarray(z[f"{net}/{op.out}/m"], np.int64),
                                                np.asarray(z[f"{net}/{op.out}/b"], np.int64))
    except (KeyError, ValueError, OSError, TypeError) as e:
        raise ImageWeightsError(f"image weights {path} are unreadable ({e}); reinstall bbx or "
                                "re-export them with the image training tools") from e
    w = ImageWeights(cfg, shift, convs, delta, top, graphs)
    check_exact(w)
    return w


def check_exact(weights: ImageWeights) -> None:
    """Refuse weights whose float32 GEMM partial sums could leave the exact range, or whose
    requantisation products could overflow int64. Bounds are per output channel and per
    accumulator (input kind), and tight: sum_k |w[o, k]| * max|a_k|."""
    for net, g in weights.graphs.items():
        shapes = arch.shape_of(g)
        kinds = arch.tensor_kinds(g)
        for op in g.convs():
            p = weights.convs[net][op.out]
            gk = arch.group_classes(g, op)
            if p.m.shape != (len(op.inputs), op.cout) or p.b.shape != (op.cout,):
                raise ImageWeightsError(f"{net}.{op.out}: multiplier/offset shapes do not match "
                                        "the architecture")
            bounds: dict[str, np.ndarray] = {}
            mults: dict[str, np.ndarray] = {}
            for gi, ((name, k, _), w) in enumerate(zip(op.inputs, p.ws)):
                if w.shape != (op.cout, shapes[name][0], k, k):
                    raise ImageWeightsError(f"{net}.{op.out}: weight shape {w.shape} does not "
                                            f"match the architecture")
                kind = gk[gi]
                if np.abs(w.astype(np.int64)).max(initial=0) > arch.class_weight_max(kind):
                    raise ImageWeightsError(f"{net}.{op.out}: weights of group {gi} exceed "
                                            f"{arch.class_weight_max(kind)}")
                if kind in mults and not np.array_equal(mults[kind], p.m[gi]):
                    raise ImageWeightsError(f"{net}.{op.out}: groups of kind {kind} must share "
                                            "their multipliers")
                mults[kind] = p.m[gi]
                bounds[kind] = bounds.get(kind, 0) + np.abs(w.astype(np.int64)).reshape(
                    op.cout, -1).sum(1) * arch.KIND_MAX[kinds[name]]
            worst = np.abs(p.b).astype(np.float64)
            for kind, bound in bounds.items():
                fine = kind.endswith("16")
                if bound.max() >= (DOUBLE_EXACT if fine else FLOAT_EXACT):
                    raise ImageWeightsError(f"{net}.{op.out}: partial sums reach {bound.max()} "
                                            f">= 2**{53 if fine else 24}, "
                                            f"float{64 if fine else 32} GEMM would not be exact")
                worst = worst + bound.astype(np.float64) * np.abs(mults[kind])
            if worst.max() >= INT64_SAFE / 2:
                raise ImageWeightsError(f"{net}.{op.out}: requantisation overflows int64")
