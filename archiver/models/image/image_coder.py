"""A whole image of any size coded with the image model on ONE rANS message (Bit-Swap, paper
Algorithm 2; BB-ANS, Algorithm 1, selectable for comparison).

The image is cut into 32x32 blocks; the last row and column of blocks are padded by edge
replication up to 32 for the networks only: padded pixels are never pushed and cost no bits,
the decoder's pixel kernel rebuilds them from the pixels it has just popped (each padded pixel
copies the nearest real pixel of its block, which precedes it in raster order).

A block is decoded given the blocks left, above-left, above and above-right of it, so blocks go
in wavefronts t = bx + 2 * by: every block of a wavefront depends only on earlier wavefronts,
and each wavefront is one batch through the networks. The encoder codes the wavefronts in
reverse (a stack), so the first pop of the first block coded draws the initial bits, paid once
per image; the decoder ends exactly at that initial state (a check against damage).

Grey images (one plane) are given to the model as R = G = B and only R is coded.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from archiver.errors import CorruptChunk
from archiver.models.image import arch, model
from archiver.models.image.lattice import masks as lattice_masks
from archiver.models.image.bitswap import pop_params, push_params
from archiver.models.image.model import (LATENT_PRECISION, PIXEL_PRECISION, BlockInputs,
                                         ImageRuntime, Params, s2d)

BITSWAP, BBANS = 0, 1
SCHEMES = {BITSWAP: "bit-swap", BBANS: "bb-ans"}
LB = arch.LATENT_BINS
B = arch.BLOCK
Done = Optional[Callable[[int], None]]      # called with the number of blocks just finished


class Geometry:
    """Block grid and decode order of an H x W image."""

    def __init__(self, h: int, w: int):
        if h < 1 or w < 1:
            raise ValueError(f"an image needs at least one pixel, got {w}x{h}")
        self.h, self.w = h, w
        self.nby, self.nbx = -(-h // B), -(-w // B)
        self.nblocks = self.nby * self.nbx

    def wavefronts(self) -> list[np.ndarray]:
        """Block indices (by * nbx + bx) of each wavefront, in decode order."""
        by, bx = np.divmod(np.arange(self.nblocks), self.nbx)
        t = bx + 2 * by
        order = np.argsort(t, kind="stable")
        cuts = np.flatnonzero(np.diff(t[order])) + 1
        return np.split(order, cuts)

    def extent(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx), 2) real rows and columns of each block (32 but at the bottom/right)."""
        by, bx = np.divmod(idx, self.nbx)
        return np.stack([np.minimum(B, self.h - by * B), np.minimum(B, self.w - bx * B)], 1)

    def canvas(self) -> np.ndarray:
        """Zeroed (8 + Hp, 8 + Wp + 8, 3) uint8: the padded image with its context margins."""
        c, r = arch.CONTEXT, arch.RIGHT
        return np.zeros((c + self.nby * B, c + self.nbx * B + r, 3), np.uint8)

    def inputs(self, canvas: np.ndarray, idx: np.ndarray) -> BlockInputs:
        """Network inputs of blocks idx, read from the canvas (context from earlier blocks)."""
        by, bx = np.divmod(idx, self.nbx)
        crops = np.stack([canvas[y * B:y * B + arch.CROP_H, x * B:x * B + arch.CROP_W]
                          for y, x in zip(by, bx)])
        return BlockInputs.from_crops(crops, by > 0, bx > 0, (by > 0) & (bx < self.nbx - 1))

    def put(self, canvas: np.ndarray, idx: np.ndarray, pixels: np.ndarray) -> None:
        """Store blocks' pixels (n, 3, 32, 32) (padding included) on the canvas."""
        c = arch.CONTEXT
        by, bx = np.divmod(idx, self.nbx)
        for k, (y, x) in enumerate(zip(by, bx)):
            canvas[c + y * B:c + (y + 1) * B, c + x * B:c + (x + 1) * B] = \
                pixels[k].transpose(1, 2, 0)


