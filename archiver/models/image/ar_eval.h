/* The per-pixel network of ar_core.c, included three times by it: plain (AR_SIMD 0), under
 * `#pragma GCC target("avx2")` (AR_SIMD 1) and under AVX-512 VNNI (AR_SIMD 2, only the gemv
 * differs from AVX2), with AR_FN(name) naming each copy. All compute the same integers
 * (ar_core.h); the best copy the CPU runs is picked at run time. Not a public header. */

/* ---- one weight class: acc[o] = sum_k w[o][k] x[k], o < coutp ------------------------------
 * Weights are packed [kp / 2][coutp][2] so that one broadcast pair of inputs meets eight
 * outputs' weight pairs in one multiply-add of int16 pairs into int32 (vpmaddwd). Inputs are at
 * most 1023 and weights at most 32767 in magnitude, so a pair never saturates. */
#if AR_SIMD == 2
/* AVX-512 VNNI: vpdpwssd multiplies the pairs and accumulates in one instruction; even and odd
 * pairs go to separate accumulators to cover its latency (integer sums: exact in any order). */
static void AR_FN(gemv)(const int16_t *x, int32_t kp, const int16_t *w, int32_t coutp,
                        int32_t *acc)
{
    const int32_t np = kp / 2;
    const __m512i z = _mm512_setzero_si512();
    int32_t o = 0;
    for (; o + 48 <= coutp; o += 48) {
        __m512i a0 = z, a1 = z, a2 = z, e0 = z, e1 = z, e2 = z;
        int32_t k = 0;
        for (; k + 2 <= np; k += 2) {
            int32_t p0, p1;
            memcpy(&p0, x + 2 * k, sizeof p0);
            memcpy(&p1, x + 2 * k + 2, sizeof p1);
            const __m512i xv = _mm512_set1_epi32(p0), yv = _mm512_set1_epi32(p1);
            const __m512i *r = (const __m512i *)(w + ((size_t)k * coutp + o) * 2);
            const __m512i *s = (const __m512i *)(w + ((size_t)(k + 1) * coutp + o) * 2);
            a0 = _mm512_dpwssd_epi32(a0, xv, _mm512_loadu_si512(r));
            a1 = _mm512_dpwssd_epi32(a1, xv, _mm512_loadu_si512(r + 1));
            a2 = _mm512_dpwssd_epi32(a2, xv, _mm512_loadu_si512(r + 2));
            e0 = _mm512_dpwssd_epi32(e0, yv, _mm512_loadu_si512(s));
            e1 = _mm512_dpwssd_epi32(e1, yv, _mm512_loadu_si512(s + 1));
            e2 = _mm512_dpwssd_epi32(e2, yv, _mm512_loadu_si512(s + 2));
        }
        if (k < np) {
            int32_t p0;
            memcpy(&p0, x + 2 * k, sizeof p0);
            const __m512i xv = _mm512_set1_epi32(p0);
            const __m512i *r = (const __m512i *)(w + ((size_t)k * coutp + o) * 2);
            a0 = _mm512_dpwssd_epi32(a0, xv, _mm512_loadu_si512(r));
            a1 = _mm512_dpwssd_epi32(a1, xv, _mm512_loadu_si512(r + 1));
            a2 = _mm512_dpwssd_epi32(a2, xv, _mm512_loadu_si512(r + 2));
        }
        _mm512_storeu_si512(acc + o, _mm512_add_epi32(a0, e0));
        _mm512_storeu_si512(acc + o + 16, _mm512_add_epi32(a1, e1));
        _mm512_storeu_si512(acc + o + 32, _mm512_add_epi32(a2, e2));
    }
    for (; o < coutp; o += 16) {
        __m512i a0 = z, e0 = z;
        int32_t k = 0;
        for (; k + 2 <= np; k += 2) {
            int32_t p0, p1;
            memcpy(&p0, x + 2 * k, sizeof p0);
            memcpy(&p1, x + 2 * k + 2, sizeof p1);
            a0 = _mm512_dpwssd_epi32(a0, _mm512_set1_epi32(p0),
                                     _mm512_loadu_si512(w + ((size_t)k * coutp + o) * 2));
            e0 = _mm512_dpwssd_epi32(e0, _mm512_set1_epi32(p1),
                                     _mm512_loadu_si512(w + ((size_t)(k + 1) * coutp + o) * 2));
        }
        if (k < np) {
            int32_t p0;
            memcpy(&p0, x + 2 * k, sizeof p0);
            a0 = _mm512_dpwssd_epi32(a0, _mm512_set1_epi32(p0),
                                     _mm512_loadu_si512(w + ((size_t)k * coutp + o) * 2));
        }
        _mm512_storeu_si512(acc + o, _mm512_add_epi32(a0, e0));
    }
}

