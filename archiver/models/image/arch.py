"""The Bit-Swap image model as plain data: one definition read by training (torch) and runtime (numpy).

A block is 32x32x3 pixels. The model is a Markov chain z_L -> ... -> z_1 -> x (Bit-Swap):
inference q(z_1|x), q(z_{i+1}|z_i); generative p(x|z_1, context), p(z_i|z_{i+1}), p(z_L) a
standard logistic. Every latent is `zc` channels at `zs` x `zs`.

p(x|z_1, context) has two forms (Config.decoder):
  "ar" (shipped): raster order over the block's pixels. A trunk runs once per block on z_1 and
      the 8 rows above / 8 columns left of the block (decoded earlier, in raster order of
      blocks) and gives every pixel `tfeat` features; a small per-pixel network (ar_net) reads
      those and the pixel's causal neighbourhood (radius ar_radius, including pixels of the
      blocks above, above-right and left). Encoding evaluates all pixels at once; decoding one
      pixel at a time (C kernel, archiver/models/image/_ar.pyx).
  "planes": the four 2x2 sub-lattices of the block ("planes", space-to-depth), decoded in four
      passes, each conditioned on z_1, the context and the planes of earlier passes; a head runs
      once per pass (the first model; measured 1.41x WebP, see benchmarks/results/image.md).
In both, the colour channels are chained R -> G -> B by linear coefficients the network predicts.

Networks are lists of ops over named integer tensors (channels-first, no batch axis here):
  Conv      out = sum over input groups of conv(group) + bias, then requantised (see below);
            groups of different kinds have their own weight scale (group_kinds)
  Add       residual sum of two activations, clamped
  SpaceToDepth / DepthToSpace (factor 2), Pad (zeros), Crop
Tensor kinds fix the integer encoding of each value:
  pixel   a = 2x - 255        value a / 256          |a| <= 255
  act     int8 activation     value a / 16           |a| <= 127 (ReLU: 0..127)
  latent  a = 2k - 1023       value a * delta / 2    (k = bin index of 1024 uniform bins)
A Conv with act "relu"/"linear" produces an act tensor; "raw" produces the network's output, which
heads turn into coder parameters (loc in 1/256 bin, scale index) by an integer affine map.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cython_ans import TAIL_FLAG as CODER_TAIL_FLAG

PIXEL, ACT, LATENT, DIFF = "pixel", "act", "latent", "diff"
ACT_SCALE = 1.0 / 16.0          # value of one unit of an act tensor
PIXEL_SCALE = 1.0 / 256.0       # value of one unit of a pixel tensor
ACT_MAX = 127
DIFF_SCALE = 1.0 / 64.0        # value of one unit of a diff tensor
KIND_MAX = {PIXEL: 255, ACT: 127, LATENT: 1023, DIFF: 510}
MASK_ON = 16                    # a mask channel holds 16 (= value 1.0) where known, else 0
BLOCK = 32
CONTEXT = 8                     # rows above / columns left of a block given as context
RIGHT = 8                       # columns right of a block in the context rows (crops are
                                # (CONTEXT + BLOCK) x (CONTEXT + BLOCK + RIGHT))
CROP_H, CROP_W = CONTEXT + BLOCK, CONTEXT + BLOCK + RIGHT
PASS_ORDER = (0, 3, 1, 2)       # planes (dy, dx) = (0,0), (1,1), (0,1), (1,0)
PIXEL_PARAMS = 9                # per plane: 3 means, 3 scale indices, 3 colour coefficients
# With Config.dc_base, the means of planes 1-3 are x_base + 128 * (head output with the linear
# skip applied to (pixel - x_base)), x_base the plane-0 pixel of the same colour at the same
# half-resolution position (decoded in pass 0): the skip weights then need not sum to exactly 1
# for the prediction to follow the local brightness (its DC is exact by construction).
DC_BASE_PLANE = 0
LATENT_BINS = 1024


@dataclass(frozen=True)
class Conv:
    out: str
    inputs: tuple[tuple[str, int, str], ...]   # (tensor, kernel size, "same" | "valid")
    cout: int
    act: str                                    # "relu" | "linear" | "raw"
    fine: tuple[str, ...] = ()                  # input groups with 16-bit weights (float64 GEMM)


@dataclass(frozen=True)
class Add:
    out: str
    a: str
    b: str


@dataclass(frozen=True)
class SpaceToDepth:
    out: str
    inp: str


@dataclass(frozen=True)
class DepthToSpace:
    out: str
    inp: str


@dataclass(frozen=True)
class Pad:
    out: str
    inp: str
    tblr: tuple[int, int, int, int]


@dataclass(frozen=True)
class Crop:
    out: str
    inp: str
    rows: tuple[int, int]
    cols: tuple[int, int]


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[tuple[str, str, tuple[int, int, int]], ...]   # (name, kind, (c, h, w))
    ops: tuple
    output: str

    def convs(self) -> list[Conv]:
        return [op for op in self.ops if isinstance(op, Conv)]


@dataclass(frozen=True)
class Config:
    levels: int = 4          # L, number of latent layers
    zc: int = 8              # latent channels
    zs: int = 8              # latent spatial size
    width: int = 32          # hidden channels of the latent networks
    trunk: int = 32          # hidden channels of the pixel trunk
    head: int = 32           # hidden channels of the pixel head
    zfeat: int = 16          # channels z_1 contributes to the pixel trunk (at 16x16)
    blocks: int = 1          # residual blocks per network
    dc_base: bool = False    # planes 1-3 predict relative to plane 0's pixel (see DC_BASE_PLANE)
    decoder: str = "planes"  # "planes" (four 2x2 passes) or "ar" (raster order, see ar_net)
    ar_radius: int = 3       # causal neighbourhood of the ar decoder: rows -r..-1 x cols -r..r,
                             # and row 0 x cols -r..-1
    ar_hidden: int = 48      # hidden channels of the per-pixel network
    ar_blocks: int = 1       # its residual blocks
    tfeat: int = 8           # per-pixel channels the trunk gives the ar decoder
    scale_adapt: int = 0     # ar decoder: 1 = correct each pixel's scale index from the errors
                             # of earlier pixels of its block (see ADAPT_* below), 2 = that and
                             # the errors of the pixel's earlier colours (XADAPT_*), 0 = off
    colour_adapt: int = 0    # ar decoder: 1 = move the locations of G and B by the block's
                             # regression of their errors on the earlier colours' (CREG_*)
    spatial_adapt: int = 0   # ar decoder: 1 = then move each colour's location by the block's
                             # regression of its errors on its W and N neighbours' (SREG_*)
    grid_pos: int = 0        # ar decoder: 1 = the per-pixel trunk features also read the pixel's
                             # place in the 8x8 grid (GRID_*): decoded JPEGs, most photos saved
                             # as PNG, cost ~15% more bits on their 8x8 block edges
    tail: int = 0            # ar decoder: 1 = code pixels in some scale buckets with the tailed
                             # logistic (TAIL_*)

    def to_dict(self) -> dict:
        # colour_adapt, spatial_adapt, grid_pos and tail came after weights were shipped: left
        # out while 0, so those weights export byte for byte as before
        d = dict(self.__dict__)
        for k in ("colour_adapt", "spatial_adapt", "grid_pos", "tail"):
            if not d[k]:
                del d[k]
        return d


def _resblocks(prefix: str, x: str, ch: int, n: int) -> tuple[list, str]:
    ops = []
    for i in range(n):
        h = f"{prefix}r{i}h"
        d = f"{prefix}r{i}d"
        y = f"{prefix}r{i}"
        ops += [Conv(h, ((x, 3, "same"),), ch, "relu"),
                Conv(d, ((h, 3, "same"),), ch, "linear"),
                Add(y, x, d)]
        x = y
    return ops, x


def latent_net(name: str, cfg: Config) -> Graph:
    """q(z_{i+1}|z_i) or p(z_i|z_{i+1}): latent in, (mean, log2 scale) per latent unit out."""
    ops = [Conv("h0", (("z", 3, "same"),), cfg.width, "relu")]
    more, x = _resblocks("", "h0", cfg.width, cfg.blocks)
    ops += more
    ops.append(Conv("out", ((x, 3, "same"),), 2 * cfg.zc, "raw"))
    return Graph(name, (("z", LATENT, (cfg.zc, cfg.zs, cfg.zs)),), tuple(ops), "out")


def q1_net(cfg: Config) -> Graph:
    """q(z_1|x): the block's four planes (12x16x16) in, z_1 parameters (zc x 8x8) out."""
    assert cfg.zs == 8, "q1 downsamples 32 -> 8"
    ops = [Conv("h0", (("xb", 3, "same"),), cfg.width, "relu"),
           SpaceToDepth("h0s", "h0"),
           Conv("h1", (("h0s", 1, "same"),), cfg.width, "relu")]
    more, x = _resblocks("", "h1", cfg.width, cfg.blocks)
    ops += more
    ops.append(Conv("out", ((x, 3, "same"),), 2 * cfg.zc, "raw"))
    return Graph("q1", (("xb", PIXEL, (12, 16, 16)),), tuple(ops), "out")


