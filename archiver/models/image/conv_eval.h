/* The conv of conv_core.c, included three times by it: plain (CG_SIMD 0), under
 * `#pragma GCC target("avx2")` (CG_SIMD 1) and under AVX-512 VNNI (CG_SIMD 2), CG_FN(name) naming
 * each copy. All compute the same integers (conv_core.h); the best copy the CPU runs is picked
 * at run time. Not a public header. */

/* acc{0,1}[o] += sum over input pairs k of w[k][o] . (x{0,1}[2k], x{0,1}[2k+1]), o < coutp, for
 * one output pixel (x0) or two (x0, x1: neighbours sharing every weight load). Weights are
 * packed [npairs][coutp][2] so one broadcast input pair meets eight outputs' weight pairs in
 * one multiply-add of int16 pairs into int32 (vpmaddwd); |x| <= 1023 and |w| <= 127, so a pair
 * never saturates. */
#if CG_SIMD == 2
/* AVX-512 VNNI: one vpdpwssd per 16 outputs does the pair multiply-add and the accumulation;
 * its latency is covered by separate accumulators for even and odd pairs (summed at the end,
 * integer sums: any order is exact). */
#define CG_PAIR(x, k) _mm512_set1_epi32(pair_at((x) + 2 * (k)))
#define CG_DP(a, x, w) a = _mm512_dpwssd_epi32(a, x, w)
static inline __attribute__((always_inline)) void
CG_FN(gemv)(const int16_t *x0, const int16_t *x1, const int two, int32_t npairs,
            const int16_t *w, int32_t coutp, int32_t *acc0, int32_t *acc1)
{
    int32_t o = 0;
    const __m512i z = _mm512_setzero_si512();
    for (; o + 32 <= coutp; o += 32) {
        __m512i a0 = z, a1 = z, e0 = z, e1 = z, b0 = z, b1 = z, f0 = z, f1 = z;
        int32_t k = 0;
        for (; k + 2 <= npairs; k += 2) {
            const __m512i *r = (const __m512i *)(w + ((size_t)k * coutp + o) * 2);
            const __m512i *s = (const __m512i *)(w + ((size_t)(k + 1) * coutp + o) * 2);
            const __m512i w0 = _mm512_loadu_si512(r), w1 = _mm512_loadu_si512(r + 1);
            const __m512i v0 = _mm512_loadu_si512(s), v1 = _mm512_loadu_si512(s + 1);
            const __m512i xa = CG_PAIR(x0, k), ya = CG_PAIR(x0, k + 1);
            CG_DP(a0, xa, w0); CG_DP(a1, xa, w1); CG_DP(e0, ya, v0); CG_DP(e1, ya, v1);
            if (two) {
                const __m512i xb = CG_PAIR(x1, k), yb = CG_PAIR(x1, k + 1);
                CG_DP(b0, xb, w0); CG_DP(b1, xb, w1); CG_DP(f0, yb, v0); CG_DP(f1, yb, v1);
            }
        }
        if (k < npairs) {
            const __m512i *r = (const __m512i *)(w + ((size_t)k * coutp + o) * 2);
            const __m512i w0 = _mm512_loadu_si512(r), w1 = _mm512_loadu_si512(r + 1);
            const __m512i xa = CG_PAIR(x0, k);
            CG_DP(a0, xa, w0); CG_DP(a1, xa, w1);
            if (two) {
                const __m512i xb = CG_PAIR(x1, k);
                CG_DP(b0, xb, w0); CG_DP(b1, xb, w1);
            }
        }
        __m512i *p = (__m512i *)(acc0 + o);
        _mm512_storeu_si512(p, _mm512_add_epi32(_mm512_loadu_si512(p), _mm512_add_epi32(a0, e0)));
        _mm512_storeu_si512(p + 1, _mm512_add_epi32(_mm512_loadu_si512(p + 1),
                                                    _mm512_add_epi32(a1, e1)));
        if (two) {
            p = (__m512i *)(acc1 + o);
            _mm512_storeu_si512(p, _mm512_add_epi32(_mm512_loadu_si512(p),
                                                    _mm512_add_epi32(b0, f0)));
            _mm512_storeu_si512(p + 1, _mm512_add_epi32(_mm512_loadu_si512(p + 1),
                                                        _mm512_add_epi32(b1, f1)));
        }
    }
    for (; o < coutp; o += 16) {
        __m512i a0 = z, e0 = z, b0 = z, f0 = z;
        int32_t k = 0;
        for (; k + 2 <= npairs; k += 2) {
            const __m512i w0 = _mm512_loadu_si512(w + ((size_t)k * coutp + o) * 2);
            const __m512i v0 = _mm512_loadu_si512(w + ((size_t)(k + 1) * coutp + o) * 2);
            CG_DP(a0, CG_PAIR(x0, k), w0); CG_DP(e0, CG_PAIR(x0, k + 1), v0);
            if (two) { CG_DP(b0, CG_PAIR(x1, k), w0); CG_DP(f0, CG_PAIR(x1, k + 1), v0); }
        }
        if (k < npairs) {
            const __m512i w0 = _mm512_loadu_si512(w + ((size_t)k * coutp + o) * 2);
            CG_DP(a0, CG_PAIR(x0, k), w0);
            if (two) CG_DP(b0, CG_PAIR(x1, k), w0);
        }
        __m512i *p = (__m512i *)(acc0 + o);
        _mm512_storeu_si512(p, _mm512_add_epi32(_mm512_loadu_si512(p), _mm512_add_epi32(a0, e0)));
        if (two) {
            p = (__m512i *)(acc1 + o);
            _mm512_storeu_si512(p, _mm512_add_epi32(_mm512_loadu_si512(p),
                                                    _mm512_add_epi32(b0, f0)));
        }
    }
}
#undef CG_PAIR
#undef CG_DP
#elif CG_SIMD
#define CG_PAIR(x, k) _mm256_set1_epi32(pair_at((x) + 2 * (k)))
static inline __attribute__((always_inline)) void
CG_FN(gemv)(const int16_t *x0, const int16_t *x1, const int two, int32_t npairs,
            const int16_t *w, int32_t coutp, int32_t *acc0, int32_t *acc1)
{
    int32_t o = 0;
    for (; o + 32 <= coutp; o += 32) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(acc0 + o));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(acc0 + o + 8));
        __m256i a2 = _mm256_loadu_si256((const __m256i *)(acc0 + o + 16));
        __m256i a3 = _mm256_loadu_si256((const __m256i *)(acc0 + o + 24));
        __m256i b0 = a0, b1 = a1, b2 = a2, b3 = a3;
        if (two) {
            b0 = _mm256_loadu_si256((const __m256i *)(acc1 + o));
            b1 = _mm256_loadu_si256((const __m256i *)(acc1 + o + 8));
            b2 = _mm256_loadu_si256((const __m256i *)(acc1 + o + 16));
            b3 = _mm256_loadu_si256((const __m256i *)(acc1 + o + 24));
        }
        for (int32_t k = 0; k < npairs; k++) {
            const __m256i *r = (const __m256i *)(w + ((size_t)k * coutp + o) * 2);
            const __m256i w0 = _mm256_loadu_si256(r), w1 = _mm256_loadu_si256(r + 1);
            const __m256i w2 = _mm256_loadu_si256(r + 2), w3 = _mm256_loadu_si256(r + 3);
            const __m256i xa = CG_PAIR(x0, k);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xa, w0));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xa, w1));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xa, w2));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xa, w3));
            if (two) {
                const __m256i xb = CG_PAIR(x1, k);
                b0 = _mm256_add_epi32(b0, _mm256_madd_epi16(xb, w0));
                b1 = _mm256_add_epi32(b1, _mm256_madd_epi16(xb, w1));
                b2 = _mm256_add_epi32(b2, _mm256_madd_epi16(xb, w2));
                b3 = _mm256_add_epi32(b3, _mm256_madd_epi16(xb, w3));
            }
        }
        _mm256_storeu_si256((__m256i *)(acc0 + o), a0);
        _mm256_storeu_si256((__m256i *)(acc0 + o + 8), a1);
        _mm256_storeu_si256((__m256i *)(acc0 + o + 16), a2);
        _mm256_storeu_si256((__m256i *)(acc0 + o + 24), a3);
        if (two) {
            _mm256_storeu_si256((__m256i *)(acc1 + o), b0);
            _mm256_storeu_si256((__m256i *)(acc1 + o + 8), b1);
            _mm256_storeu_si256((__m256i *)(acc1 + o + 16), b2);
            _mm256_storeu_si256((__m256i *)(acc1 + o + 24), b3);
        }
    }
    for (; o < coutp; o += 16) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(acc0 + o));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(acc0 + o + 8));
        __m256i b0 = a0, b1 = a1;
        if (two) {
            b0 = _mm256_loadu_si256((const __m256i *)(acc1 + o));
            b1 = _mm256_loadu_si256((const __m256i *)(acc1 + o + 8));
        }
        for (int32_t k = 0; k < npairs; k++) {
            const __m256i *r = (const __m256i *)(w + ((size_t)k * coutp + o) * 2);
            const __m256i w0 = _mm256_loadu_si256(r), w1 = _mm256_loadu_si256(r + 1);
            const __m256i xa = CG_PAIR(x0, k);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xa, w0));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xa, w1));
            if (two) {
                const __m256i xb = CG_PAIR(x1, k);
                b0 = _mm256_add_epi32(b0, _mm256_madd_epi16(xb, w0));
                b1 = _mm256_add_epi32(b1, _mm256_madd_epi16(xb, w1));
            }
        }
        _mm256_storeu_si256((__m256i *)(acc0 + o), a0);
        _mm256_storeu_si256((__m256i *)(acc0 + o + 8), a1);
        if (two) {
            _mm256_storeu_si256((__m256i *)(acc1 + o), b0);
            _mm256_storeu_si256((__m256i *)(acc1 + o + 8), b1);
        }
    }
}
#undef CG_PAIR
#else
static inline void CG_FN(gemv)(const int16_t *x0, const int16_t *x1, const int two,
                               int32_t npairs, const int16_t *w, int32_t coutp, int32_t *acc0,
                               int32_t *acc1)
{
    for (int32_t k = 0; k < npairs; k++) {
        const int16_t *r = w + (size_t)k * coutp * 2;
        const int32_t p0 = x0[2 * k], p1 = x0[2 * k + 1];
        for (int32_t o = 0; o < coutp; o++) acc0[o] += p0 * r[2 * o] + p1 * r[2 * o + 1];
        if (two) {
            const int32_t q0 = x1[2 * k], q1 = x1[2 * k + 1];
            for (int32_t o = 0; o < coutp; o++) acc1[o] += q0 * r[2 * o] + q1 * r[2 * o + 1];
        }
    }
}
#endif