/* acc[m][o] for AR_M pixels x[m] and outputs [o, o + 16 NC): each weight load meets every
 * pixel, all accumulators stay in registers. */
static inline __attribute__((always_inline)) void
AR_FN(gemv_m_nc)(const int16_t *const *x, int32_t np, const int16_t *w, int32_t coutp, int32_t o,
                 const int NC, int M, int32_t *acc, int32_t stride)
{
    __m512i a[AR_M][3];
    for (int m = 0; m < AR_M; m++)
        for (int j = 0; j < NC; j++) a[m][j] = _mm512_setzero_si512();
    for (int32_t k = 0; k < np; k++) {
        const int16_t *r = w + ((size_t)k * coutp + o) * 2;
        __m512i wv[3];
        for (int j = 0; j < NC; j++) wv[j] = _mm512_loadu_si512(r + 32 * j);
        for (int m = 0; m < AR_M; m++) {
            int32_t pair;
            memcpy(&pair, x[m] + 2 * k, sizeof pair);
            const __m512i xv = _mm512_set1_epi32(pair);
            for (int j = 0; j < NC; j++) a[m][j] = _mm512_dpwssd_epi32(a[m][j], xv, wv[j]);
        }
    }
    for (int m = 0; m < M; m++)
        for (int j = 0; j < NC; j++)
            _mm512_storeu_si512(acc + (size_t)m * stride + o + 16 * j, a[m][j]);
}

/* acc[m] = w x[m] for m < M <= AR_M (x[m] for m >= M: any valid input, not stored). */
static void AR_FN(gemv_m)(const int16_t *const *x, int M, int32_t kp, const int16_t *w,
                          int32_t coutp, int32_t *acc, int32_t stride)
{
    const int32_t np = kp / 2;
    int32_t o = 0;
    for (; o + 48 <= coutp; o += 48) AR_FN(gemv_m_nc)(x, np, w, coutp, o, 3, M, acc, stride);
    if (coutp - o == 32) AR_FN(gemv_m_nc)(x, np, w, coutp, o, 2, M, acc, stride);
    else if (coutp - o == 16) AR_FN(gemv_m_nc)(x, np, w, coutp, o, 1, M, acc, stride);
}

