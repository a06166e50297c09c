"""Independent int64 reference of the image model's graphs: the definition the fast path must
equal bit for bit. Channels-first, no BLAS, no float: every convolution is a sum over kernel
offsets of int64 tensordots of shifted inputs, every requantisation is Python-int semantics
(floor division by 2**S), written without sharing code with runtime.py.
"""
from __future__ import annotations

import numpy as np

from archiver.models.image import arch
from archiver.models.image.weights_io import ImageWeights


def _dc_channels(cout: int) -> list[tuple[int, int]]:
    """(output channel, colour) of the head means that are relative to the plane-0 base."""
    return [(o, o % arch.PIXEL_PARAMS) for o in range(cout)
            if o // arch.PIXEL_PARAMS != arch.DC_BASE_PLANE and o % arch.PIXEL_PARAMS < 3]


def _conv(op: arch.Conv, t: dict, params, shift: int, dc_base=None) -> np.ndarray:
    total = None
    for gi, ((name, k, pad), w) in enumerate(zip(op.inputs, params.ws)):
        acc = None
        x = t[name]                                   # (B, C, H, W) int64
        if pad == "same":
            r = k // 2
            x = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)))
        oh, ow = x.shape[2] - k + 1, x.shape[3] - k + 1
        w64 = w.astype(np.int64)
        for dy in range(k):
            for dx in range(k):
                window = x[:, :, dy:dy + oh, dx:dx + ow]          # (B, C, oh, ow)
                term = np.einsum("bchw,oc->bohw", window, w64[:, :, dy, dx])
                acc = term if acc is None else acc + term
        if dc_base is not None and name == "planes":
            for o, c in _dc_channels(op.cout):
                acc[:, o] -= int(w64[o].sum()) * dc_base[:, c]
        scaled = acc * params.m[gi].astype(np.int64).reshape(1, -1, 1, 1)
        total = scaled if total is None else total + scaled
    b = params.b.astype(np.int64).reshape(1, -1, 1, 1)
    y = np.floor_divide(total + b, 1 << shift)
    if dc_base is not None:
        for o, c in _dc_channels(op.cout):
            y[:, o] += 128 * (dc_base[:, c] + 255)
    if op.act == "raw":
        return y
    low = 0 if op.act == "relu" else -arch.ACT_MAX
    return np.minimum(np.maximum(y, low), arch.ACT_MAX)


