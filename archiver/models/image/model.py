"""The image model at run time: integer coder parameters for every latent and pixel of a batch of
32x32 blocks. Everything here is integer; float appears only where noted (sampling for
measurements), never in what steers the coder.

Coder conventions (cython_ans): pixels use 256 bins, latents LATENT_BINS bins, loc in 1/256 bin,
scale index into SCALES[j] = 2**(-4 + j/8) bins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archiver.models.image import arch
from archiver.models.image.adapt import adapt_scales
from archiver.models.image.colour_regress import regress_locs
from archiver.models.image.spatial_regress import spatial_locs
from archiver.models.image.runtime import runners
from archiver.models.image.weights_io import ImageWeights

PIXEL_PRECISION = 20
LATENT_PRECISION = 22
LOC_CENTRE = 511 * 256 + 128        # loc of the latent range's centre (bin 511.5)
SCALE_MAX = 127
USE_AR_KERNEL = True               # False: the numpy GEMM path (tests compare the two)
LOC_LIMIT = 1 << 26                 # the coder clamps loc to +-LOC_LIMIT; so do we (fits int32)
GRID = np.array(arch.grid_input(), np.int64)    # the trunk's constant `pos` input (grid_pos)


@dataclass
class Params:
    loc: np.ndarray        # int64, 1/256 bin
    scale_idx: np.ndarray  # int64, 0..127 (+ arch.TAIL_FLAG: the tailed logistic)


def coded_scales(cfg: arch.Config, j: np.ndarray) -> np.ndarray:
    """The scale indices pixels are coded with, from their indices after the adaptation:
    Config.tail selects the coder's tailed logistic."""
    return arch.tail_scales(j) if getattr(cfg, "tail", 0) else j


def latent_input(k: np.ndarray) -> np.ndarray:
    """Bin indices 0..1023 -> the integers the networks read (2k - 1023, symmetric)."""
    return 2 * np.asarray(k, np.int64) - (arch.LATENT_BINS - 1)


def pixel_input(x: np.ndarray) -> np.ndarray:
    return 2 * np.asarray(x, np.int64) - 255


def s2d(x: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, 4C, H/2, W/2), channel = (2*dy + dx) * C + c."""
    return np.concatenate([x[:, :, dy::2, dx::2] for dy in (0, 1) for dx in (0, 1)], axis=1)


@dataclass
class Trunk:
    """Trunk features of a batch of blocks, with the head's cached partial sums over them."""
    feats: np.ndarray
    cache: dict


@dataclass
class BlockInputs:
    """Integer network inputs of a batch of blocks with their context (see arch docstring)."""
    block: np.ndarray      # (B, 12, 16, 16) pixel values 0..255 of the four planes
    ctx: np.ndarray        # (B, 12, 20, 20) pixel inputs, 0 where unknown
    ctxmask: np.ndarray    # (B, 1, 20, 20) MASK_ON where known
    crop: np.ndarray | None = None    # (B, 3, CROP_H, CROP_W) pixels 0..255 (ar decoder)
    known: np.ndarray | None = None   # (B, 1, CROP_H, CROP_W) 1 where known (block: 1)

    @staticmethod
    def from_crops(crops: np.ndarray, top: np.ndarray, left: np.ndarray,
                   topright: np.ndarray | None = None) -> "BlockInputs":
        """crops (B, 40, 48, 3) uint8: the block at [8:40, 8:40], 8 rows above, 8 columns left
        and, in the rows above, 8 columns right as context (40x40 crops: no right context);
        top/left/topright (B,) bool say whether that context exists (false at image edges;
        topright also where the block above-right is beyond the image)."""
        c = arch.CONTEXT
        x = np.asarray(crops, np.int64).transpose(0, 3, 1, 2)
        b = x.shape[0]
        if x.shape[3] == c + arch.BLOCK:
            x = np.pad(x, ((0, 0), (0, 0), (0, 0), (0, arch.RIGHT)))
            topright = np.zeros(b, bool)
        t = np.asarray(top, bool).reshape(b)
        lf = np.asarray(left, bool).reshape(b)
        tr = t & np.asarray(topright if topright is not None else top, bool).reshape(b)
        known, k40, mask = _known_templates()
        which = 4 * t + 2 * lf + tr
        e = c + arch.BLOCK
        ctx = s2d(pixel_input(x[:, :, :, :e]) * k40[which])
        kn = known[which]
        return BlockInputs(s2d(x[:, :, c:e, c:e]), ctx, mask[which], x * kn, kn)

    def pixels(self) -> np.ndarray:
        """The block's pixels (B, 3, 32, 32) (ar decoder layout)."""
        c = arch.CONTEXT
        return self.crop[:, :, c:c + arch.BLOCK, c:c + arch.BLOCK]

    def context_only(self) -> "BlockInputs":
        """The same blocks with their pixels hidden (zeros): what a decoder starts from."""
        c, e = arch.CONTEXT, arch.CONTEXT + arch.BLOCK
        crop = None
        if self.crop is not None:
            crop = self.crop.copy()
            crop[:, :, c:e, c:e] = 0
        return BlockInputs(np.zeros_like(self.block), self.ctx, self.ctxmask, crop, self.known)

    def set_pixels(self, x: np.ndarray) -> None:
        """Store decoded pixels (B, 3, 32, 32) in both layouts."""
        c, e = arch.CONTEXT, arch.CONTEXT + arch.BLOCK
        self.crop[:, :, c:e, c:e] = x
        self.block = s2d(np.asarray(x, np.int64))