/* floor(x / 2^s) of int64 lanes (AVX2 has no 64-bit arithmetic shift): shift ~x for x < 0. */
static inline __m256i AR_FN(sra64)(__m256i x, __m128i s)
{
    const __m256i neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    return _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(x, neg), s), neg);
}
#elif AR_SIMD
static void AR_FN(gemv)(const int16_t *x, int32_t kp, const int16_t *w, int32_t coutp,
                        int32_t *acc)
{
    const int32_t np = kp / 2;
    int32_t o = 0;
    for (; o + 32 <= coutp; o += 32) {          /* four accumulators: independent chains */
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t k = 0; k < np; k++) {
            int32_t pair;
            memcpy(&pair, x + 2 * k, sizeof pair);
            const __m256i xv = _mm256_set1_epi32(pair);
            const __m256i *r = (const __m256i *)(w + ((size_t)k * coutp + o) * 2);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, _mm256_loadu_si256(r)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, _mm256_loadu_si256(r + 1)));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xv, _mm256_loadu_si256(r + 2)));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xv, _mm256_loadu_si256(r + 3)));
        }
        _mm256_storeu_si256((__m256i *)(acc + o), a0);
        _mm256_storeu_si256((__m256i *)(acc + o + 8), a1);
        _mm256_storeu_si256((__m256i *)(acc + o + 16), a2);
        _mm256_storeu_si256((__m256i *)(acc + o + 24), a3);
    }
    for (; o < coutp; o += 16) {
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        for (int32_t k = 0; k < np; k++) {
            int32_t pair;
            memcpy(&pair, x + 2 * k, sizeof pair);
            const __m256i xv = _mm256_set1_epi32(pair);
            const __m256i *r = (const __m256i *)(w + ((size_t)k * coutp + o) * 2);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, _mm256_loadu_si256(r)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, _mm256_loadu_si256(r + 1)));
        }
        _mm256_storeu_si256((__m256i *)(acc + o), a0);
        _mm256_storeu_si256((__m256i *)(acc + o + 8), a1);
    }
}

/* floor(x / 2^s) of int64 lanes (AVX2 has no 64-bit arithmetic shift): shift ~x for x < 0. */
static inline __m256i AR_FN(sra64)(__m256i x, __m128i s)
{
    const __m256i neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    return _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(x, neg), s), neg);
}
#else
/* Plain C over rows [kp][coutp]: a widening int16 multiply-add that compilers vectorise for
 * any SIMD baseline (SSE2, NEON). */
static void AR_FN(gemv)(const int16_t *x, int32_t kp, const int16_t *wt, int32_t coutp,
                        int32_t *acc)
{
    for (int32_t o = 0; o < coutp; o++) acc[o] = 0;
    for (int32_t k = 0; k < kp; k++) {
        const int32_t xk = x[k];
        if (!xk) continue;                      /* ReLU zeros are common */
        const int16_t *r = wt + (size_t)k * coutp;
        for (int32_t o = 0; o < coutp; o++) acc[o] += xk * r[o];
    }
}
#endif

/* Classes whose partial sums may reach 2^31 (ar_class.wide) accumulate in int64. */
static void AR_FN(gemv_wide)(const int16_t *x, int32_t kp, const int16_t *wt, int32_t coutp,
                             int64_t *acc)
{
    for (int32_t o = 0; o < coutp; o++) acc[o] = 0;
    for (int32_t k = 0; k < kp; k++) {
        const int64_t xk = x[k];
        const int16_t *r = wt + (size_t)k * coutp;
        for (int32_t o = 0; o < coutp; o++) acc[o] += xk * r[o];
    }
}

/* The network's inputs at block pixel (yy, xx) (model.ar_inputs): base2 = twice the base (W + N,
 * 2W, 2N or 256 by which is known), each neighbour as 2n - base2 where known (else 0), the
 * flags (N known, W known, above-right known) and the trunk features. Reads only pixels that
 * precede (yy, xx) in raster order. */