/* tot[o] += acc[o] * m[o], o < coutp (int64; m32: every |m| < 2^31). */
static inline void CG_FN(scale_add)(int64_t *tot, const int32_t *acc, const int64_t *m,
                                    int m32, int32_t coutp)
{
#if CG_SIMD == 2
    if (m32) {                  /* eight lanes of signed 32 x 32 -> 64 multiplies per step */
        for (int32_t o = 0; o < coutp; o += 8) {
            const __m512i a = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)(acc + o)));
            _mm512_storeu_si512(tot + o, _mm512_add_epi64(_mm512_loadu_si512(tot + o),
                                                          _mm512_mul_epi32(a, _mm512_loadu_si512(m + o))));
        }
        return;
    }
#elif CG_SIMD
    if (m32) {                  /* one signed 32 x 32 -> 64 multiply per lane */
        for (int32_t o = 0; o < coutp; o += 4) {
            const __m256i a = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(acc + o)));
            const __m256i mv = _mm256_loadu_si256((const __m256i *)(m + o));
            __m256i *t = (__m256i *)(tot + o);
            _mm256_storeu_si256(t, _mm256_add_epi64(_mm256_loadu_si256(t),
                                                    _mm256_mul_epi32(a, mv)));
        }
        return;
    }
#endif
    (void)m32;
    for (int32_t o = 0; o < coutp; o++) tot[o] += (int64_t)acc[o] * m[o];
}