_TEMPLATES: tuple | None = None


def _known_templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The known-masks of a crop for each of the 8 (top, left, topright) contexts, indexed
    4 top + 2 left + topright: known (8, 1, CROP_H, CROP_W) (the block: 1), its 40x40 part with
    the block hidden (what the trunk's context sees) and that part's half-resolution mask
    (8, 1, 20, 20), MASK_ON where known. Made once."""
    global _TEMPLATES
    if _TEMPLATES is None:
        c, e = arch.CONTEXT, arch.CONTEXT + arch.BLOCK
        known = np.zeros((8, 1, arch.CROP_H, arch.CROP_W), np.int64)
        for i in range(8):
            t, lf, tr = bool(i & 4), bool(i & 2), bool(i & 1) and bool(i & 4)
            known[i, :, :c, c:e] = t
            known[i, :, c:, :c] = lf
            known[i, :, :c, :c] = t and lf
            known[i, :, :c, e:] = tr
            known[i, :, c:, c:e] = 1
        k40 = known[:, :, :, :e].copy()
        k40[:, :, c:, c:] = 0
        _TEMPLATES = (known, k40, s2d(k40)[:, :1] * arch.MASK_ON)
    return _TEMPLATES


def ar_inputs(crop: np.ndarray, known: np.ndarray, r: int, rows: tuple[int, int],
              cols: tuple[int, int]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Inputs of the ar network for block pixels [rows) x [cols): its causal neighbourhood
    relative to the base (2n - base2, 0 where unknown) and the three flags; and base2 = twice
    the base (W + N if both known, 2W or 2N if one, 256 if neither). Reads only positions that
    precede the pixels in raster order, so decoding may call it with later pixels still 0."""
    c = arch.CONTEXT
    y0, y1 = rows[0] + c, rows[1] + c
    x0, x1 = cols[0] + c, cols[1] + c

    def at(a, dy, dx):
        return a[:, :, y0 + dy:y1 + dy, x0 + dx:x1 + dx]

    w, kw = at(crop, 0, -1), at(known, 0, -1)
    n, kn = at(crop, -1, 0), at(known, -1, 0)
    base2 = np.where(kw & kn, w + n, np.where(kw, 2 * w, np.where(kn, 2 * n, 256)))
    nbr = np.concatenate([(2 * at(crop, dy, dx) - base2) * at(known, dy, dx)
                          for dy, dx in arch.ar_offsets(r)], axis=1)
    flags = np.concatenate([kn, kw, at(known, -1, r)], axis=1) * arch.MASK_ON
    return {"nbr": nbr, "flags": flags}, base2


class ImageRuntime:
    def __init__(self, weights: ImageWeights):
        self.w = weights
        self.cfg = weights.cfg
        self.nets = runners(weights)
        self.top_prior = weights.top_prior
        self.dc_corr = dc_corrections(weights)

    # --- latents -------------------------------------------------------------------------
    def _latent_params(self, y: np.ndarray) -> Params:
        zc = self.cfg.zc
        return Params(np.clip(y[:, :zc], -LOC_LIMIT, LOC_LIMIT), np.clip(y[:, zc:], 0, SCALE_MAX))

    def q1(self, inp: BlockInputs) -> Params:
        return self._latent_params(self.nets["q1"]({"xb": pixel_input(inp.block)}))

    def q_next(self, i: int, z_i: np.ndarray) -> Params:
        """q(z_{i+1} | z_i) from bin indices of z_i."""
        return self._latent_params(self.nets[f"q{i + 1}"]({"z": latent_input(z_i)}))

    def p_prev(self, i: int, z_next: np.ndarray) -> Params:
        """p(z_i | z_{i+1}) from bin indices of z_{i+1}."""
        return self._latent_params(self.nets[f"p{i}"]({"z": latent_input(z_next)}))

    def p_top(self, shape) -> Params:
        loc, j = self.top_prior
        return Params(np.full(shape, loc, np.int64), np.full(shape, j, np.int64))

    # --- pixels --------------------------------------------------------------------------
    def trunk(self, inp: BlockInputs, z1: np.ndarray) -> "Trunk":
        feeds = {"ctx": inp.ctx, "ctxmask": inp.ctxmask, "z": latent_input(z1)}
        if self.cfg.grid_pos:
            feeds["pos"] = np.broadcast_to(GRID, (len(z1), *GRID.shape))
        feats = self.nets["trunk"](feeds)
        return Trunk(feats, {})

    def head(self, inp: BlockInputs, trunk: "Trunk", decoded: list[int],
             plane: int | None = None) -> np.ndarray:
        """Raw head output given the planes decoded so far (their pixels are read from
        inp.block; other planes are never looked at): (B, 36, 16, 16), or only the 9 channels
        of `plane` (B, 9, 16, 16) if given."""
        b = trunk.feats.shape[0]
        ring_ctx = np.pad(inp.ctx[:, :, 3:, 3:], ((0, 0), (0, 0), (0, 1), (0, 1)))
        ring_known = np.pad(inp.ctxmask[:, :, 3:, 3:], ((0, 0), (0, 0), (0, 1), (0, 1)))
        planes = ring_ctx.copy()
        known = np.repeat(ring_known, 4, axis=1)
        known[:, :, 1:17, 1:17] = 0
        for p in decoded:
            planes[:, 3 * p:3 * p + 3, 1:17, 1:17] = pixel_input(inp.block[:, 3 * p:3 * p + 3])
            known[:, p, 1:17, 1:17] = arch.MASK_ON
        assert planes.shape[0] == b
        cols = None if plane is None else slice(plane * arch.PIXEL_PARAMS,
                                                (plane + 1) * arch.PIXEL_PARAMS)
        channels = range(4 * arch.PIXEL_PARAMS) if plane is None else range(cols.start, cols.stop)
        adjust, rel, a_base = None, [], None
        if self.dc_corr is not None:
            b0 = 3 * arch.DC_BASE_PLANE
            a_base = planes[:, b0:b0 + 3, 1:17, 1:17]     # pixel inputs; 0 before pass 0
            flat = a_base.transpose(0, 2, 3, 1).reshape(-1, 3)
            rel = [(ci, o, o % arch.PIXEL_PARAMS) for ci, o in enumerate(channels)
                   if o // arch.PIXEL_PARAMS != arch.DC_BASE_PLANE and o % arch.PIXEL_PARAMS < 3]

            def adjust(total: np.ndarray) -> np.ndarray:
                for ci, o, c in rel:      # the skip read (pixel - base): remove sum(w) * base
                    total[:, ci] -= self.dc_corr[o] * flat[:, c]
                return total
        y = self.nets["head"]({"trunk": trunk.feats, "planes": planes, "known": known}, cols,
                              trunk.cache, adjust)
        for ci, _, c in rel:
            y[:, ci] += 128 * (a_base[:, c] + 255)          # + 256 * x_base
        return y

    def ar_raw(self, inp: BlockInputs, trunk: "Trunk", rows=(0, arch.BLOCK),
               cols=(0, arch.BLOCK)) -> tuple[np.ndarray, np.ndarray]:
        """ar decoder: raw outputs (B, 9, h, w) for block pixels [rows) x [cols) and base2.
        Whole blocks (what the encoder needs) run in the C kernel of the decoder's pixel loop:
        the same integers, ~10x faster than these 1x1 GEMMs."""
        if rows == (0, arch.BLOCK) and cols == (0, arch.BLOCK) and USE_AR_KERNEL:
            from archiver.models.image._ar import kernel_for
            return kernel_for(self.w).raw(inp.crop, inp.known, trunk.feats)
        feeds, base2 = ar_inputs(inp.crop, inp.known, self.cfg.ar_radius, rows, cols)
        feeds["tfeat"] = trunk.feats[:, :, rows[0]:rows[1], cols[0]:cols[1]]
        return self.nets["ar"](feeds), base2

    def ar_params(self, y: np.ndarray, base2: np.ndarray, x: np.ndarray | None = None,
                  coded: np.ndarray | None = None):
        """Coder parameters from the ar outputs: means relative to base (1/256 units:
        + 128 * base2), chained R -> G -> B on (2x - base2). Returns (loc_base, scale_idx,
        coeffs) if x is None (the network's scale indices: a decoder adapts them pixel by
        pixel with adapt.ScaleState), else Params for whole blocks x (B, 3, 32, 32) (R, G read
        for G, B; scale indices adapted under Config.scale_adapt from the pixels `coded`
        (bool, x's shape; default all) that precede each pixel)."""
        base = y[:, 0:3] + 128 * base2
        j = np.clip(y[:, 3:6], 0, SCALE_MAX)
        c = np.clip(y[:, 6:9], -256, 256)
        if x is None:
            return base, j, c
        loc = chain_locs(base, c, 2 * np.asarray(x, np.int64), base2)
        if getattr(self.cfg, "colour_adapt", 0):
            if USE_AR_KERNEL:      # the same rule in C (ar_core.c), ~8x faster
                from archiver.models.image._ar import kernel_for
                loc = kernel_for(self.w).regress(x, loc, j, coded)
            else:
                loc = regress_locs(x, loc, j, coded)
        if getattr(self.cfg, "spatial_adapt", 0):
            if USE_AR_KERNEL:      # the same rule in C (ar_core.c)
                from archiver.models.image._ar import kernel_for
                loc = kernel_for(self.w).spatial(x, loc, j, coded)
            else:
                loc = spatial_locs(x, loc, j, coded)
        if self.cfg.scale_adapt:
            if USE_AR_KERNEL:      # the same rule in C (ar_core.c), ~free beside the network
                from archiver.models.image._ar import kernel_for
                j = kernel_for(self.w).adapt(x, loc, j, coded)
            else:
                j = adapt_scales(x, loc, j, coded, cross=self.cfg.scale_adapt == 2)
        return Params(loc, coded_scales(self.cfg, j))

    def chain_ref(self, inp: BlockInputs, plane: int) -> np.ndarray | None:
        """Reference pixels of the colour chain of `plane`: the DC base under Config.dc_base
        (plane 0, decoded in pass 0), else None (the fixed reference 128)."""
        if self.cfg.dc_base and plane != arch.DC_BASE_PLANE:
            b0 = 3 * arch.DC_BASE_PLANE
            return inp.block[:, b0:b0 + 3]
        return None

    @staticmethod
    def plane_params(y: np.ndarray, x: np.ndarray | None = None, ref: np.ndarray | None = None):
        """Coder parameters of a plane (3 channels) from its 9 raw head outputs. The G and B
        locations depend on the R (and G) pixels: pass x (B, 3, 16, 16) with those filled in
        (R for G, R and G for B); returns (loc_base, scale_idx, coeffs) if x is None."""
        q = y
        base = q[:, 0:3]
        j = np.clip(q[:, 3:6], 0, SCALE_MAX)
        c = np.clip(q[:, 6:9], -256, 256)
        if x is None:
            return base, j, c
        return Params(chain_locs(base, c, x, ref), j)


def dc_corrections(weights: ImageWeights) -> np.ndarray | None:
    """Per head output channel: (sum of the integer skip weights) * (its multiplier), the
    pre-shift correction that makes the skip act on (pixel - base) under Config.dc_base."""
    if not weights.cfg.dc_base:
        return None
    graph = weights.graphs["head"]
    op = graph.convs()[-1]
    gi = [name for name, _, _ in op.inputs].index("planes")
    p = weights.convs["head"][op.out]
    wsum = p.ws[gi].astype(np.int64).reshape(op.cout, -1).sum(1)
    return wsum * p.m[gi]


def chain_locs(base: np.ndarray, c: np.ndarray, x: np.ndarray,
               ref: np.ndarray | None = None) -> np.ndarray:
    """R -> G -> B: loc_G += c_GR (x_R - r_R), loc_B += c_BR (x_R - r_R) + c_BG (x_G - r_G),
    with reference r = 128, or the given reference pixels (B, 3, H, W)."""
    d = np.asarray(x, np.int64) - (128 if ref is None else np.asarray(ref, np.int64))
    loc = base.copy()
    loc[:, 1] += c[:, 0] * d[:, 0]
    loc[:, 2] += c[:, 1] * d[:, 0] + c[:, 2] * d[:, 1]
    return np.clip(loc, -LOC_LIMIT, LOC_LIMIT)