def trunk_net(cfg: Config) -> Graph:
    """Once per block: context pixels (20x20 half-resolution grid, block at [4:20, 4:20]) and z_1
    -> features on the 18x18 ring grid (block plus one half-res row/column on each side)."""
    ops = [Conv("z0", (("z", 3, "same"),), cfg.width, "relu"),
           Conv("z1", (("z0", 1, "same"),), 4 * cfg.zfeat, "linear"),
           DepthToSpace("z2", "z1"),                       # zfeat x 16 x 16
           Pad("z3", "z2", (4, 0, 4, 0)),                  # onto the 20x20 grid
           Conv("t0", (("ctx", 3, "same"), ("ctxmask", 3, "same"), ("z3", 3, "same")),
                cfg.trunk, "relu")]
    more, x = _resblocks("t", "t0", cfg.trunk, cfg.blocks)
    ops += more
    ops += [Crop("t17", x, (3, 20), (3, 20)), Pad("t18", "t17", (0, 1, 0, 1))]
    return Graph("trunk", (("ctx", PIXEL, (12, 20, 20)), ("ctxmask", ACT, (1, 20, 20)),
                           ("z", LATENT, (cfg.zc, cfg.zs, cfg.zs))), tuple(ops), "t18")


def head_net(cfg: Config) -> Graph:
    """Once per pass: trunk features, known pixels and known-masks on the 18x18 ring grid ->
    parameters of all four planes on the 16x16 block grid (the pass uses its own plane's 9)."""
    ops = [Conv("h0", (("trunk", 3, "valid"), ("planes", 3, "valid"), ("known", 3, "valid")),
                cfg.head, "relu"),
           Conv("h1", (("h0", 1, "same"),), cfg.head, "relu"),
           # the linear skip from known pixels carries the prediction's DC: its weights must sum
           # to ~1 far more precisely than an int8 grid allows, hence 16-bit weights
           Conv("out", (("h1", 1, "same"), ("planes", 3, "valid")), 4 * PIXEL_PARAMS, "raw",
                fine=("planes",))]
    return Graph("head", (("trunk", ACT, (cfg.trunk, 18, 18)), ("planes", PIXEL, (12, 18, 18)),
                          ("known", ACT, (4, 18, 18))), tuple(ops), "out")