#if CG_SIMD == 2
#define CG_P 4              /* output pixels of a row computed together */

/* acc[q][o] = the class-c sums of output pixels (oy, ox + q), q < CG_P, outputs
 * [o0, o0 + 16 NC): all accumulators in registers over every group, kernel row and input pair
 * of the class; each weight load serves the CG_P pixels. Pixels past the window (q >= M) read
 * pixel ox's inputs again and are not stored. */
static inline __attribute__((always_inline)) void
CG_FN(class_nc)(const cg_net *n, const cg_op *op, int32_t c, int64_t b, int32_t oy, int32_t ox,
                int M, int16_t *const *bufs, const int64_t *bstride, int32_t o0, const int NC,
                int32_t (*acc)[CG_MAX_COUT])
{
    const int32_t r = n->border, coutp = op->coutp;
    __m512i a[CG_P][4];
    for (int q = 0; q < CG_P; q++)
        for (int j = 0; j < NC; j++) a[q][j] = _mm512_setzero_si512();
    for (int32_t gi = 0; gi < op->ngroups; gi++) {
        const cg_group *g = &op->g[gi];
        if (g->cls != c) continue;
        const cg_tensor *ti = &n->t[g->tensor];
        const int32_t cs = ti->cs, row = (ti->w + 2 * r) * cs, npairs = g->k * cs / 2;
        const int16_t *x = bufs[g->tensor] + b * bstride[g->tensor]
            + (size_t)(oy + g->off + r) * row + (size_t)(ox + g->off + r) * cs;
        const int16_t *xq[CG_P];
        for (int q = 0; q < CG_P; q++) xq[q] = x + (q < M ? q : 0) * cs;
        for (int32_t ky = 0; ky < g->k; ky++) {
            const int16_t *wk = g->w + ((size_t)ky * npairs * coutp + o0) * 2;
            for (int32_t k = 0; k < npairs; k++) {
                const int16_t *wr = wk + (size_t)k * coutp * 2;
                __m512i wv[4];
                for (int j = 0; j < NC; j++) wv[j] = _mm512_loadu_si512(wr + 32 * j);
                for (int q = 0; q < CG_P; q++) {
                    const __m512i xv = _mm512_set1_epi32(pair_at(xq[q] + (size_t)ky * row + 2 * k));
                    for (int j = 0; j < NC; j++) a[q][j] = _mm512_dpwssd_epi32(a[q][j], xv, wv[j]);
                }
            }
        }
    }
    for (int q = 0; q < M; q++)
        for (int j = 0; j < NC; j++) _mm512_storeu_si512(acc[q] + o0 + 16 * j, a[q][j]);
}

