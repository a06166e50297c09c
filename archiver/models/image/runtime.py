"""Fast integer-exact execution of the image model's graphs, batched over blocks (numpy only).

Tensors are integer-valued float32 in NHWC layout. A convolution is one direct im2col GEMM in
float32: weights are int8 and activations bounded (weights_io.check_exact proves every partial
sum < 2**24), so each product and sum is an exact integer whatever the BLAS, its blocking or its
thread count. Requantisation is int64: floor((acc * m + b) / 2**S), then clamped.
"""
from __future__ import annotations

import numpy as np

from archiver.models.image import arch
from archiver.models.image.weights_io import ConvParams, ImageWeights


class GraphRunner:
    """Executes one arch.Graph with its integer parameters."""

    def __init__(self, graph: arch.Graph, params: dict[str, ConvParams], shift: int):
        self.graph = graph
        self.shift = shift
        self.mats: dict[str, np.ndarray] = {}
        self.params = params
        for op in graph.convs():
            p = params[op.out]
            # rows ordered (group, ky, kx, cin) to match the column layout built in _conv
            rows = [w.transpose(2, 3, 1, 0).reshape(-1, op.cout) for w in p.ws]
            self.mats[op.out] = np.ascontiguousarray(np.concatenate(rows, 0), dtype=np.float32)

    def _conv(self, op: arch.Conv, t: dict[str, np.ndarray]) -> np.ndarray:
        pieces = []
        for name, k, pad in op.inputs:
            x = t[name]
            if pad == "same" and k > 1:
                r = k // 2
                x = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)))
            h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
            for ky in range(k):
                for kx in range(k):
                    pieces.append(x[:, ky:ky + h, kx:kx + w, :])
        b, h, w = pieces[0].shape[:3]
        cols = np.concatenate(pieces, axis=3).reshape(b * h * w, -1)
        acc = cols @ self.mats[op.out]
        p = self.params[op.out]
        y = (acc.astype(np.int64) * p.m + p.b) >> self.shift
        if op.act == "raw":
            return y.reshape(b, h, w, op.cout)
        lo = 0 if op.act == "relu" else -arch.ACT_MAX
        return np.clip(y, lo, arch.ACT_MAX).astype(np.float32).reshape(b, h, w, op.cout)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """inputs: NCHW integer arrays; returns the raw output, NCHW int64."""
        t = {k: np.ascontiguousarray(v.transpose(0, 2, 3, 1), dtype=np.float32)
             for k, v in inputs.items()}
        for op in self.graph.ops:
            if isinstance(op, arch.Conv):
                t[op.out] = self._conv(op, t)
            elif isinstance(op, arch.Add):
                t[op.out] = np.clip(t[op.a] + t[op.b], -arch.ACT_MAX, arch.ACT_MAX)
            elif isinstance(op, arch.SpaceToDepth):
                x = t[op.inp]
                t[op.out] = np.concatenate([x[:, dy::2, dx::2, :] for dy in (0, 1)
                                            for dx in (0, 1)], axis=3)
            elif isinstance(op, arch.DepthToSpace):
                x = t[op.inp]
                b, h, w, c4 = x.shape
                c = c4 // 4
                y = np.empty((b, 2 * h, 2 * w, c), np.float32)
                for p, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
                    y[:, dy::2, dx::2, :] = x[:, :, :, p * c:(p + 1) * c]
                t[op.out] = y
            elif isinstance(op, arch.Pad):
                tp, bt, lf, rt = op.tblr
                t[op.out] = np.pad(t[op.inp], ((0, 0), (tp, bt), (lf, rt), (0, 0)))
            elif isinstance(op, arch.Crop):
                t[op.out] = t[op.inp][:, op.rows[0]:op.rows[1], op.cols[0]:op.cols[1], :]
        out = t[self.graph.output]
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(np.int64)


def runners(weights: ImageWeights) -> dict[str, GraphRunner]:
    return {n: GraphRunner(g, weights.convs[n], weights.shift) for n, g in weights.graphs.items()}
