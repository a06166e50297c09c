/* The image model's raster-order pixel decoder in C: the per-pixel integer network (arch.ar_net,
 * 1x1 convolutions only) evaluated one pixel at a time for a batch of blocks, each pixel popped
 * from a rANS message as soon as its parameters are known.
 *
 * Integer semantics are those of runtime.GraphRunner (and reference.py), bit for bit:
 *   conv:  acc_c[o] = sum over the inputs k of class c of w[o][k] * x[k]      (exact integers)
 *          out[o]   = (sum_c acc_c[o] * m_c[o] + bias[o]) >> shift          (int64, floor)
 *          relu -> clamp [0, 127], linear -> clamp [-127, 127], raw -> unclamped int64
 *   add:   clamp(a + b, -127, 127)
 * Every activation and input fits int16 (|value| <= 1023), weights are int8 or int16. A class
 * accumulates in int32 when its partial sums provably stay below 2^31 (the caller checks
 * sum |w| * max|x| per output), otherwise in int64; integer sums are exact in any order, so
 * the vectorised and the plain paths agree with each other and with numpy.
 *
 * The caller (_ar.pyx) lays out every tensor of one pixel as a slot range in an int16 vector,
 * packs the weights, validates the inputs, and holds all arrays for the duration of a call. */
#ifndef BBX_AR_CORE_H
#define BBX_AR_CORE_H

#include <stdint.h>

#include "rans_core.h"

#define AR_MAX_SEGS 4          /* input tensors of one weight class */
#define AR_MAX_CLASSES 4       /* weight classes of one conv */
#define AR_MAX_COUT 1024
#define AR_PARAMS 9            /* raw outputs per pixel: 3 means, 3 scale indices, 3 coefs */

enum { AR_CONV = 0, AR_ADD = 1 };
enum { AR_RELU = 0, AR_LINEAR = 1, AR_RAW = 2 };

typedef struct {
    int32_t nseg;
    int32_t seg_off[AR_MAX_SEGS];   /* slot offset of each input tensor of the class */
    int32_t seg_len[AR_MAX_SEGS];   /* its channels */
    int32_t kp;                     /* total inputs, rounded up to even (zero weights) */
    int32_t wide;                   /* partial sums may reach 2^31: accumulate in int64 */
    int32_t m32;                    /* every |m| < 2^31 */
    const int16_t *w;               /* [kp / 2][coutp][2]: input pairs interleaved (AVX2) */
    const int16_t *wt;              /* [kp][coutp]: the same weights row by row (plain C) */
    const int64_t *m;               /* [coutp] multipliers (0 past cout) */
} ar_class;

typedef struct {
    int32_t type, act;
    int32_t out;                    /* slot offset of the output (not used for raw) */
    int32_t cout, coutp;            /* output channels; rounded up to a multiple of 16 */
    int32_t a, b;                   /* add: slot offsets of the operands */
    int32_t ncls;
    ar_class cls[AR_MAX_CLASSES];
    const int64_t *bias;            /* [coutp] (0 past cout) */
} ar_op;

typedef struct {
    int32_t nops;
    const ar_op *ops;               /* the last op is the raw conv with AR_PARAMS outputs */
    int32_t noff;                   /* causal neighbourhood, in input-channel order */
    const int32_t *off;             /* [noff][2]: (dy, dx) */
    int32_t radius;                 /* flag 3 reads the pixel at (-1, +radius) */
    int32_t nbr, flags, tfeat;      /* slot offsets of the three network inputs */
    int32_t ntfeat;
    int32_t slots;                  /* int16 values per pixel */
    int32_t kmax, cmax;             /* largest padded class width / padded cout */
    int32_t shift;
    int32_t mask_on;                /* value of a flag that is set (arch.MASK_ON) */
    int32_t scale_max, coef_max;    /* scale index clamp [0, scale_max], coefs [-c, c] */
    int64_t loc_limit;              /* locations clamp [-loc_limit, loc_limit] */
    /* scale adaptation (arch.py, ADAPT_*; adapt.py is its numpy specification): 0 = off */
    int32_t adapt;
    int32_t adapt_shift;            /* bucket = j >> adapt_shift */
    int32_t adapt_buckets;          /* (scale_max + 1) >> adapt_shift */
    int64_t adapt_prior, adapt_clip;
    int32_t adapt_dmax;             /* the 2 * adapt_dmax thresholds are adapt_steps */
    const int64_t *adapt_mad;       /* [scale_max + 1] expected |error| of scale index j */
    const int64_t *adapt_steps;     /* [2 * adapt_dmax] */
    /* cross-colour shift after it (scale_adapt 2, arch.py XADAPT_*): 0 = off */
    int32_t xadapt;
    int32_t xbins, xjshift, xjbuckets;
    int32_t nxsteps;                /* xbins - 2 */
    const int64_t *xsteps;          /* [nxsteps] */
    const int64_t *xtable;          /* [3][xbins][xjbuckets] */
    /* colour regression of G's and B's locations (colour_adapt 1, arch.py CREG_*): 0 = off */
    int32_t creg;
    int64_t creg_clip, creg_prior;
    /* spatial regression of every colour's location after it (spatial_adapt 1, arch.py
     * SREG_*): 0 = off */
    int32_t sreg;
    int64_t sreg_clip, sreg_prior;
    /* pixels coded with the tailed logistic (Config.tail, arch.py TAIL_*): an adapted scale
     * index j with bit j >> 3 of tail_mask set is coded as j + RANS_TAIL_FLAG (0 = off) */
    int32_t tail_mask;
} ar_net;