def run_graph(graph: arch.Graph, params: dict, shift: int, inputs: dict,
              dc_base=None) -> np.ndarray:
    """dc_base: for the head under Config.dc_base, the plane-0 pixel inputs (B, 3, 16, 16)."""
    t = {k: np.asarray(v, dtype=np.int64) for k, v in inputs.items()}
    for op in graph.ops:
        if isinstance(op, arch.Conv):
            last = op.out == graph.output
            t[op.out] = _conv(op, t, params[op.out], shift, dc_base if last else None)
        elif isinstance(op, arch.Add):
            t[op.out] = np.minimum(np.maximum(t[op.a] + t[op.b], -arch.ACT_MAX), arch.ACT_MAX)
        elif isinstance(op, arch.SpaceToDepth):
            x = t[op.inp]
            b, c, h, w = x.shape
            y = np.zeros((b, 4 * c, h // 2, w // 2), np.int64)
            for plane in range(4):
                y[:, plane * c:(plane + 1) * c] = x[:, :, plane // 2::2, plane % 2::2]
            t[op.out] = y
        elif isinstance(op, arch.DepthToSpace):
            x = t[op.inp]
            b, c4, h, w = x.shape
            c = c4 // 4
            y = np.zeros((b, c, 2 * h, 2 * w), np.int64)
            for plane in range(4):
                y[:, :, plane // 2::2, plane % 2::2] = x[:, plane * c:(plane + 1) * c]
            t[op.out] = y
        elif isinstance(op, arch.Pad):
            top, bottom, left, right = op.tblr
            x = t[op.inp]
            y = np.zeros(x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right),
                         np.int64)
            y[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
            t[op.out] = y
        elif isinstance(op, arch.Crop):
            t[op.out] = t[op.inp][:, :, op.rows[0]:op.rows[1], op.cols[0]:op.cols[1]].copy()
    return t[graph.output]


def run(weights: ImageWeights, net: str, inputs: dict) -> np.ndarray:
    """One network; under Config.dc_base the head reads its base from the planes input's
    centre (plane 0 of the block, decoded in pass 0)."""
    dc_base = None
    if net == "head" and weights.cfg.dc_base:
        b0 = 3 * arch.DC_BASE_PLANE
        dc_base = np.asarray(inputs["planes"], np.int64)[:, b0:b0 + 3, 1:17, 1:17]
    return run_graph(weights.graphs[net], weights.convs[net], weights.shift, inputs, dc_base)


def adapt_scales(x, loc, j, cross: bool = False) -> np.ndarray:
    """Config.scale_adapt in plain Python ints, pixel by pixel in raster order (arch.py,
    ADAPT_*, and with cross XADAPT_*): the scale indices blocks x (B, 3, 32, 32) are coded
    with, given their locations and the network's scale indices."""
    x, loc, j = (np.asarray(v, np.int64) for v in (x, loc, j))
    out = np.zeros_like(j)
    steps = [int(s) for s in arch.ADAPT_STEPS]
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            sums: dict[int, list[int]] = {}
            for yy in range(x.shape[2]):
                for xx in range(x.shape[3]):
                    jn = int(j[b, c, yy, xx])
                    a, e = sums.setdefault(jn >> arch.ADAPT_BUCKET_SHIFT, [0, 0])
                    prior = arch.ADAPT_PRIOR * arch.ADAPT_MAD[jn]
                    num, den = (a + prior) * 65536, e + prior
                    d = -arch.ADAPT_DMAX + sum(1 for s in steps if num >= s * den)
                    out[b, c, yy, xx] = min(max(jn + d, 0), 127)
                    if cross:
                        out[b, c, yy, xx] = min(max(int(out[b, c, yy, xx]) + _cross(
                            x[b, :, yy, xx], loc[b, :, yy, xx], j[b, :, yy, xx], c), 0), 127)
                    err = abs(256 * int(x[b, c, yy, xx]) - int(loc[b, c, yy, xx]))
                    sums[jn >> arch.ADAPT_BUCKET_SHIFT] = [a + min(err, arch.ADAPT_CLIP),
                                                           e + arch.ADAPT_MAD[jn]]
    return out


def _cross(x, loc, j, c: int) -> int:
    """XADAPT_TABLE's shift for colour c of one pixel (x, loc, j: its three colours)."""
    q = 0
    if c > 0:
        a = sum(min(abs(256 * int(x[k]) - int(loc[k])), arch.ADAPT_CLIP) for k in range(c))
        e = sum(arch.ADAPT_MAD[int(j[k])] for k in range(c))
        q = 1 + sum(1 for s in arch.XADAPT_STEPS if (a + 1) * 65536 >= s * (e + 1))
    return arch.XADAPT_TABLE[(c * arch.XADAPT_BINS + q) * arch.XADAPT_JBUCKETS
                             + (int(j[c]) >> arch.XADAPT_JSHIFT)]


def regress_locs(x, loc, j) -> np.ndarray:
    """Config.colour_adapt in plain Python ints, pixel by pixel in raster order (arch.py,
    CREG_*): the locations blocks x (B, 3, 32, 32) are coded with, given the chained
    locations and the network's scale indices."""
    x, loc, j = (np.asarray(v, np.int64) for v in (x, loc, j))
    out = loc.copy()
    lim = 1 << 26

    def err(v, l):
        return min(max(256 * int(v) - int(l), -arch.CREG_CLIP), arch.CREG_CLIP)

    def shift(sxy, sxx, jj, e):
        mad = arch.ADAPT_MAD[int(jj)]
        den = sxx + arch.CREG_PRIOR * mad * mad
        return (2 * sxy * e + den) // (2 * den)

    for b in range(x.shape[0]):
        rr = gr = br = gg = bg = 0
        for yy in range(x.shape[2]):
            for xx in range(x.shape[3]):
                xr, xg, xb = (int(v) for v in x[b, :, yy, xx])
                lr, lg, lb = (int(v) for v in loc[b, :, yy, xx])
                jr, jg = int(j[b, 0, yy, xx]), int(j[b, 1, yy, xx])
                r = err(xr, lr)
                g_loc = min(max(lg + shift(gr, rr, jr, r), -lim), lim)
                g = err(xg, g_loc)
                b1_loc = lb + shift(br, rr, jr, r)
                b_loc = min(max(b1_loc + shift(bg, gg, jg, g), -lim), lim)
                out[b, 1, yy, xx], out[b, 2, yy, xx] = g_loc, b_loc
                rr += r * r
                gr += err(xg, lg) * r
                br += err(xb, lb) * r
                gg += g * g
                bg += err(xb, b1_loc) * g
    return out


def spatial_locs(x, loc, j) -> np.ndarray:
    """Config.spatial_adapt in plain Python ints, pixel by pixel in raster order (arch.py,
    SREG_*): the locations blocks x (B, 3, 32, 32) are coded with, given their locations after
    the colour regression and the network's scale indices (every colour coded)."""
    x, loc, j = (np.asarray(v, np.int64) for v in (x, loc, j))
    out = loc.copy()
    lim = 1 << 26

    def err(v, l):
        return min(max(256 * int(v) - int(l), -arch.SREG_CLIP), arch.SREG_CLIP)

    def shift(sxy, sxx, jj, e):
        mad = arch.ADAPT_MAD[int(jj)]
        den = sxx + arch.SREG_PRIOR * mad * mad
        return (2 * sxy * e + den) // (2 * den)

    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            ww = uw = nn = vn = 0
            u = [[0] * x.shape[3] for _ in range(x.shape[2])]
            for yy in range(x.shape[2]):
                for xx in range(x.shape[3]):
                    xv, l1, jj = int(x[b, c, yy, xx]), int(loc[b, c, yy, xx]), int(j[b, c, yy, xx])
                    w = u[yy][xx - 1] if xx > 0 else 0
                    n = u[yy - 1][xx] if yy > 0 else 0
                    l2 = l1 + shift(uw, ww, jj, w)
                    out[b, c, yy, xx] = min(max(l2 + shift(vn, nn, jj, n), -lim), lim)
                    u[yy][xx] = err(xv, l1)
                    v = err(xv, l2)
                    ww += w * w
                    uw += u[yy][xx] * w
                    nn += n * n
                    vn += v * n
    return out