def _rgb(planes: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8, C in {1, 3} -> (H, W, 3) for the model (grey: R = G = B)."""
    if planes.ndim != 3 or planes.shape[0] not in (1, 3):
        raise ValueError(f"image planes must be (1 or 3, H, W), got {planes.shape}")
    return np.ascontiguousarray(np.repeat(planes, 3 // planes.shape[0], 0).transpose(1, 2, 0))


def _coded_mask(ext: np.ndarray, channels: int) -> np.ndarray:
    """(n, 3, 32, 32) bool: the pixels and colours that are pushed (real pixels, first
    `channels` colours)."""
    yy = np.arange(B)[None, :, None] < ext[:, 0, None, None]
    xx = np.arange(B)[None, None, :] < ext[:, 1, None, None]
    m = np.zeros((len(ext), 3, B, B), bool)
    m[:, :channels] = (yy & xx)[:, None]
    return m


def _decode_order(a: np.ndarray) -> np.ndarray:
    """(n, 3, 32, 32) -> flat in the pixel kernel's pop order: pixels in raster order, colours
    within a pixel, blocks within a colour."""
    return np.ascontiguousarray(a.transpose(2, 3, 1, 0)).ravel()


def _lattice_mask_index(x: np.ndarray) -> np.ndarray:
    """(n, 3, 32, 32) int: for B, the lattice mask index R * 256 + G of its pixel; -1 for R, G
    (coded with the plain logistic)."""
    idx = np.full(x.shape, -1, np.int64)
    idx[:, 2] = x[:, 0].astype(np.int64) * 256 + x[:, 1]
    return idx


def _push_pixels(rt: ImageRuntime, msg, inp: BlockInputs, z1: np.ndarray, ext: np.ndarray,
                 channels: int, lattice: bool = False) -> None:
    trunk = rt.trunk(inp, z1)
    if model.USE_AR_KERNEL:     # the same integers in C, already in pop order
        from archiver.models.image._ar import kernel_for
        sym, loc, scale = kernel_for(rt.w).push_params(inp.crop, inp.known, trunk.feats, ext,
                                                       channels)
    else:
        y, base2 = rt.ar_raw(inp, trunk)
        x = inp.pixels()
        coded = _coded_mask(ext, channels)
        p = rt.ar_params(y, base2, x, coded)
        keep = _decode_order(coded)
        sym = _decode_order(x)[keep].astype(np.int64)
        loc = _decode_order(p.loc)[keep].astype(np.int32)
        scale = _decode_order(p.scale_idx)[keep].astype(np.int32)
    # one push in decode order: the stack hands the symbols back pop by pop in that order
    if lattice:
        keep = _decode_order(_coded_mask(ext, channels))
        midx = _decode_order(_lattice_mask_index(inp.pixels()))[keep].astype(np.int32)
        msg.push_logistic_masked(sym, loc, scale, midx, lattice_masks(), 256, PIXEL_PRECISION)
    else:
        msg.push_logistic(sym, loc, scale, 256, PIXEL_PRECISION)


def _pop_pixels(rt: ImageRuntime, msg, inp: BlockInputs, z1: np.ndarray, ext: np.ndarray,
                channels: int, lattice: bool = False) -> None:
    from archiver.models.image._ar import kernel_for
    trunk = rt.trunk(inp, z1)
    kernel_for(rt.w).decode(msg, inp.crop, inp.known, trunk.feats, extent=ext,
                            channels=channels, lattice=lattice_masks() if lattice else None)
    inp.set_pixels(inp.pixels().copy())


def _encode_wavefront(rt: ImageRuntime, msg, inp: BlockInputs, ext: np.ndarray, channels: int,
                      scheme: int, q1: Params | None = None, lattice: bool = False) -> None:
    """q1: the blocks' q(z_1|x) if already known (the encoder computes it for many blocks
    at once: it reads only the block's own pixels)."""
    levels = rt.cfg.levels
    q1 = rt.q1(inp) if q1 is None else q1
    if scheme == BBANS:          # Algorithm 1: all latents popped first, then everything pushed
        zs = [pop_params(msg, q1, LB, LATENT_PRECISION)]
        for i in range(1, levels):
            zs.append(pop_params(msg, rt.q_next(i, zs[-1]), LB, LATENT_PRECISION))
        _push_pixels(rt, msg, inp, zs[0], ext, channels, lattice)
        for i in range(1, levels):
            push_params(msg, zs[i - 1], rt.p_prev(i, zs[i]), LB, LATENT_PRECISION)
        push_params(msg, zs[-1], rt.p_top(zs[-1].shape), LB, LATENT_PRECISION)
        return
    z = pop_params(msg, q1, LB, LATENT_PRECISION)                  # Algorithm 2
    _push_pixels(rt, msg, inp, z, ext, channels, lattice)
    for i in range(1, levels):
        z_next = pop_params(msg, rt.q_next(i, z), LB, LATENT_PRECISION)
        push_params(msg, z, rt.p_prev(i, z_next), LB, LATENT_PRECISION)
        z = z_next
    push_params(msg, z, rt.p_top(z.shape), LB, LATENT_PRECISION)


def _decode_wavefront(rt: ImageRuntime, msg, inp: BlockInputs, ext: np.ndarray, channels: int,
                      scheme: int, lattice: bool = False) -> None:
    levels = rt.cfg.levels
    shape = (len(ext), rt.cfg.zc, rt.cfg.zs, rt.cfg.zs)
    z = pop_params(msg, rt.p_top(shape), LB, LATENT_PRECISION)
    if scheme == BBANS:
        zs = [z]
        for i in range(levels - 1, 0, -1):
            zs.insert(0, pop_params(msg, rt.p_prev(i, zs[0]), LB, LATENT_PRECISION))
        _pop_pixels(rt, msg, inp, zs[0], ext, channels, lattice)
        for i in range(levels - 1, 0, -1):
            push_params(msg, zs[i], rt.q_next(i, zs[i - 1]), LB, LATENT_PRECISION)
        push_params(msg, zs[0], rt.q1(inp), LB, LATENT_PRECISION)
        return
    for i in range(levels - 1, 0, -1):
        z_prev = pop_params(msg, rt.p_prev(i, z), LB, LATENT_PRECISION)
        push_params(msg, z, rt.q_next(i, z_prev), LB, LATENT_PRECISION)
        z = z_prev
    _pop_pixels(rt, msg, inp, z, ext, channels, lattice)
    push_params(msg, z, rt.q1(inp), LB, LATENT_PRECISION)


def _q1_all(rt: ImageRuntime, g: Geometry, canvas: np.ndarray, batch: int = 256) -> Params:
    """q(z_1|x) of every block (block-index order), in batches of whole-image blocks."""
    c = arch.CONTEXT
    img = canvas[c:c + g.nby * B, c:c + g.nbx * B]
    blocks = img.reshape(g.nby, B, g.nbx, B, 3).transpose(0, 2, 4, 1, 3).reshape(-1, 3, B, B)
    locs, scales = [], []
    for s in range(0, g.nblocks, batch):
        p = rt.q1(BlockInputs(s2d(blocks[s:s + batch].astype(np.int64)), None, None))
        locs.append(p.loc)
        scales.append(p.scale_idx)
    return Params(np.concatenate(locs), np.concatenate(scales))


def encode_image(rt: ImageRuntime, msg, planes: np.ndarray, scheme: int = BITSWAP,
                 done: Done = None, lattice: bool = False) -> None:
    """Push the image planes (C, H, W) uint8, C in {1, 3}, onto msg. lattice: B is coded among
    the values its pixel's R and G allow (lattice.py; every pixel must be on the lattice)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown coding scheme {scheme!r}")
    channels = planes.shape[0]
    _check_lattice(lattice, channels)
    g = Geometry(planes.shape[1], planes.shape[2])
    canvas = _filled_canvas(g, _rgb(planes))
    q1 = _q1_all(rt, g, canvas)
    for idx in reversed(g.wavefronts()):
        _encode_wavefront(rt, msg, g.inputs(canvas, idx), g.extent(idx), channels, scheme,
                          Params(q1.loc[idx], q1.scale_idx[idx]), lattice)
        if done is not None:
            done(len(idx))


def decode_image(rt: ImageRuntime, msg, channels: int, h: int, w: int, scheme: int = BITSWAP,
                 done: Done = None, lattice: bool = False) -> np.ndarray:
    """Pop an image of `channels` planes, h x w, from msg: (channels, h, w) uint8."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown coding scheme {scheme!r}")
    if channels not in (1, 3):
        raise ValueError(f"an image has 1 or 3 planes, got {channels}")
    _check_lattice(lattice, channels)
    g = Geometry(h, w)
    canvas = g.canvas()
    for idx in g.wavefronts():
        inp = g.inputs(canvas, idx)
        _decode_wavefront(rt, msg, inp, g.extent(idx), channels, scheme, lattice)
        if msg.initial_bits_drawn:
            # a valid decoder only refills from words the encoder pushed: garbage stops here
            raise CorruptChunk("image payload exhausted before its last block (the rANS state "
                               "left the range a valid message reaches: damaged data)")
        g.put(canvas, idx, inp.pixels())
        if done is not None:
            done(len(idx))
    c = arch.CONTEXT
    out = canvas[c:c + h, c:c + w].transpose(2, 0, 1)
    return np.ascontiguousarray(out[:channels])