static void AR_FN(gather)(const ar_net *n, const int16_t *pix, const uint8_t *kn,
                          const int16_t *tf, int32_t yy, int32_t xx, int16_t *t, int32_t *b2)
{
    const int32_t Y = AR_CTX + yy, X = AR_CTX + xx;
    const int16_t *wp = pix + ((size_t)Y * AR_CROP_W + X - 1) * 3;
    const int16_t *np = pix + ((size_t)(Y - 1) * AR_CROP_W + X) * 3;
    const int32_t kw = kn[Y * AR_CROP_W + X - 1], kN = kn[(Y - 1) * AR_CROP_W + X];
    for (int c = 0; c < 3; c++)
        b2[c] = kw && kN ? wp[c] + np[c] : kw ? 2 * wp[c] : kN ? 2 * np[c] : 256;
    int16_t *nb = t + n->nbr;
    const int32_t r = n->radius;
    if (yy >= r && xx >= r && xx + r < AR_BLOCK) {
        /* inside the block, r from its edges: every neighbour is a pixel of the block decoded
         * before this one (known), and the neighbourhood is r rows of 2r + 1 pixels then r
         * pixels (arch.ar_offsets' order), each a contiguous run of the crop */
        int16_t pat[3 * (2 * AR_CTX + 1)];
        for (int32_t i = 0; i < 2 * r + 1; i++)
            for (int c = 0; c < 3; c++) pat[3 * i + c] = (int16_t)b2[c];
        for (int32_t dy = -r; dy <= 0; dy++) {
            const int32_t len = 3 * (dy < 0 ? 2 * r + 1 : r);
            const int16_t *p = pix + ((size_t)(Y + dy) * AR_CROP_W + X - r) * 3;
            for (int32_t e = 0; e < len; e++) nb[e] = (int16_t)(2 * p[e] - pat[e]);
            nb += len;
        }
        int16_t *fl = t + n->flags;
        fl[0] = fl[1] = fl[2] = (int16_t)n->mask_on;
        memcpy(t + n->tfeat, tf + ((size_t)yy * AR_BLOCK + xx) * n->ntfeat,
               sizeof(int16_t) * (size_t)n->ntfeat);
        return;
    }
    for (int32_t i = 0; i < n->noff; i++) {
        const int32_t at = (Y + n->off[2 * i]) * AR_CROP_W + X + n->off[2 * i + 1];
        const int16_t *p = pix + (size_t)at * 3;
        const int k = kn[at];
        for (int c = 0; c < 3; c++) nb[3 * i + c] = (int16_t)(k ? 2 * p[c] - b2[c] : 0);
    }
    int16_t *fl = t + n->flags;
    fl[0] = (int16_t)(kN * n->mask_on);
    fl[1] = (int16_t)(kw * n->mask_on);
    fl[2] = (int16_t)(kn[(Y - 1) * AR_CROP_W + X + n->radius] * n->mask_on);
    memcpy(t + n->tfeat, tf + ((size_t)yy * AR_BLOCK + xx) * n->ntfeat,
           sizeof(int16_t) * (size_t)n->ntfeat);
}

/* tot (int64 sums) -> the op's output: raw to y, else clamped into its slot run of t. */
static inline void AR_FN(requant)(const ar_net *n, const ar_op *op, const int64_t *tot,
                                  int16_t *t, int64_t *y)
{
    const int32_t cout = op->cout;
    /* >> of a negative int64 is an arithmetic (floor) shift with GCC and Clang, as numpy's */
    if (op->act == AR_RAW) {
        for (int32_t o = 0; o < cout; o++) y[o] = tot[o] >> n->shift;
        return;
    }
    const int64_t lo = op->act == AR_RELU ? 0 : -127;
    int16_t *out = t + op->out;
#if AR_SIMD == 2
    if (cout % 8 == 0) {        /* AVX-512: 64-bit arithmetic shift, min / max, narrowing */
        const __m128i sh = _mm_cvtsi32_si128(n->shift);
        const __m512i vlo = _mm512_set1_epi64(lo), vhi = _mm512_set1_epi64(127);
        for (int32_t o = 0; o < cout; o += 8) {
            __m512i v = _mm512_sra_epi64(_mm512_loadu_si512(tot + o), sh);
            v = _mm512_min_epi64(_mm512_max_epi64(v, vlo), vhi);
            _mm_storeu_si128((__m128i *)(out + o), _mm512_cvtepi64_epi16(v));
        }
        return;
    }
#elif AR_SIMD
    if (cout % 8 == 0) {
        const __m128i sh = _mm_cvtsi32_si128(n->shift);
        const __m256i vlo = _mm256_set1_epi64x(lo), vhi = _mm256_set1_epi64x(127);
        const __m256i low_dwords = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        for (int32_t o = 0; o < cout; o += 8) {
            __m256i v[2];
            for (int h = 0; h < 2; h++) {
                const __m256i t = _mm256_loadu_si256((const __m256i *)(tot + o + 4 * h));
                __m256i x = AR_FN(sra64)(t, sh);
                x = _mm256_blendv_epi8(x, vhi, _mm256_cmpgt_epi64(x, vhi));
                x = _mm256_blendv_epi8(x, vlo, _mm256_cmpgt_epi64(vlo, x));
                v[h] = _mm256_permutevar8x32_epi32(x, low_dwords);   /* 4 int32 in the low half */
            }
            const __m128i packed = _mm_packs_epi32(_mm256_castsi256_si128(v[0]),
                                                   _mm256_castsi256_si128(v[1]));
            _mm_storeu_si128((__m128i *)(out + o), packed);
        }
        return;
    }
#endif
    for (int32_t o = 0; o < cout; o++) {
        const int64_t v = tot[o] >> n->shift;
        out[o] = (int16_t)(v < lo ? lo : (v > 127 ? 127 : v));
    }
}

