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
from archiver.models.image.adapt import ScaleState
from archiver.models.image.colour_regress import RegressState
from archiver.models.image.spatial_regress import SpatialState
from archiver.models.image.model import (LATENT_PRECISION, PIXEL_PRECISION, BlockInputs,
                                         ImageRuntime, Params, chain_locs, coded_scales)

LB = arch.LATENT_BINS


def push_params(msg, symbols: np.ndarray, p: Params, nbins: int, precision: int) -> None:
    """Push `symbols` under the discretised logistics `p` (one rANS family call)."""
    msg.push_logistic(np.ascontiguousarray(symbols, np.int64).ravel(),
                      p.loc.astype(np.int32).ravel(), p.scale_idx.astype(np.int32).ravel(),
                      nbins, precision)


def pop_params(msg, p: Params, nbins: int, precision: int) -> np.ndarray:
    """Pop symbols of the shape of `p` under its discretised logistics."""
    out = msg.pop_logistic(p.loc.size, p.loc.astype(np.int32).ravel(),
                           p.scale_idx.astype(np.int32).ravel(), nbins, precision)
    return np.asarray(out, np.int64).reshape(p.loc.shape)


def _channel(p: Params, c: int) -> Params:
    return Params(p.loc[:, c], p.scale_idx[:, c])


def _pixel_order(x: np.ndarray) -> np.ndarray:
    """(B, 3, H, W) -> flat, in the ar decoder's pop order: pixels in raster order, R G B
    within a pixel, blocks within a colour."""
    return np.ascontiguousarray(np.asarray(x).transpose(2, 3, 1, 0)).ravel()


def _encode_pixels(rt: ImageRuntime, msg, inp: BlockInputs, trunk) -> None:
    if rt.cfg.decoder == "ar":
        y, base2 = rt.ar_raw(inp, trunk)
        x = inp.pixels()
        p = rt.ar_params(y, base2, x)
        # one push in decode order: the stack hands it back pop by pop in that order
        msg.push_logistic(_pixel_order(x).astype(np.int64), _pixel_order(p.loc).astype(np.int32),
                          _pixel_order(p.scale_idx).astype(np.int32), 256, PIXEL_PRECISION)
        return
    per_plane = []
    decoded: list[int] = []
    for plane in arch.PASS_ORDER:
        x = inp.block[:, 3 * plane:3 * plane + 3]
        y = rt.head(inp, trunk, decoded, plane)
        per_plane.append((x, rt.plane_params(y, x, rt.chain_ref(inp, plane))))
        decoded.append(plane)
    for x, p in reversed(per_plane):            # stack: last decoded is pushed first
        for c in (2, 1, 0):
            push_params(msg, x[:, c], _channel(p, c), 256, PIXEL_PRECISION)


def encode(rt: ImageRuntime, msg, inp: BlockInputs) -> None:
    levels = rt.cfg.levels
    z = pop_params(msg, rt.q1(inp), LB, LATENT_PRECISION)
    _encode_pixels(rt, msg, inp, rt.trunk(inp, z))
    for i in range(1, levels):
        z_next = pop_params(msg, rt.q_next(i, z), LB, LATENT_PRECISION)
        push_params(msg, z, rt.p_prev(i, z_next), LB, LATENT_PRECISION)
        z = z_next
    push_params(msg, z, rt.p_top(z.shape), LB, LATENT_PRECISION)


# The ar decoder's pixel loop runs in C (_ar.pyx, same pops and integers); False selects the
# numpy loop below, its readable specification (tests and benchmarks compare the two).
AR_KERNEL = True


def _decode_pixels(rt: ImageRuntime, msg, inp: BlockInputs, trunk) -> None:
    if rt.cfg.decoder == "ar":
        if AR_KERNEL:
            from archiver.models.image._ar import decode_ar_pixels
            decode_ar_pixels(msg, rt.w, inp.crop, inp.known, trunk.feats)
            inp.set_pixels(inp.pixels().copy())
            return
        b = inp.crop.shape[0]
        c0 = arch.CONTEXT
        state = ScaleState(b, rt.cfg.scale_adapt == 2) if rt.cfg.scale_adapt else None
        regress = RegressState(b) if getattr(rt.cfg, "colour_adapt", 0) else None
        spatial = SpatialState(b) if getattr(rt.cfg, "spatial_adapt", 0) else None
        for yy in range(arch.BLOCK):
            for xx in range(arch.BLOCK):
                y, base2 = rt.ar_raw(inp, trunk, (yy, yy + 1), (xx, xx + 1))
                base, j, coef = rt.ar_params(y, base2)
                px = np.zeros((b, 3, 1, 1), np.int64)
                for c in range(3):
                    chained = loc = chain_locs(base, coef, 2 * px, base2)[:, c]
                    if regress is not None:
                        loc = regress.loc(c, chained[:, 0, 0], j[:, :, 0, 0])[:, None, None]
                    l1 = loc
                    if spatial is not None:
                        loc = spatial.loc(c, l1[:, 0, 0], j[:, c, 0, 0], xx)[:, None, None]
                    jc = j[:, c] if state is None else state.scale(c, j[:, c, 0, 0])[:, None, None]
                    px[:, c] = pop_params(msg, Params(loc, coded_scales(rt.cfg, jc)), 256,
                                          PIXEL_PRECISION)
                    if regress is not None:
                        regress.popped(c, px[:, c, 0, 0], chained[:, 0, 0], l1[:, 0, 0])
                    if spatial is not None:
                        spatial.popped(c, px[:, c, 0, 0], l1[:, 0, 0], xx)
                    if state is not None:
                        state.update(c, j[:, c, 0, 0], px[:, c, 0, 0], loc[:, 0, 0])
                inp.crop[:, :, c0 + yy, c0 + xx] = px[:, :, 0, 0]
        inp.set_pixels(inp.pixels().copy())
        return
    decoded: list[int] = []
    for plane in arch.PASS_ORDER:
        base, j, coef = rt.plane_params(rt.head(inp, trunk, decoded, plane))
        x = inp.block[:, 3 * plane:3 * plane + 3]
        for c in range(3):
            loc = chain_locs(base, coef, x, rt.chain_ref(inp, plane))[:, c]
            x[:, c] = pop_params(msg, Params(loc, j[:, c]), 256, PIXEL_PRECISION)
        decoded.append(plane)


def decode(rt: ImageRuntime, msg, inp: BlockInputs) -> BlockInputs:
    """Decode blocks given their context (`inp` as from BlockInputs.context_only(): pixels
    unknown, context from decoded neighbours); returns them with their pixels filled in."""
    inp = BlockInputs(inp.block.copy(), inp.ctx, inp.ctxmask,
                      None if inp.crop is None else inp.crop.copy(), inp.known)
    b = inp.ctx.shape[0]
    shape = (b, rt.cfg.zc, rt.cfg.zs, rt.cfg.zs)
    z = pop_params(msg, rt.p_top(shape), LB, LATENT_PRECISION)
    for i in range(rt.cfg.levels - 1, 0, -1):
        z_prev = pop_params(msg, rt.p_prev(i, z), LB, LATENT_PRECISION)
        push_params(msg, z, rt.q_next(i, z_prev), LB, LATENT_PRECISION)
        z = z_prev
    _decode_pixels(rt, msg, inp, rt.trunk(inp, z))
    push_params(msg, z, rt.q1(inp), LB, LATENT_PRECISION)
    return inp
