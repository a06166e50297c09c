/* The image model's spatial networks (q1, trunk, the latent nets: arch.Graph of Conv, Add,
 * SpaceToDepth, DepthToSpace, Pad, Crop) run in C over a batch of blocks, one call per graph.
 *
 * Integer semantics are those of runtime.GraphRunner and reference.py, bit for bit:
 *   conv:  acc_c[o] = sum over the inputs k of class c of w[o][k] * x[k]      (exact integers)
 *          out[o]   = (sum_c acc_c[o] * m_c[o] + bias[o]) >> shift          (int64, floor)
 *          relu -> clamp [0, 127], linear -> clamp [-127, 127], raw -> unclamped int64
 *   add:   clamp(a + b, -127, 127)
 * Every tensor value fits int16 (|value| <= 1023), weights are int8 (int16 storage). Each class
 * accumulates in int32: the caller (_conv.pyx) proves sum |w| * max|x| < 2^31 per output (the
 * float32 path's own proof gives < 2^24), so every partial sum, in any order, is exact.
 *
 * Layout: tensor t of the batch is int16 [B][h + 2 r][w + 2 r][cs], a zero border of r pixels
 * (the widest "same" padding) around the h x w interior, cs = channels rounded up to even (the
 * pad channel is zero). A k x k conv then reads, per kernel row, k * cs contiguous values. */
#ifndef BBX_CONV_CORE_H
#define BBX_CONV_CORE_H

#include <stdint.h>

#define CG_MAX_GROUPS 4
#define CG_MAX_CLASSES 4
#define CG_MAX_COUT 256

enum { CG_CONV = 0, CG_ADD = 1, CG_S2D = 2, CG_D2S = 3, CG_PAD = 4, CG_CROP = 5 };
enum { CG_RELU = 0, CG_LINEAR = 1, CG_RAW = 2 };

typedef struct {
    int32_t h, w, c, cs;            /* interior size, channels, channel stride (even) */
} cg_tensor;

typedef struct {
    int32_t tensor;                 /* input tensor */
    int32_t k;                      /* kernel size */
    int32_t off;                    /* first tap's offset from the output pixel: -k/2 for
                                       "same", 0 for "valid" */
    int32_t cls;                    /* accumulator class */
    const int16_t *w;               /* [k][k * cs / 2][coutp][2]: input pairs interleaved */
} cg_group;

typedef struct {
    int32_t type, act, out;
    int32_t a, b;                   /* add: operands; others: a = input */
    int32_t p[4];                   /* pad: top, bottom, left, right; crop: y0, y1, x0, x1 */
    int32_t cout, coutp;            /* conv: output channels; rounded up to a multiple of 16 */
    int32_t win[4];                 /* conv: output rows [win0, win1) x cols [win2, win3) to
                                       compute, the part later ops read (the rest is never
                                       read: it stays as it was, zero or a stale value) */
    int32_t ngroups, ncls;
    cg_group g[CG_MAX_GROUPS];
    const int64_t *m[CG_MAX_CLASSES];   /* [coutp] multipliers per class */
    int32_t m32[CG_MAX_CLASSES];        /* every |m| < 2^31 */
    const int64_t *bias;                /* [coutp] */
} cg_op;

typedef struct {
    int32_t nops, ntensors, border, shift;
    const cg_op *ops;
    const cg_tensor *t;
} cg_net;

/* Size in int16 of one block's buffer of tensor t. */
int64_t cg_block_size(const cg_net *n, int32_t t);

/* Run the graph on `nblocks` blocks, one block at a time through every op. bufs[t]: the zeroed
 * buffer of tensor t (layout above), block b at bufs[t] + b * bstride[t]; bstride 0 makes it
 * one block's scratch, reused (every op rewrites the same interior positions on each block, so
 * what it leaves zero stays zero). The caller fills the input tensors. If the last op is a raw
 * conv its outputs go to raw [B][h][w][cout] int64 (its tensor buffer is not written).
 * simd: the path (cg_simd_level() or lower; all give the same integers). */
void cg_run(const cg_net *n, int64_t nblocks, int16_t *const *bufs, const int64_t *bstride,
            int64_t *raw, int simd);

/* The best path this CPU runs: 2 AVX-512 VNNI, 1 AVX2, 0 plain C. */
int cg_simd_level(void);

#endif