/* Crop geometry (arch.py): block at [CTX, CTX + BLOCK) in both axes of a CROP_H x CROP_W crop. */
#define AR_CTX 8
#define AR_BLOCK 32
#define AR_CROP_H 40
#define AR_CROP_W 48

/* Decode the pixels of `nblocks` blocks in place, in the numpy decoder's pop order: pixels in
 * raster order, R, G, B within a pixel, blocks within a colour (one rans_logistic_pop of
 * nblocks symbols per colour, 256 bins, `precision`). With net->adapt, each pop's scale index
 * is corrected from the block's earlier pixels (adapt.py's ScaleState), with net->xadapt also
 * from the pixel's earlier colours; with net->creg the locations of G and B move first by the
 * block's colour regression (colour_regress.py's RegressState), with net->sreg every colour's
 * location then by the block's spatial regression (spatial_regress.py's SpatialState).
 *   pix    [nblocks][CROP_H][CROP_W][3] int16: context pixels (0 where unknown); the block's
 *          pixels are written here
 *   known  [nblocks][CROP_H][CROP_W] uint8 in {0, 1} (1 over the whole block)
 *   tfeat  [nblocks][BLOCK][BLOCK][ntfeat] int16 trunk features
 * threads: 1 or 2 (the network over the blocks is split between the caller and one worker; the
 * pops stay on the caller). simd: the path (ar_have_simd() or lower).
 *   extent [nblocks][2] int32 (h, w) or NULL: only pixels yy < h, xx < w of a block are popped;
 *          the others (an image's edge padding) copy pixel (min(yy, h-1), min(xx, w-1)),
 *          decoded before them, and cost no bits
 *   channels 1..3: colours popped per pixel; the others copy colour 0 (grey images)
 *   lattice [65536][32] uint8 or NULL: with 3 channels, B is popped with the masked logistic
 *          (rans_masked_pop), mask R * 256 + G of the pixel (lattice.py: the B values a JPEG
 *          decoder's YCbCr -> RGB can give with that R and G)
 * Returns 0, or -1 if out of memory
 * (message unchanged then). Call without the GIL. */
int ar_decode(const ar_net *net, rans_msg *m, int64_t nblocks, int16_t *pix,
              const uint8_t *known, const int16_t *tfeat, unsigned precision, int threads,
              int simd, const int32_t *extent, int channels, const uint8_t *lattice);

/* The network's raw outputs and base2 for every pixel of fully known blocks (what the encoder
 * needs): y [nblocks][BLOCK][BLOCK][AR_PARAMS] int64, base2 [nblocks][BLOCK][BLOCK][3] int64.
 * Same integers as ar_decode computes pixel by pixel. Returns 0, or -1 if out of memory. */
int ar_raw_all(const ar_net *net, int64_t nblocks, const int16_t *pix, const uint8_t *known,
               const int16_t *tfeat, int64_t *y, int64_t *base2, int threads, int simd);

/* Everything the encoder pushes for the pixels of fully known blocks, in the decoder's pop
 * order (pixels in raster order, colours < channels, blocks; only pixels inside extent
 * [nblocks][2] (h, w), or all if NULL): symbols, locations and (adapted) scale indices, the
 * integers ar_decode computes as it pops. Returns the count written (at most nblocks * 3 *
 * BLOCK * BLOCK), or -1 if out of memory. */
int64_t ar_push_params(const ar_net *n, int64_t nblocks, const int16_t *pix, const uint8_t *known,
                       const int16_t *tfeat, const int32_t *extent, int channels, int threads,
                       int simd, int64_t *sym, int32_t *loc, int32_t *scale);

/* Scale adaptation over whole known blocks (the encoder's view, adapt.adapt_scales): x, loc,
 * j [nblocks][3][BLOCK * BLOCK] int64 in raster order, coded the same shape in {0, 1} (NULL:
 * all); writes the indices to code with into out (the network's j where not coded). */
void ar_adapt_all(const ar_net *net, int64_t nblocks, const int64_t *x, const int64_t *loc,
                  const int64_t *j, const uint8_t *coded, int64_t *out);

/* Colour regression over whole known blocks (the encoder's view, colour_regress.regress_locs):
 * x, loc, j [nblocks][3][BLOCK * BLOCK] int64 in raster order (loc: the chained locations),
 * coded the same shape in {0, 1} (NULL: all; a pixel counts if its three colours are coded);
 * writes the locations to code with into out. */
void ar_regress_all(const ar_net *net, int64_t nblocks, const int64_t *x, const int64_t *loc,
                    const int64_t *j, const uint8_t *coded, int64_t *out);

/* Spatial regression over whole known blocks (the encoder's view, spatial_regress.spatial_locs):
 * x, loc, j [nblocks][3][BLOCK * BLOCK] int64 in raster order (loc: the locations after the
 * colour regression), coded the same shape in {0, 1} (NULL: all); writes the locations to code
 * with into out (loc where not coded). */
void ar_spatial_all(const ar_net *net, int64_t nblocks, const int64_t *x, const int64_t *loc,
                    const int64_t *j, const uint8_t *coded, int64_t *out);

/* The best vectorised path this CPU runs: 2 AVX-512 VNNI, 1 AVX2, 0 none (plain C). A call's
 * `simd` argument picks a path at most this (0 plain C); all give the same integers. */
int ar_have_simd(void);

#endif