def _check_lattice(lattice: bool, channels: int) -> None:
    if lattice and channels != 3:
        raise ValueError(f"the colour lattice needs 3 coded planes, got {channels}")


def _filled_canvas(g: Geometry, rgb: np.ndarray) -> np.ndarray:
    canvas = g.canvas()
    c = arch.CONTEXT
    canvas[c:c + g.nby * B, c:c + g.nbx * B] = np.pad(
        rgb, ((0, g.nby * B - g.h), (0, g.nbx * B - g.w), (0, 0)), mode="edge")
    return canvas


def code_length(rt: ImageRuntime, planes: np.ndarray, rng: np.random.Generator,
                batch: int = 256, lattice: bool = False) -> float:
    """Bits of the image under the model: the discretised -ELBO of its blocks with z drawn from
    the posterior chain, counting only the coded pixels. A chained message grows by this (in
    expectation) plus the initial bits paid once. lattice: as encode_image."""
    from archiver.entropy import logistic_codelength, masked_logistic_codelength
    from archiver.models.image.codelength import sample_bins
    channels = planes.shape[0]
    g = Geometry(planes.shape[1], planes.shape[2])
    canvas = _filled_canvas(g, _rgb(planes))
    total = 0.0
    blocks = np.arange(g.nblocks)
    for s in range(0, g.nblocks, batch):
        idx = blocks[s:s + batch]
        inp, ext = g.inputs(canvas, idx), g.extent(idx)
        q = rt.q1(inp)
        zs = []
        for i in range(1, rt.cfg.levels + 1):
            if i > 1:
                q = rt.q_next(i - 1, zs[-1])
            zs.append(sample_bins(q, rng))
            total -= logistic_codelength(zs[-1], q.loc, q.scale_idx, LB, LATENT_PRECISION)
        top = rt.p_top(zs[-1].shape)
        total += logistic_codelength(zs[-1], top.loc, top.scale_idx, LB, LATENT_PRECISION)
        for i in range(1, rt.cfg.levels):
            p = rt.p_prev(i, zs[i])
            total += logistic_codelength(zs[i - 1], p.loc, p.scale_idx, LB, LATENT_PRECISION)
        y, base2 = rt.ar_raw(inp, rt.trunk(inp, zs[0]))
        x = inp.pixels()
        m = _coded_mask(ext, channels)
        p = rt.ar_params(y, base2, x, m)
        if lattice:
            total += masked_logistic_codelength(x[m], p.loc[m], p.scale_idx[m],
                                                _lattice_mask_index(x)[m], lattice_masks(), 256,
                                                PIXEL_PRECISION)
        else:
            total += logistic_codelength(x[m], p.loc[m], p.scale_idx[m], 256, PIXEL_PRECISION)
    return total