def ar_offsets(r: int) -> list[tuple[int, int]]:
    """Causal neighbourhood (dy, dx) of the ar decoder, in the order of its input channels."""
    return [(dy, dx) for dy in range(-r, 1) for dx in range(-r, r + 1) if dy < 0 or dx < 0]


AR_FLAGS = 3     # per pixel: row above known, column left known, above-right (dx = +r) known
# The ar network's raw outputs y map to coder integers by fixed gains (folded into the last
# conv at export): loc = 128 * base2 + AR_LOC_GAIN * 256 * y (1/256 pixel), scale index
# 16 * y + 64, colour coefficient AR_COEF_GAIN * y (1/128 per unit of 2x - base2). Small gains
# keep one optimiser step from moving a prediction by whole pixels; AR_SCALE_BIAS starts the
# scales near 1 pixel (index 32) instead of 16.
AR_LOC_GAIN = 8.0
AR_COEF_GAIN = 64.0
AR_SCALE_BIAS = -2.0


# Scale adaptation (Config.scale_adapt = 1), exact integers, per block and colour, in the
# decoder's raster order. Pixels are grouped by the network's scale index j into buckets
# j >> ADAPT_BUCKET_SHIFT. For each bucket the block keeps A = sum of min(|256 x - loc|,
# ADAPT_CLIP) (the actual absolute errors, 1/256 pixel, loc as coded) and B = sum of ADAPT_MAD[j]
# (the mean absolute error a logistic of scale index j expects: 2 ln 2 * 256 * SCALES[j]) over
# the earlier pixels of that bucket. A pixel of index j is coded with j + d, d the nearest
# integer to 8 log2(num / den) clamped to +-ADAPT_DMAX (one step of j is 2^(1/8)):
#   num = A + ADAPT_PRIOR * ADAPT_MAD[j], den = B + ADAPT_PRIOR * ADAPT_MAD[j]
#   d = -ADAPT_DMAX + #{i : num * 2^16 >= ADAPT_STEPS[i] * den},
# ADAPT_STEPS[i] = round(2^16 * 2^((i - ADAPT_DMAX + 0.5) / 8)). The prior makes the first
# pixels of a bucket keep the network's scale. Why: the network's scales are right on average
# but not per image (noise level, texture); measured on held-out photos, 0.5-4% fewer bits
# (benchmarks/results/image.md). Bounds: A < 2^22, B < 2^31, num * 2^16 and STEPS * den < 2^50.
ADAPT_BUCKET_SHIFT = 3
ADAPT_PRIOR = 8
ADAPT_CLIP = 4096
ADAPT_DMAX = 8
ADAPT_MAD = (
    22, 24, 26, 29, 31, 34, 37, 41, 44, 48, 53, 58, 63, 68, 75, 81, 89, 97, 106, 115, 125, 137,
    149, 163, 177, 194, 211, 230, 251, 274, 298, 325, 355, 387, 422, 460, 502, 547, 597, 651, 710,
    774, 844, 920, 1004, 1095, 1194, 1302, 1420, 1548, 1688, 1841, 2008, 2189, 2387, 2603, 2839,
    3096, 3376, 3682, 4015, 4379, 4775, 5207, 5678, 6192, 6753, 7364, 8030, 8757, 9550, 10414,
    11357, 12384, 13505, 14728, 16061, 17514, 19099, 20828, 22713, 24769, 27011, 29455, 32121,
    35028, 38199, 41656, 45426, 49538, 54021, 58910, 64242, 70057, 76397, 83312, 90852, 99075,
    108042, 117821, 128484, 140113, 152795, 166624, 181704, 198150, 216084, 235641, 256969,
    280226, 305589, 333247, 363409, 396300, 432168, 471283, 513938, 560453, 611178, 666495,
    726817, 792600, 864337, 942566, 1027875, 1120906, 1222356, 1332989)
