"""Bit-Swap (Kingma et al. 2019, Algorithm 2) over a batch of independent blocks on one rANS
message: the minimal coding loop the image codec builds on.

Encoding a block pops z_1 from the message with q(z_1|x) (bits back), pushes x with
p(x|z_1, context), then for each level pops z_{i+1} with q(z_{i+1}|z_i) and pushes z_i with
p(z_i|z_{i+1}), and finally pushes z_L with the prior. Decoding runs the exact mirror. Blocks in
one batch must not be each other's context (e.g. one anti-diagonal of blocks in raster order).
"""
from __future__ import annotations

import numpy as np

from archiver.models.image import arch
from archiver.models.image.model import (LATENT_PRECISION, PIXEL_PRECISION, BlockInputs,
                                         ImageRuntime, Params, chain_locs)

LB = arch.LATENT_BINS


def _push(msg, symbols: np.ndarray, p: Params, nbins: int, precision: int) -> None:
    msg.push_logistic(np.ascontiguousarray(symbols, np.int64).ravel(),
                      p.loc.astype(np.int32).ravel(), p.scale_idx.astype(np.int32).ravel(),
                      nbins, precision)


def _pop(msg, p: Params, nbins: int, precision: int) -> np.ndarray:
    out = msg.pop_logistic(p.loc.size, p.loc.astype(np.int32).ravel(),
                           p.scale_idx.astype(np.int32).ravel(), nbins, precision)
    return np.asarray(out, np.int64).reshape(p.loc.shape)


def _channel(p: Params, c: int) -> Params:
    return Params(p.loc[:, c], p.scale_idx[:, c])


def encode(rt: ImageRuntime, msg, inp: BlockInputs) -> None:
    levels = rt.cfg.levels
    z = _pop(msg, rt.q1(inp), LB, LATENT_PRECISION)
    trunk = rt.trunk(inp, z)
    per_plane = []
    decoded: list[int] = []
    for plane in arch.PASS_ORDER:
        x = inp.block[:, 3 * plane:3 * plane + 3]
        y = rt.head(inp, trunk, decoded, plane)
        per_plane.append((x, rt.plane_params(y, x, rt.chain_ref(inp, plane))))
        decoded.append(plane)
    for x, p in reversed(per_plane):            # stack: last decoded is pushed first
        for c in (2, 1, 0):
            _push(msg, x[:, c], _channel(p, c), 256, PIXEL_PRECISION)
    for i in range(1, levels):
        z_next = _pop(msg, rt.q_next(i, z), LB, LATENT_PRECISION)
        _push(msg, z, rt.p_prev(i, z_next), LB, LATENT_PRECISION)
        z = z_next
    _push(msg, z, rt.p_top(z.shape), LB, LATENT_PRECISION)


def decode(rt: ImageRuntime, msg, ctx: np.ndarray, ctxmask: np.ndarray) -> np.ndarray:
    """Blocks' planes (B, 12, 16, 16) given their context grids (from decoded neighbours)."""
    b = ctx.shape[0]
    shape = (b, rt.cfg.zc, rt.cfg.zs, rt.cfg.zs)
    z = _pop(msg, rt.p_top(shape), LB, LATENT_PRECISION)
    for i in range(rt.cfg.levels - 1, 0, -1):
        z_prev = _pop(msg, rt.p_prev(i, z), LB, LATENT_PRECISION)
        _push(msg, z, rt.q_next(i, z_prev), LB, LATENT_PRECISION)
        z = z_prev
    inp = BlockInputs(np.zeros((b, 12, 16, 16), np.int64), ctx, ctxmask)
    trunk = rt.trunk(inp, z)
    decoded: list[int] = []
    for plane in arch.PASS_ORDER:
        base, j, coef = rt.plane_params(rt.head(inp, trunk, decoded, plane))
        x = inp.block[:, 3 * plane:3 * plane + 3]
        for c in range(3):
            loc = chain_locs(base, coef, x, rt.chain_ref(inp, plane))[:, c]
            x[:, c] = _pop(msg, Params(loc, j[:, c]), 256, PIXEL_PRECISION)
        decoded.append(plane)
    _push(msg, z, rt.q1(inp), LB, LATENT_PRECISION)
    return inp.block