/* One conv op on block b, CG_P output pixels of a row at a time. */
static void CG_FN(conv)(const cg_net *n, const cg_op *op, int64_t b, int16_t *const *bufs,
                        const int64_t *bstride, int64_t *raw)
{
    const cg_tensor *to = &n->t[op->out];
    const int32_t r = n->border, H = to->h, W = to->w, coutp = op->coutp, cout = op->cout;
    int64_t tot[CG_P][CG_MAX_COUT];
    int32_t acc[CG_P][CG_MAX_COUT];
    const int64_t lo = op->act == CG_RELU ? 0 : -127;
    const __m128i sh = _mm_cvtsi32_si128(n->shift);
    const __m512i vlo = _mm512_set1_epi64(lo), vhi = _mm512_set1_epi64(127);
    for (int32_t oy = op->win[0]; oy < op->win[1]; oy++) {
        for (int32_t ox = op->win[2]; ox < op->win[3]; ox += CG_P) {
            const int M = op->win[3] - ox < CG_P ? op->win[3] - ox : CG_P;
            for (int q = 0; q < M; q++) memcpy(tot[q], op->bias, sizeof(int64_t) * (size_t)coutp);
            for (int32_t c = 0; c < op->ncls; c++) {
                int32_t o = 0;
                for (; o + 64 <= coutp; o += 64)
                    CG_FN(class_nc)(n, op, c, b, oy, ox, M, bufs, bstride, o, 4, acc);
                switch ((coutp - o) / 16) {
                case 3: CG_FN(class_nc)(n, op, c, b, oy, ox, M, bufs, bstride, o, 3, acc); break;
                case 2: CG_FN(class_nc)(n, op, c, b, oy, ox, M, bufs, bstride, o, 2, acc); break;
                case 1: CG_FN(class_nc)(n, op, c, b, oy, ox, M, bufs, bstride, o, 1, acc); break;
                }
                for (int q = 0; q < M; q++)
                    CG_FN(scale_add)(tot[q], acc[q], op->m[c], op->m32[c], coutp);
            }
            for (int q = 0; q < M; q++) {
                if (op->act == CG_RAW) {
                    int64_t *y = raw + (((size_t)b * H + oy) * W + ox + q) * cout;
                    for (int32_t o = 0; o < cout; o++) y[o] = tot[q][o] >> n->shift;
                    continue;
                }
                int16_t *y = bufs[op->out] + b * bstride[op->out]
                    + ((size_t)(oy + r) * (W + 2 * r) + ox + q + r) * to->cs;
                int32_t o = 0;
                for (; o + 8 <= cout; o += 8) {
                    __m512i v = _mm512_sra_epi64(_mm512_loadu_si512(tot[q] + o), sh);
                    v = _mm512_min_epi64(_mm512_max_epi64(v, vlo), vhi);
                    _mm_storeu_si128((__m128i *)(y + o), _mm512_cvtepi64_epi16(v));
                }
                for (; o < cout; o++) {
                    const int64_t v = tot[q][o] >> n->shift;
                    y[o] = (int16_t)(v < lo ? lo : (v > 127 ? 127 : v));
                }
            }
        }
    }
}
#else
/* One conv op on block b, output pixels in pairs along a row. */
static void CG_FN(conv)(const cg_net *n, const cg_op *op, int64_t b, int16_t *const *bufs,
                        const int64_t *bstride, int64_t *raw)
{
    const cg_tensor *to = &n->t[op->out];
    const int32_t r = n->border, H = to->h, W = to->w, coutp = op->coutp, cout = op->cout;
    int64_t tot[2][CG_MAX_COUT];
    int32_t acc[2][CG_MAX_COUT] __attribute__((aligned(32)));
    const int64_t lo = op->act == CG_RELU ? 0 : -127;
    {
        for (int32_t oy = op->win[0]; oy < op->win[1]; oy++) {
            for (int32_t ox = op->win[2]; ox < op->win[3]; ox += 2) {
                const int two = ox + 1 < op->win[3];
                for (int q = 0; q < 2; q++)
                    for (int32_t o = 0; o < coutp; o++) tot[q][o] = op->bias[o];
                for (int32_t c = 0; c < op->ncls; c++) {
                    memset(acc[0], 0, sizeof(int32_t) * (size_t)coutp);
                    memset(acc[1], 0, sizeof(int32_t) * (size_t)coutp);
                    for (int32_t gi = 0; gi < op->ngroups; gi++) {
                        const cg_group *g = &op->g[gi];
                        if (g->cls != c) continue;
                        const cg_tensor *ti = &n->t[g->tensor];
                        const int32_t cs = ti->cs, row = (ti->w + 2 * r) * cs;
                        const int32_t npairs = g->k * cs / 2;
                        const int16_t *x = bufs[g->tensor] + b * bstride[g->tensor]
                            + (size_t)(oy + g->off + r) * row + (size_t)(ox + g->off + r) * cs;
                        for (int32_t ky = 0; ky < g->k; ky++) {
                            const int16_t *wk = g->w + (size_t)ky * npairs * coutp * 2;
                            const int16_t *xr = x + (size_t)ky * row;
                            if (two)
                                CG_FN(gemv)(xr, xr + cs, 1, npairs, wk, coutp, acc[0], acc[1]);
                            else
                                CG_FN(gemv)(xr, xr, 0, npairs, wk, coutp, acc[0], acc[1]);
                        }
                    }
                    for (int q = 0; q <= two; q++)
                        CG_FN(scale_add)(tot[q], acc[q], op->m[c], op->m32[c], coutp);
                }
                /* >> of a negative int64 is an arithmetic (floor) shift with GCC and Clang */
                for (int q = 0; q <= two; q++) {
                    if (op->act == CG_RAW) {
                        int64_t *y = raw + (((size_t)b * H + oy) * W + ox + q) * cout;
                        for (int32_t o = 0; o < cout; o++) y[o] = tot[q][o] >> n->shift;
                        continue;
                    }
                    int16_t *y = bufs[op->out] + b * bstride[op->out]
                        + ((size_t)(oy + r) * (W + 2 * r) + ox + q + r) * to->cs;
                    int32_t o = 0;
#if CG_SIMD == 2
                    const __m128i sh = _mm_cvtsi32_si128(n->shift);
                    const __m512i vlo = _mm512_set1_epi64(lo), vhi = _mm512_set1_epi64(127);
                    for (; o + 8 <= cout; o += 8) {
                        __m512i v = _mm512_sra_epi64(_mm512_loadu_si512(tot[q] + o), sh);
                        v = _mm512_min_epi64(_mm512_max_epi64(v, vlo), vhi);
                        _mm_storeu_si128((__m128i *)(y + o), _mm512_cvtepi64_epi16(v));
                    }
#endif
                    for (; o < cout; o++) {
                        const int64_t v = tot[q][o] >> n->shift;
                        y[o] = (int16_t)(v < lo ? lo : (v > 127 ? 127 : v));
                    }
                }
            }
        }
    }
}
#endif