ADAPT_STEPS = (34219, 37316, 40693, 44376, 48393, 52773, 57549, 62757, 68438, 74632, 81386, 88752,
               96785, 105545, 115098, 125515)


# Cross-colour scale correction (Config.scale_adapt = 2), applied after the block adaptation
# above: G and B of a pixel are coded after its R (and G), whose errors tell how surprising
# this pixel is (an edge, a texture, a flat run): the network's scales for G and B are
# predicted before any colour of the pixel is known. For colour c > 0, with A = sum over the
# earlier colours of min(|256 x - loc|, ADAPT_CLIP) and B = sum of their ADAPT_MAD[j] (j the
# network's index), the ratio bin is
#   q = 1 + #{i : (A + 1) * 2^16 >= XADAPT_STEPS[i] * (B + 1)}    (q = 0 for colour 0)
# and the pixel's index (after the block adaptation) moves by
#   XADAPT_TABLE[(c * XADAPT_BINS + q) * XADAPT_JBUCKETS + (j >> XADAPT_JSHIFT)],
# clamped to 0..127. The thresholds are 2^t for t = -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5,
# 2, 3; the table (steps of 2^(1/8) in scale) was fitted once on training photos (every 3rd
# training image, 80 blocks each, image-l4b): per context the shift with the fewest bits, 0
# unless it saved 200 bits there. Measured on the 53 validation images (120 blocks each at
# most): 0.91% fewer bits than the block adaptation alone, 6.5% on the smooth Fossa.
# Bounds: A, B < 2^22, so (A + 1) * 2^16 < 2^39 and STEPS * (B + 1) < 2^42.
XADAPT_STEPS = (4096, 8192, 16384, 23170, 32768, 46341, 65536, 92682, 131072, 185364, 262144,
                524288)
