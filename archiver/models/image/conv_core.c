/* The image model's spatial networks in C: see conv_core.h for the contract. */
#include "conv_core.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define CG_AVX2 1
#endif
#include "simd_level.h"

int cg_simd_level(void)
{
    return simd_level();
}

int64_t cg_block_size(const cg_net *n, int32_t t)
{
    const cg_tensor *x = &n->t[t];
    return (int64_t)(x->h + 2 * n->border) * (x->w + 2 * n->border) * x->cs;
}

static inline int32_t pair_at(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define CG_SIMD 0
#define CG_FN(name) name##_plain
#include "conv_eval.h"
#undef CG_SIMD
#undef CG_FN

#ifdef CG_AVX2
#pragma GCC push_options
#pragma GCC target("avx2")
#define CG_SIMD 1
#define CG_FN(name) name##_avx2
#include "conv_eval.h"
#undef CG_SIMD
#undef CG_FN
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512bw,avx512vnni")
#define CG_SIMD 2
#define CG_FN(name) name##_vnni
#include "conv_eval.h"
#undef CG_SIMD
#undef CG_FN
#pragma GCC pop_options
#endif

/* Pointer to interior pixel (y, x) of block b of tensor t. */
static inline int16_t *at_(const cg_net *n, int16_t *const *bufs, const int64_t *bstride,
                           int32_t t, int64_t b, int32_t y, int32_t x)
{
    const cg_tensor *d = &n->t[t];
    const int32_t r = n->border;
    return bufs[t] + b * bstride[t] + ((size_t)(y + r) * (d->w + 2 * r) + x + r) * d->cs;
}
#define at(n, bufs, t, b, y, x) at_(n, bufs, bstride, t, b, y, x)

/* The ops that only move or add values, on block b. */
static void move_op(const cg_net *n, const cg_op *op, int64_t b, int16_t *const *bufs,
                    const int64_t *bstride)
{
    const cg_tensor *to = &n->t[op->out], *ti = &n->t[op->a];
    {
        switch (op->type) {
        case CG_ADD:
            for (int32_t y = 0; y < to->h; y++) {
                const int16_t *pa = at(n, bufs, op->a, b, y, 0), *pb = at(n, bufs, op->b, b, y, 0);
                int16_t *po = at(n, bufs, op->out, b, y, 0);
                for (int32_t i = 0; i < to->w * to->cs; i++) {
                    const int32_t v = pa[i] + pb[i];
                    po[i] = (int16_t)(v < -127 ? -127 : (v > 127 ? 127 : v));
                }
            }
            break;
        case CG_S2D:            /* out channel (2 dy + dx) * C + c = in (2y + dy, 2x + dx, c) */
            for (int32_t y = 0; y < to->h; y++)
                for (int32_t x = 0; x < to->w; x++) {
                    int16_t *po = at(n, bufs, op->out, b, y, x);
                    for (int32_t p = 0; p < 4; p++)
                        memcpy(po + p * ti->c, at(n, bufs, op->a, b, 2 * y + p / 2, 2 * x + p % 2),
                               sizeof(int16_t) * (size_t)ti->c);
                }
            break;
        case CG_D2S:            /* out (2y + dy, 2x + dx, c) = in channel (2 dy + dx) * C + c */
            for (int32_t y = 0; y < ti->h; y++)
                for (int32_t x = 0; x < ti->w; x++) {
                    const int16_t *pi = at(n, bufs, op->a, b, y, x);
                    for (int32_t p = 0; p < 4; p++)
                        memcpy(at(n, bufs, op->out, b, 2 * y + p / 2, 2 * x + p % 2),
                               pi + p * to->c, sizeof(int16_t) * (size_t)to->c);
                }
            break;
        case CG_PAD:            /* the rest of the (zeroed) output stays zero */
            for (int32_t y = 0; y < ti->h; y++)
                memcpy(at(n, bufs, op->out, b, y + op->p[0], op->p[2]), at(n, bufs, op->a, b, y, 0),
                       sizeof(int16_t) * (size_t)ti->w * ti->cs);
            break;
        case CG_CROP:
            for (int32_t y = 0; y < to->h; y++)
                memcpy(at(n, bufs, op->out, b, y, 0), at(n, bufs, op->a, b, y + op->p[0], op->p[2]),
                       sizeof(int16_t) * (size_t)to->w * to->cs);
            break;
        }
    }
}

void cg_run(const cg_net *n, int64_t nblocks, int16_t *const *bufs, const int64_t *bstride,
            int64_t *raw, int simd)
{
    /* block by block through the whole graph: one block's tensors stay in cache */
    for (int64_t b = 0; b < nblocks; b++) {
        for (int32_t i = 0; i < n->nops; i++) {
            const cg_op *op = &n->ops[i];
            if (op->type != CG_CONV) {
                move_op(n, op, b, bufs, bstride);
                continue;
            }
#ifdef CG_AVX2
            if (simd >= 2) {
                conv_vnni(n, op, b, bufs, bstride, raw);
                continue;
            }
            if (simd == 1) {
                conv_avx2(n, op, b, bufs, bstride, raw);
                continue;
            }
#endif
            (void)simd;
            conv_plain(n, op, b, bufs, bstride, raw);
        }
    }
}