/* The class inputs of pixel m: its slot run, or gathered into one even run. */
static inline const int16_t *AR_FN(class_input)(const ar_class *cl, scratch *s, int m)
{
    const int16_t *t = s->t + (size_t)m * s->slots;
    if (cl->nseg == 1 && cl->seg_len[0] >= cl->kp) return t + cl->seg_off[0];
    int16_t *xin = s->xin + (size_t)m * s->kmax;
    int32_t pos = 0;
    for (int32_t g = 0; g < cl->nseg; g++) {
        memcpy(xin + pos, t + cl->seg_off[g], sizeof(int16_t) * (size_t)cl->seg_len[g]);
        pos += cl->seg_len[g];
    }
    if (pos < cl->kp) xin[pos] = 0;     /* odd width: the pad input meets zero weights */
    return xin;
}

/* One conv for pixels m < M (their tensors in s->t rows), raw outputs to y + AR_PARAMS m. */
static void AR_FN(conv)(const ar_net *n, const ar_op *op, scratch *s, int M, int64_t *y)
{
    const int32_t cout = op->cout, coutp = op->coutp;
#if AR_SIMD == 2
    /* int32 sums of every class first, then one pass per 8 outputs: bias + sum of acc * m,
     * shift, clamp, narrow, all in registers (every |m| < 2^31, no int64 accumulator) */
    int fuse = op->act != AR_RAW && cout % 8 == 0;
    for (int32_t c = 0; c < op->ncls; c++) fuse = fuse && !op->cls[c].wide && op->cls[c].m32;
    if (fuse) {
        for (int32_t c = 0; c < op->ncls; c++) {
            const ar_class *cl = &op->cls[c];
            int32_t *acc = s->acc32 + (size_t)c * AR_M * s->cmax;
            const int16_t *xs[AR_M];
            for (int m = 0; m < AR_M; m++) xs[m] = m < M ? AR_FN(class_input)(cl, s, m) : xs[0];
            if (M > 1) AR_FN(gemv_m)(xs, M, cl->kp, cl->w, coutp, acc, s->cmax);
            else AR_FN(gemv)(xs[0], cl->kp, cl->w, coutp, acc);
        }
        const __m128i sh = _mm_cvtsi32_si128(n->shift);
        const __m512i vlo = _mm512_set1_epi64(op->act == AR_RELU ? 0 : -127);
        const __m512i vhi = _mm512_set1_epi64(127);
        for (int m = 0; m < M; m++) {
            int16_t *out = s->t + (size_t)m * s->slots + op->out;
            for (int32_t o = 0; o < cout; o += 8) {
                __m512i v = _mm512_loadu_si512(op->bias + o);
                for (int32_t c = 0; c < op->ncls; c++) {
                    const int32_t *acc = s->acc32 + ((size_t)c * AR_M + m) * s->cmax + o;
                    const __m512i a = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)acc));
                    v = _mm512_add_epi64(v, _mm512_mul_epi32(a, _mm512_loadu_si512(op->cls[c].m + o)));
                }
                v = _mm512_min_epi64(_mm512_max_epi64(_mm512_sra_epi64(v, sh), vlo), vhi);
                _mm_storeu_si128((__m128i *)(out + o), _mm512_cvtepi64_epi16(v));
            }
        }
        return;
    }