XADAPT_BINS = len(XADAPT_STEPS) + 2
XADAPT_JSHIFT = 3
XADAPT_JBUCKETS = 128 >> XADAPT_JSHIFT
XADAPT_TABLE = (   # [colour][ratio bin q][j >> XADAPT_JSHIFT]
      0,   0,  -1,   0,   0,   0,   1,   4,   7,   4,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,  -2,  -2,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,  -3,  -3,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,  -2,  -2,  -1,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,  -2,  -2,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,  -2,  -2,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,  -2,  -2,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,  -1,   0,   0,   1,   2,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   1,   2,   3,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   3,   3,   1,   2,   3,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      7,   8,   6,   3,   3,   6,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
     16,  16,  10,   6,   8,  10,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
     16,  16,  16,  16,  16,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,  -2,  -1,  -1,  -2,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,  -1,  -1,  -1,  -2,  -2,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,  -1,  -1,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,  -1,  -1,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,  -1,  -1,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,  -1,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   1,   2,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   3,   1,   0,   1,   2,   4,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      4,   5,   2,   1,   2,   4,   5,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      8,   6,   3,   2,   4,   7,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
     14,   8,   5,   5,  10,  12,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
     16,  16,  16,  16,  16,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
)


# Colour regression (Config.colour_adapt = 1), exact integers, per block in the decoder's
# raster order, over pixels whose three colours are coded. Errors are e = 256 x - loc clipped
# to +-CREG_CLIP (1/256 pixel). The network chains G and B on R (and G) with coefficients
# fixed per pixel; what remains correlated in a given photo (its colour statistics, a JPEG
# ancestor's chroma) is learnt online: with sums over the block's earlier pixels
#   RR = sum r^2, GR = sum g0 r, BR = sum b0 r, GG = sum g^2, BG = sum b1 g
# (r: R's error; g0, b0: G's and B's errors against their chained locations; g: G's error
# against its moved location; b1: B's against its location after the R shift), a pixel's
#   loc_G += S(GR, RR, j_R, r)
#   loc_B += S(BR, RR, j_R, r) (= B's location b1), then += S(BG, GG, j_G, g)
# with S(sxy, sxx, j, e) = floor((2 sxy e + den) / (2 den)), den = sxx + CREG_PRIOR *
# ADAPT_MAD[j]^2 (CREG_PRIOR pseudo-pixels of the expected error with no correlation), each
# moved location clamped to +-2^26. Locations move before the scale adaptation, which sees the
# moved ones. Measured on the 53 validation images (120 blocks each at most): 0.6% fewer bits
# in all, 5.4% on e-Mountain@1, 2% on k-Autumn and Fossa (benchmarks/results/image.md).
# Bounds: |sums| <= 1024 * 2^24 = 2^34, |2 sxy e| < 2^47, den < 2^46.
CREG_CLIP = 4096
CREG_PRIOR = 16


