"""Fast integer-exact execution of the image model's graphs, batched over blocks (numpy only).

What the coder runs: the spatial networks go to the C kernel _conv.pyx and the ar network's
whole blocks to _ar.pyx (runners() below; both int16/int32 SIMD, the same integers). This numpy
runner is their specification (tests compare them) and runs what they do not: the planes head
and the ar network on windows of pixels.

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

    def __init__(self, graph: arch.Graph, params: dict[str, ConvParams], shift: int,
                 static: tuple[str, ...] = ()):
        """static: graph inputs that stay the same over repeated calls (the head's trunk
        features over the four passes); their convolutions are computed once per `cache`."""
        self.graph = graph
        self.shift = shift
        self.params = params
        # Input groups with the same kernel, padding and kind are concatenated along channels,
        # so each class is ONE wide GEMM (C, k*k*cout), column (ky*k + kx)*cout + o, whose
        # kernel offsets are then summed by shifted slices into the accumulator of its kind.
        self.plan: dict[str, list[tuple[list[str], int, str, str, bool, np.ndarray]]] = {}
        self._colmats: dict = {}        # im2col weight layouts, made on first use
        self.mults: dict[str, dict[str, np.ndarray]] = {}
        for op in graph.convs():
            p = params[op.out]
            gk = arch.group_classes(graph, op)
            classes: dict[tuple[int, str, str, bool], list[int]] = {}
            for gi, (name, k, pad) in enumerate(op.inputs):
                key = (k, "same" if k == 1 else pad, gk[gi], name in static)
                classes.setdefault(key, []).append(gi)
            plan = []
            for (k, pad, kind, fixed), gis in classes.items():
                w = np.concatenate([p.ws[gi] for gi in gis], axis=1)
                # 16-bit (fine) classes run in float64: exact below 2**53
                dtype = np.float64 if kind.endswith("16") else np.float32
                mat = np.ascontiguousarray(w.transpose(1, 2, 3, 0).reshape(w.shape[1], -1),
                                           dtype=dtype)
                plan.append(([op.inputs[gi][0] for gi in gis], k, pad, kind, fixed, mat))
            self.plan[op.out] = plan
            self.mults[op.out] = {gk[gi]: p.m[gi] for gi in range(len(op.inputs))}

    @staticmethod
    def _im2col_mat(mat: np.ndarray, k: int, c: int, cout: int) -> np.ndarray:
        """(C, k*k*cout) offset-major weights -> (k*k*C, cout) rows ordered (ky, kx, c)."""
        return np.ascontiguousarray(mat.reshape(c, k * k, cout).transpose(1, 0, 2)
                                    .reshape(k * k * c, cout))

    def _conv(self, op: arch.Conv, t: dict[str, np.ndarray], cols: slice | None = None,
              cache: dict | None = None, adjust=None) -> np.ndarray:
        # Exact: every partial sum (over channels, offsets and groups of one kind, in any
        # order) is an integer bounded by sum |w| * max|a| < 2**24 (weights_io.check_exact).
        accs: dict[str, np.ndarray] = {}
        cout = op.cout
        for names, k, pad, kind, fixed, mat in self.plan[op.out]:
            key = (op.out, tuple(names))
            if fixed and cache is not None and cols is None and key in cache:
                part = cache[key]
                if kind not in accs:
                    accs[kind] = part.copy()
                else:
                    accs[kind] += part
                continue
            if cols is not None:        # only some output channels wanted (a head's plane)
                mat = mat.reshape(mat.shape[0], k * k, op.cout)[:, :, cols]
                cout = mat.shape[2]
                mat = np.ascontiguousarray(mat.reshape(mat.shape[0], -1))
            x = t[names[0]] if len(names) == 1 else np.concatenate([t[n] for n in names], axis=3)
            x = x.astype(mat.dtype, copy=False)
            if pad == "same" and k > 1:
                r = k // 2
                b, h0, w0, c0 = x.shape
                xp = np.zeros((b, h0 + 2 * r, w0 + 2 * r, c0), x.dtype)   # np.pad costs
                xp[:, r:r + h0, r:r + w0] = x                             # ~0.1 ms a call
                x = xp
            b, hp, wp, c = x.shape
            h, w = hp - k + 1, wp - k + 1
            if k == 1:
                acc = (x.reshape(-1, c) @ mat).reshape(b, h, w, cout)
            elif c < cout:
                # few input channels: im2col (K = k*k*c) is cheaper than summing k*k outputs
                cols_ = np.concatenate([x[:, ky:ky + h, kx:kx + w, :] for ky in range(k)
                                        for kx in range(k)], axis=3).reshape(-1, k * k * c)
                key2 = (op.out, tuple(names), cols is None and cout)
                colmat = self._colmats.get(key2) if cols is None else None
                if colmat is None:
                    colmat = self._im2col_mat(mat, k, c, cout)
                    if cols is None:
                        self._colmats[key2] = colmat
                acc = (cols_ @ colmat).reshape(b, h, w, cout)
            else:
                y = (x.reshape(-1, c) @ mat).reshape(b, hp, wp, k * k, cout)
                acc = y[:, 0:h, 0:w, 0, :].copy()
                for ky in range(k):
                    for kx in range(k):
                        if ky or kx:
                            acc += y[:, ky:ky + h, kx:kx + w, ky * k + kx, :]
            if fixed and cache is not None and cols is None:
                cache[key] = acc
            if kind not in accs:
                accs[kind] = acc if not fixed or cache is None else acc.copy()
            else:
                accs[kind] += acc
        p = self.params[op.out]
        off = p.b if cols is None else p.b[cols]
        total = None
        for kind, acc in accs.items():
            m = self.mults[op.out][kind]
            m = m if cols is None else m[cols]
            term = acc.reshape(-1, cout).astype(np.int64) * m
            total = term if total is None else total + term
        acc = next(iter(accs.values()))
        b, h, w = acc.shape[:3]
        if adjust is not None:          # exact integer correction before the shift
            total = adjust(total)
        out = (total + off) >> self.shift
        if op.act == "raw":
            return out.reshape(b, h, w, cout)
        lo = 0 if op.act == "relu" else -arch.ACT_MAX
        return np.clip(out, lo, arch.ACT_MAX).astype(np.float32).reshape(b, h, w, op.cout)

    def __call__(self, inputs: dict[str, np.ndarray], cols: slice | None = None,
                 cache: dict | None = None, adjust=None) -> np.ndarray:
        """inputs: NCHW integer arrays; returns the output, NCHW int64 (only channels `cols` of
        the final conv if given)."""
        t = {k: np.ascontiguousarray(v.transpose(0, 2, 3, 1), dtype=np.float32)
             for k, v in inputs.items()}
        for op in self.graph.ops:
            if isinstance(op, arch.Conv):
                last = op.out == self.graph.output
                t[op.out] = self._conv(op, t, cols if last else None, cache,
                                       adjust if last else None)
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


# The spatial networks run in C (_conv.pyx: the same integers, ~3-4x faster, no per-op numpy
# overhead); False keeps every graph on the numpy path above (tests compare the two).
USE_C_NETS = True


def runners(weights: ImageWeights) -> dict:
    """A runner per graph: the C kernel where it runs the graph, else GraphRunner. The planes
    head (it needs cols / cache / adjust) and the ar net (run on any window of pixels; whole
    blocks go to its own kernel, _ar.pyx) keep GraphRunner."""
    out = {}
    for n, g in weights.graphs.items():
        if USE_C_NETS and n not in ("head", "ar"):
            from archiver.models.image._conv import ConvNet, ConvNetError
            try:
                out[n] = ConvNet(g, weights.convs[n], weights.shift)
                continue
            except ConvNetError:
                pass
        out[n] = GraphRunner(g, weights.convs[n], weights.shift,
                             static=("trunk",) if n == "head" else ())
    return out