#endif
    for (int m = 0; m < M; m++)
        memcpy(s->total + (size_t)m * s->cmax, op->bias, sizeof(int64_t) * (size_t)coutp);
    for (int32_t c = 0; c < op->ncls; c++) {
        const ar_class *cl = &op->cls[c];
        const int16_t *xs[AR_M];
        for (int m = 0; m < AR_M; m++) xs[m] = m < M ? AR_FN(class_input)(cl, s, m) : xs[0];
#if AR_SIMD == 2
        if (!cl->wide && M > 1)
            AR_FN(gemv_m)(xs, M, cl->kp, cl->w, coutp, s->acc32, s->cmax);
#endif
        for (int m = 0; m < M; m++) {
        int64_t *tot = s->total + (size_t)m * s->cmax;
        const int16_t *x = xs[m];
        int32_t *acc32 = s->acc32 + (size_t)m * s->cmax;
        if (cl->wide) {
            AR_FN(gemv_wide)(x, cl->kp, cl->wt, coutp, s->acc64);
            for (int32_t o = 0; o < cout; o++) tot[o] += s->acc64[o] * cl->m[o];
            continue;
        }
        if (AR_SIMD != 2 || M == 1) AR_FN(gemv)(x, cl->kp, AR_SIMD ? cl->w : cl->wt, coutp, acc32);
#if AR_SIMD == 2
        if (cl->m32) {          /* eight lanes of acc * m (signed 32 x 32 -> 64) per step */
            for (int32_t o = 0; o < coutp; o += 8) {
                const __m512i a = _mm512_cvtepi32_epi64(
                    _mm256_loadu_si256((const __m256i *)(acc32 + o)));
                const __m512i m = _mm512_loadu_si512(cl->m + o);
                _mm512_storeu_si512(tot + o, _mm512_add_epi64(_mm512_loadu_si512(tot + o),
                                                              _mm512_mul_epi32(a, m)));
            }
            continue;
        }
#elif AR_SIMD
        if (cl->m32) {          /* |m| < 2^31: one signed 32 x 32 -> 64 multiply per lane */
            for (int32_t o = 0; o < coutp; o += 4) {
                const __m128i a32 = _mm_loadu_si128((const __m128i *)(acc32 + o));
                const __m256i a = _mm256_cvtepi32_epi64(a32);
                const __m256i m = _mm256_loadu_si256((const __m256i *)(cl->m + o));
                __m256i *t = (__m256i *)(tot + o);
                _mm256_storeu_si256(t, _mm256_add_epi64(_mm256_loadu_si256(t),
                                                        _mm256_mul_epi32(a, m)));
            }
            continue;
        }
#endif
        for (int32_t o = 0; o < cout; o++) tot[o] += (int64_t)acc32[o] * cl->m[o];
        }
    }
    for (int m = 0; m < M; m++) AR_FN(requant)(n, op, s->total + (size_t)m * s->cmax,
                                               s->t + (size_t)m * s->slots,
                                               y + (size_t)AR_PARAMS * m);
}