# Spatial regression (Config.spatial_adapt = 1), exact integers, per block and colour in the
# decoder's raster order, after the colour regression (whose errors and sums it leaves as they
# are). Each coded colour c of a pixel has its location l1 (chained, then moved by the colour
# regression) and its error u = 256 x - l1 clipped to +-SREG_CLIP (1/256 pixel; 0 for pixels
# not coded). With w and n the u of the same colour at the pixel's W and N neighbours inside
# the block (0 in the block's first column / row) and sums over the block's earlier coded
# pixels of the colour
#   WW = sum w^2, UW = sum u w, NN = sum n^2, VN = sum v n
# (v: the error against l2 below, clipped the same way), the colour is coded with
#   l2 = l1 + S(UW, WW, j, w),   loc = l2 + S(VN, NN, j, n) clamped to +-2^26
# where S is the colour regression's rounded shift with prior SREG_PRIOR and j the network's
# scale index of the colour: the block's least-squares slope of the error on the W neighbour's
# error, then of what remains on the N neighbour's. The scale adaptation sees loc. A decoder
# keeps one row of u per block and colour. Bounds as CREG_*: |sums| <= 2^34, |2 sxy e| < 2^47.
SREG_CLIP = 4096
SREG_PRIOR = 16


# Tailed pixels (Config.tail = 1), a coding rule like the three above: a pixel whose scale
# index j (after the scale adaptation) falls in a bucket j >> 3 set in TAIL_MASK is coded with
# j + TAIL_FLAG instead: the coder's tailed logistic (format_spec/rans.md 5.3), 31/32 of the
# mass at scale index j - 1 and 1/32 at j + 13 (3.1x wider). Why: the network's residuals have
# heavier tails than one logistic (kurtosis ~5.3 against the logistic's 4.2 on e-Red-Maple).
# Fitted once on training photos (35 whole photos of all six sources, 96 blocks each, float code
# lengths under image-l4e and its rules): the tails pay below j = 24 (scales under half a
# pixel) and from j = 40 to 95, not at 24..39 nor in the empty buckets above 95; 0.30% fewer
# bits in their total, where the tail everywhere saved 0.22% and cost up to 20% on a flat
# painting.
TAIL_FLAG = CODER_TAIL_FLAG
TAIL_MASK = 0b0000_1111_1110_0111      # bit b: scale buckets j >> 3 == b use the tail


def tail_scales(j):
    """Coded scale indices under Config.tail from adapted ones (ints or int arrays)."""
    return j + TAIL_FLAG * ((TAIL_MASK >> (j >> 3)) & 1)


# Grid position (Config.grid_pos = 1): a block starts at a multiple of 32, so a pixel's place in
# a JPEG ancestor's 8x8 grid is its place in the block mod 8. The trunk's last conv reads it as
# one-hot rows and columns of the 16x16 half-resolution grid mod 4 (GRID_CHANNELS, MASK_ON where
# set); its DepthToSpace phase adds the rest, so the features can depend on row and column mod 8.
GRID_PERIOD = 4
GRID_CHANNELS = 2 * GRID_PERIOD


def grid_input() -> list[list[list[int]]]:
    """The constant `pos` input of the trunk (GRID_CHANNELS x 16 x 16)."""
    n = BLOCK // 2
    return [[[MASK_ON if (y if c < GRID_PERIOD else x) % GRID_PERIOD == c % GRID_PERIOD else 0
              for x in range(n)] for y in range(n)] for c in range(GRID_CHANNELS)]


def ar_trunk_net(cfg: Config) -> Graph:
    """Once per block: context (as trunk_net) and z_1 -> `tfeat` features per pixel (32x32),
    which the per-pixel network reads beside the pixel's causal neighbourhood."""
    ops = [Conv("z0", (("z", 3, "same"),), cfg.width, "relu"),
           Conv("z1", (("z0", 1, "same"),), 4 * cfg.zfeat, "linear"),
           DepthToSpace("z2", "z1"),
           Pad("z3", "z2", (4, 0, 4, 0)),
           Conv("t0", (("ctx", 3, "same"), ("ctxmask", 3, "same"), ("z3", 3, "same")),
                cfg.trunk, "relu")]
    more, x = _resblocks("t", "t0", cfg.trunk, cfg.blocks)
    ops += more
    pos = (("pos", 1, "same"),) if cfg.grid_pos else ()
    ops += [Crop("tb", x, (4, 20), (4, 20)),
            Conv("tf", (("tb", 1, "same"),) + pos, 4 * cfg.tfeat, "linear"),
            DepthToSpace("out", "tf")]
    inputs = (("ctx", PIXEL, (12, 20, 20)), ("ctxmask", ACT, (1, 20, 20)),
              ("z", LATENT, (cfg.zc, cfg.zs, cfg.zs)))
    if cfg.grid_pos:
        inputs += (("pos", ACT, (GRID_CHANNELS, BLOCK // 2, BLOCK // 2)),)
    return Graph("trunk", inputs, tuple(ops), "out")


def ar_net(cfg: Config) -> Graph:
    """p(x_ij | causal neighbourhood, trunk features): one pixel at a time in raster order when
    decoding (all pixels at once when encoding; 1x1 convolutions only, so both agree exactly).
    `nbr` holds 2*n - 2*base per neighbour n and colour (diff kind; 0 where unknown), base the
    mean of the left and upper pixel (whichever known; 128 if neither). Outputs the pixel's 9
    parameters: 3 means relative to base, 3 scale indices, 3 colour coefficients."""
    n_in = 3 * len(ar_offsets(cfg.ar_radius))
    h = cfg.ar_hidden
    ops = [Conv("a0", (("nbr", 1, "same"), ("flags", 1, "same"), ("tfeat", 1, "same")), h, "relu")]
    x = "a0"
    for i in range(cfg.ar_blocks):
        ops += [Conv(f"a{i}h", ((x, 1, "same"),), h, "relu"),
                Conv(f"a{i}d", ((f"a{i}h", 1, "same"),), h, "linear"),
                Add(f"a{i}r", x, f"a{i}d")]
        x = f"a{i}r"
    # the linear skip from the neighbourhood is the prediction's backbone (a local linear
    # predictor); its weights need finer steps than int8, as the planes head's skip
    ops.append(Conv("out", ((x, 1, "same"), ("nbr", 1, "same")), PIXEL_PARAMS, "raw",
                    fine=("nbr",)))
    return Graph("ar", (("nbr", DIFF, (n_in, BLOCK, BLOCK)), ("flags", ACT, (AR_FLAGS, BLOCK, BLOCK)),
                        ("tfeat", ACT, (cfg.tfeat, BLOCK, BLOCK))), tuple(ops), "out")


def graphs(cfg: Config) -> dict[str, Graph]:
    if cfg.decoder == "ar":
        g = {"q1": q1_net(cfg), "trunk": ar_trunk_net(cfg), "ar": ar_net(cfg)}
    elif cfg.decoder == "planes":
        g = {"q1": q1_net(cfg), "trunk": trunk_net(cfg), "head": head_net(cfg)}
    else:
        raise ValueError(f"unknown image decoder {cfg.decoder!r}")
    for i in range(1, cfg.levels):
        g[f"q{i + 1}"] = latent_net(f"q{i + 1}", cfg)   # q(z_{i+1} | z_i)
        g[f"p{i}"] = latent_net(f"p{i}", cfg)           # p(z_i | z_{i+1})
    return g


def tensor_kinds(g: Graph) -> dict[str, str]:
    """Kind (pixel / act / latent) of every tensor of a graph."""
    kinds = {name: kind for name, kind, _ in g.inputs}
    for op in g.ops:
        if isinstance(op, (Conv, Add)):
            kinds[op.out] = ACT
        else:
            kinds[op.out] = kinds[op.inp]
    return kinds


def group_kinds(g: Graph, op: Conv) -> list[str]:
    """Kind of each input group of a conv. Groups of different kinds get separate weight
    scales and accumulators (an int8 grid shared by pixel inputs and features would be too
    coarse for the pixel weights, which carry the sub-level precision of a prediction)."""
    kinds = tensor_kinds(g)
    return [kinds[name] for name, _, _ in op.inputs]


WEIGHT_MAX = 127          # int8 weights
FINE_WEIGHT_MAX = 32767   # 16-bit weights of `fine` groups


def group_classes(g: Graph, op: Conv) -> list[str]:
    """Weight-grid class of each input group: its kind, with a "16" suffix for fine groups.
    Each class has its own per-output-channel weight scale and accumulator."""
    return [k + ("16" if name in op.fine else "")
            for k, (name, _, _) in zip(group_kinds(g, op), op.inputs)]


def class_weight_max(cls: str) -> int:
    return FINE_WEIGHT_MAX if cls.endswith("16") else WEIGHT_MAX


def shape_of(graph: Graph) -> dict[str, tuple[int, int, int]]:
    """Shapes (c, h, w) of every tensor of a graph."""
    shapes = {name: shp for name, _, shp in graph.inputs}
    for op in graph.ops:
        if isinstance(op, Conv):
            hs = []
            for name, k, pad in op.inputs:
                c, h, w = shapes[name]
                hs.append((h, w) if pad == "same" else (h - k + 1, w - k + 1))
            assert len(set(hs)) == 1, f"{graph.name}.{op.out}: input groups disagree {hs}"
            shapes[op.out] = (op.cout, *hs[0])
        elif isinstance(op, Add):
            assert shapes[op.a] == shapes[op.b]
            shapes[op.out] = shapes[op.a]
        elif isinstance(op, SpaceToDepth):
            c, h, w = shapes[op.inp]
            shapes[op.out] = (4 * c, h // 2, w // 2)
        elif isinstance(op, DepthToSpace):
            c, h, w = shapes[op.inp]
            shapes[op.out] = (c // 4, 2 * h, 2 * w)
        elif isinstance(op, Pad):
            c, h, w = shapes[op.inp]
            t, b, l, r = op.tblr
            shapes[op.out] = (c, h + t + b, w + l + r)
        elif isinstance(op, Crop):
            c = shapes[op.inp][0]
            shapes[op.out] = (c, op.rows[1] - op.rows[0], op.cols[1] - op.cols[0])
    return shapes


def macs(graph: Graph) -> int:
    """Multiply-adds of one evaluation of the graph (one block, or one pass for the head)."""
    shapes = shape_of(graph)
    total = 0
    for op in graph.convs():
        _, h, w = shapes[op.out]
        k_total = sum(shapes[name][0] * k * k for name, k, _ in op.inputs)
        total += h * w * k_total * op.cout
    return total


def macs_per_block(cfg: Config) -> dict[str, int]:
    """Inference + generative pass over all networks for one block (the head runs 4 times)."""
    out = {}
    for name, g in graphs(cfg).items():
        out[name] = macs(g) * (4 if name == "head" else 1)
    out["total"] = sum(out.values())
    return out