/* The network on pixels m < M (inputs gathered into s->t rows), raw outputs to y + AR_PARAMS m. */
static void AR_FN(eval_many)(const ar_net *n, scratch *s, int M, int64_t *y)
{
    for (int32_t i = 0; i < n->nops; i++) {
        const ar_op *op = &n->ops[i];
        if (op->type == AR_ADD) {
          for (int m = 0; m < M; m++) {
            int16_t *t = s->t + (size_t)m * s->slots;
            int32_t o = 0;
#if AR_SIMD
            const __m256i lo = _mm256_set1_epi16(-127), hi = _mm256_set1_epi16(127);
            for (; o + 16 <= op->cout; o += 16) {     /* |a + b| <= 254: no int16 overflow */
                const __m256i v = _mm256_add_epi16(
                    _mm256_loadu_si256((const __m256i *)(t + op->a + o)),
                    _mm256_loadu_si256((const __m256i *)(t + op->b + o)));
                _mm256_storeu_si256((__m256i *)(t + op->out + o),
                                    _mm256_min_epi16(_mm256_max_epi16(v, lo), hi));
            }
#endif
            for (; o < op->cout; o++) {
                const int32_t v = t[op->a + o] + t[op->b + o];
                t[op->out + o] = (int16_t)(v < -127 ? -127 : (v > 127 ? 127 : v));
            }
          }
        } else {
            AR_FN(conv)(n, op, s, M, y);
        }
    }
}

/* Raw outputs (y [b][AR_PARAMS]) and base2 ([b][3]) of pixel (yy, xx) of blocks [b0, b1). */
static void AR_FN(eval_blocks)(const ar_net *n, scratch *s, int64_t b0, int64_t b1,
                               const int16_t *pix, const uint8_t *known, const int16_t *tfeat,
                               int32_t yy, int32_t xx, int64_t *y, int32_t *base2)
{
    const size_t tf_block = (size_t)AR_BLOCK * AR_BLOCK * n->ntfeat;
    for (int64_t b = b0; b < b1; b += AR_M) {
        const int M = b1 - b < AR_M ? (int)(b1 - b) : AR_M;
        for (int m = 0; m < M; m++)
            AR_FN(gather)(n, pix + (b + m) * AR_PIX_BLOCK, known + (b + m) * AR_KNOWN_BLOCK,
                          tfeat + (b + m) * tf_block, yy, xx, s->t + (size_t)m * s->slots,
                          base2 + 3 * (b + m));
        AR_FN(eval_many)(n, s, M, y + AR_PARAMS * b);
    }
}

/* Every pixel of blocks [b0, b1): y [b][yy][xx][AR_PARAMS], base2 [b][yy][xx][3]. AR_M
 * consecutive pixels of a row at a time (AR_BLOCK is a multiple of AR_M). */
static void AR_FN(eval_all)(const ar_net *n, scratch *s, int64_t b0, int64_t b1,
                            const int16_t *pix, const uint8_t *known, const int16_t *tfeat,
                            int64_t *y, int64_t *base2)
{
    const size_t tf_block = (size_t)AR_BLOCK * AR_BLOCK * n->ntfeat;
    int32_t b2[3];
    for (int64_t b = b0; b < b1; b++) {
        for (int32_t yy = 0; yy < AR_BLOCK; yy++) {
            for (int32_t xx = 0; xx < AR_BLOCK; xx += AR_M) {
                const size_t at = ((size_t)b * AR_BLOCK + yy) * AR_BLOCK + xx;
                for (int m = 0; m < AR_M; m++) {
                    AR_FN(gather)(n, pix + b * AR_PIX_BLOCK, known + b * AR_KNOWN_BLOCK,
                                  tfeat + b * tf_block, yy, xx + m, s->t + (size_t)m * s->slots,
                                  b2);
                    for (int c = 0; c < 3; c++) base2[3 * (at + m) + c] = b2[c];
                }
                AR_FN(eval_many)(n, s, AR_M, y + AR_PARAMS * at);
            }
        }
    }
}
