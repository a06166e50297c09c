/* Raster-order pixel decoder of the image model: see ar_core.h for the contract. */
#include "ar_core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The AVX2 copy of the network needs GCC's target pragma (Clang builds the plain copy only). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define AR_AVX2 1
#endif
#include "simd_level.h"

int ar_have_simd(void)
{
    return simd_level();
}

/* ---- one pixel ---------------------------------------------------------------------------- */

/* Up to AR_M pixels are evaluated together (AVX-512 VNNI: each weight load serves AR_M
 * pixels); every per-pixel array has AR_M rows. */
#define AR_M 4
_Static_assert(AR_BLOCK % AR_M == 0, "eval_all takes AR_M pixels of a row at a time");

typedef struct {
    int16_t *t;         /* [AR_M][slots] the pixels' tensors */
    int16_t *xin;       /* [AR_M][kmax] one class's inputs, contiguous */
    int32_t *acc32;     /* [AR_MAX_CLASSES][AR_M][cmax] */
    int64_t *acc64;     /* [cmax] */
    int64_t *total;     /* [AR_M][cmax] */
    int32_t slots, kmax, cmax;
} scratch;

static int scratch_init(scratch *s, const ar_net *n)
{
    s->slots = n->slots;
    s->kmax = n->kmax;
    s->cmax = n->cmax;
    s->t = calloc((size_t)AR_M * n->slots, sizeof *s->t);
    s->xin = calloc((size_t)AR_M * n->kmax, sizeof *s->xin);
    s->acc32 = malloc(sizeof *s->acc32 * (size_t)AR_MAX_CLASSES * AR_M * n->cmax);
    s->acc64 = malloc(sizeof *s->acc64 * (size_t)n->cmax);
    s->total = malloc(sizeof *s->total * (size_t)AR_M * n->cmax);
    return s->t && s->xin && s->acc32 && s->acc64 && s->total ? 0 : -1;
}

static void scratch_free(scratch *s)
{
    free(s->t);
    free(s->xin);
    free(s->acc32);
    free(s->acc64);
    free(s->total);
}

#define AR_PIX_BLOCK ((size_t)AR_CROP_H * AR_CROP_W * 3)
#define AR_KNOWN_BLOCK ((size_t)AR_CROP_H * AR_CROP_W)

#define AR_SIMD 0
#define AR_FN(name) name##_plain
#include "ar_eval.h"
#undef AR_SIMD
#undef AR_FN

#ifdef AR_AVX2
#pragma GCC push_options
#pragma GCC target("avx2")
#define AR_SIMD 1
#define AR_FN(name) name##_avx2
#include "ar_eval.h"
#undef AR_SIMD
#undef AR_FN
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512bw,avx512vnni")
#define AR_SIMD 2
#define AR_FN(name) name##_vnni
#include "ar_eval.h"
#undef AR_SIMD
#undef AR_FN
#pragma GCC pop_options
#endif

static void eval_blocks(const ar_net *n, scratch *s, int64_t b0, int64_t b1, const int16_t *pix,
                        const uint8_t *known, const int16_t *tfeat, int32_t yy, int32_t xx,
                        int64_t *y, int32_t *base2, int simd)
{
#ifdef AR_AVX2
    if (simd >= 2) {
        eval_blocks_vnni(n, s, b0, b1, pix, known, tfeat, yy, xx, y, base2);
        return;
    }
    if (simd) {
        eval_blocks_avx2(n, s, b0, b1, pix, known, tfeat, yy, xx, y, base2);
        return;
    }
#endif
    (void)simd;
    eval_blocks_plain(n, s, b0, b1, pix, known, tfeat, yy, xx, y, base2);
}

/* ---- two threads over the blocks of one pixel step ---------------------------------------
 * The caller publishes step s (pixel s of the raster) as one atomic word, step << 32 | next
 * chunk; either thread claims chunks of blocks with a fetch-add on it, so a chunk is computed
 * once, by whichever thread is free. The caller then waits only for the chunks the worker
 * actually took: a worker that is not scheduled (the machine may be busy) costs nothing, the
 * caller simply computes every chunk itself. Both threads spin briefly before sleeping on a
 * condition variable (a Dekker handshake on the `*_sleeping` flags prevents lost wake-ups). */

#define SPIN 2000                   /* pause iterations before sleeping (~10-50 us) */
#define QUIT_STEP 0xffffffffull

typedef struct {
    const ar_net *n;
    int64_t nblocks, chunk, nchunks;
    const int16_t *pix;
    const uint8_t *known;
    const int16_t *tfeat;
    int64_t *y;
    int32_t *base2;
    int simd;
    _Atomic uint64_t task;          /* step << 32 | next chunk */
    atomic_long done;               /* chunks of the current step finished */
    atomic_int worker_sleeping, caller_sleeping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    scratch ws;                     /* the worker's */
} team;

static inline void relax(void)
{
#ifdef AR_AVX2
    _mm_pause();
#endif
}

static inline void wake(team *T, atomic_int *sleeping)
{
    if (atomic_load(sleeping)) {
        pthread_mutex_lock(&T->mu);
        pthread_cond_broadcast(&T->cv);
        pthread_mutex_unlock(&T->mu);
    }
}

/* Claim and compute chunks of the published step until none is left; returns its step. */
static uint64_t work(team *T, scratch *s)
{
    for (;;) {
        const uint64_t v = atomic_fetch_add(&T->task, 1);
        const uint64_t step = v >> 32, c = v & 0xffffffffull;
        if (step == QUIT_STEP || (int64_t)c >= T->nchunks) return step;
        const int64_t b0 = (int64_t)c * T->chunk;
        const int64_t b1 = b0 + T->chunk < T->nblocks ? b0 + T->chunk : T->nblocks;
        const int32_t px = (int32_t)(step - 1);
        eval_blocks(T->n, s, b0, b1, T->pix, T->known, T->tfeat, px / AR_BLOCK, px % AR_BLOCK,
                    T->y, T->base2, T->simd);
        atomic_fetch_add(&T->done, 1);
        wake(T, &T->caller_sleeping);
    }
}

static void *worker(void *arg)
{
    team *T = arg;
    uint64_t seen = 0;              /* the last step whose chunks ran out */
    for (;;) {
        int i = 0;
        while ((atomic_load(&T->task) >> 32) == seen && i++ < SPIN) relax();
        if ((atomic_load(&T->task) >> 32) == seen) {
            pthread_mutex_lock(&T->mu);
            atomic_store(&T->worker_sleeping, 1);
            while ((atomic_load(&T->task) >> 32) == seen) pthread_cond_wait(&T->cv, &T->mu);
            atomic_store(&T->worker_sleeping, 0);
            pthread_mutex_unlock(&T->mu);
        }
        seen = work(T, &T->ws);
        if (seen == QUIT_STEP) return NULL;
    }
}

/* Publish step (1-based pixel index) to the worker; the caller then calls work() too. */
static void team_publish(team *T, uint64_t step)
{
    atomic_store(&T->done, 0);
    atomic_store(&T->task, step << 32);
    wake(T, &T->worker_sleeping);
}

/* After the caller's work(): wait for the chunks the worker still holds. */
static void team_wait(team *T)
{
    for (int i = 0; atomic_load(&T->done) < T->nchunks && i < SPIN; i++) relax();
    if (atomic_load(&T->done) < T->nchunks) {
        pthread_mutex_lock(&T->mu);
        atomic_store(&T->caller_sleeping, 1);
        while (atomic_load(&T->done) < T->nchunks) pthread_cond_wait(&T->cv, &T->mu);
        atomic_store(&T->caller_sleeping, 0);
        pthread_mutex_unlock(&T->mu);
    }
}

static int team_start(team *T, pthread_t *th)
{
    if (scratch_init(&T->ws, T->n)) {
        scratch_free(&T->ws);
        return -1;
    }
    atomic_init(&T->task, 0);
    atomic_init(&T->done, 0);
    atomic_init(&T->worker_sleeping, 0);
    atomic_init(&T->caller_sleeping, 0);
    if (pthread_mutex_init(&T->mu, NULL)) goto fail_mutex;
    if (pthread_cond_init(&T->cv, NULL)) goto fail_cond;
    if (pthread_create(th, NULL, worker, T)) goto fail_thread;
    return 0;
fail_thread:
    pthread_cond_destroy(&T->cv);
fail_cond:
    pthread_mutex_destroy(&T->mu);
fail_mutex:
    scratch_free(&T->ws);
    return -1;
}

static void team_stop(team *T, pthread_t th)
{
    atomic_store(&T->task, QUIT_STEP << 32);
    pthread_mutex_lock(&T->mu);
    pthread_cond_broadcast(&T->cv);
    pthread_mutex_unlock(&T->mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(&T->cv);
    pthread_mutex_destroy(&T->mu);
    scratch_free(&T->ws);
}

/* ---- decoding ------------------------------------------------------------------------------ */

static inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* model.ImageRuntime.ar_params and chain_locs for colour c of one pixel: loc_c = y_c + 128
 * base2_c, plus for G and B the colour coefficients times (2x - base2) of the colours before
 * (x0, x1), clamped as the numpy path. Shared by the decoder and the encoder's push_params. */
static inline int64_t chain_loc(const ar_net *n, const int64_t *yb, int64_t b0, int64_t b1,
                                int64_t b2c, int64_t x0, int64_t x1, int c)
{
    const int64_t cmax = n->coef_max, base[3] = {b0, b1, b2c};
    int64_t l = yb[c] + 128 * base[c];
    if (c == 1)
        l += clamp64(yb[6], -cmax, cmax) * (2 * x0 - b0);
    if (c == 2)
        l += clamp64(yb[7], -cmax, cmax) * (2 * x0 - b0)
             + clamp64(yb[8], -cmax, cmax) * (2 * x1 - b1);
    return clamp64(l, -n->loc_limit, n->loc_limit);
}

/* Config.tail: the index a pixel of adapted scale index j is coded with (arch.py, TAIL_*). */
static inline int32_t tail_scale(const ar_net *n, int32_t j)
{
    return j + ((n->tail_mask >> (j >> 3)) & 1 ? RANS_TAIL_FLAG : 0);
}

/* Scale adaptation (adapt.py): the bucket sums a (actual |errors|) and b (expected) of one
 * block and colour, the network's scale index j -> the index to code with. */
static inline int32_t adapt_scale(const ar_net *n, int64_t a, int64_t b, int32_t j)
{
    const int64_t prior = n->adapt_prior * n->adapt_mad[j];
    const int64_t num = (a + prior) << 16, den = b + prior;
    int64_t d = -n->adapt_dmax;
    for (int32_t i = 0; i < 2 * n->adapt_dmax; i++) d += num >= n->adapt_steps[i] * den;
    return (int32_t)clamp64(j + d, 0, n->scale_max);
}

/* Cross-colour shift (arch.py XADAPT_*) of colour c's index, given the summed clipped errors a
 * and expected errors b of the pixel's earlier colours and the network's index j. */
static inline int32_t cross_shift(const ar_net *n, int c, int64_t a, int64_t b, int32_t j)
{
    int32_t q = 0;
    if (c > 0) {
        const int64_t num = (a + 1) << 16, den = b + 1;
        q = 1;
        for (int32_t i = 0; i < n->nxsteps; i++) q += num >= n->xsteps[i] * den;
    }
    return (int32_t)n->xtable[(c * n->xbins + q) * n->xjbuckets + (j >> n->xjshift)];
}

static inline int64_t clip_error(const ar_net *n, int64_t x, int64_t loc)
{
    const int64_t e = 256 * x - loc;
    return e < 0 ? (-e < n->adapt_clip ? -e : n->adapt_clip)
                 : (e < n->adapt_clip ? e : n->adapt_clip);
}

/* The colour and spatial regressions (arch.py CREG_*, SREG_*): 256 x - loc clipped to
 * +-clip, and the rounded shift floor((2 sxy e + den) / (2 den)), den = sxx + prior * mad[j]^2
 * > 0; each rule with its own clip and prior. */
static inline int64_t reg_err(int64_t x, int64_t loc, int64_t clip)
{
    return clamp64(256 * x - loc, -clip, clip);
}

static inline int64_t reg_shift(const ar_net *n, int64_t prior, int64_t sxy, int64_t sxx,
                                int32_t j, int64_t e)
{
    const int64_t mad = n->adapt_mad[j];
    const int64_t den = 2 * (sxx + prior * mad * mad), num = 2 * sxy * e + den / 2;
    const int64_t q = num / den;                    /* C truncates: floor for negatives */
    return q * den > num ? q - 1 : q;
}

static inline int64_t creg_err(const ar_net *n, int64_t x, int64_t loc)
{
    return reg_err(x, loc, n->creg_clip);
}

static inline int64_t creg_shift(const ar_net *n, int64_t sxy, int64_t sxx, int32_t j, int64_t e)
{
    return reg_shift(n, n->creg_prior, sxy, sxx, j, e);
}

static inline int64_t sreg_err(const ar_net *n, int64_t x, int64_t loc)
{
    return reg_err(x, loc, n->sreg_clip);
}

static inline int64_t sreg_shift(const ar_net *n, int64_t sxy, int64_t sxx, int32_t j, int64_t e)
{
    return reg_shift(n, n->sreg_prior, sxy, sxx, j, e);
}

int ar_decode(const ar_net *n, rans_msg *m, int64_t nblocks, int16_t *pix,
              const uint8_t *known, const int16_t *tfeat, unsigned precision, int threads,
              int simd, const int32_t *extent, int channels, const uint8_t *lattice)
{
    if (nblocks <= 0) return 0;
    const size_t nb = (size_t)nblocks;
    int64_t *y = malloc(sizeof *y * nb * AR_PARAMS);
    int32_t *base2 = malloc(sizeof *base2 * nb * 3);
    int32_t *loc = malloc(sizeof *loc * nb), *j = malloc(sizeof *j * nb);
    int64_t *out = malloc(sizeof *out * nb);
    int64_t *px = malloc(sizeof *px * nb * 3);
    int32_t *jn = malloc(sizeof *jn * nb);         /* the network's scale index */
    int32_t *midx = malloc(sizeof *midx * nb);     /* lattice: B's mask, R * 256 + G */
    /* adaptation sums [block][colour][bucket]: actual and expected |errors| */
    const size_t nsum = n->adapt ? nb * 3 * (size_t)n->adapt_buckets : 1;
    int64_t *sa = calloc(nsum, sizeof *sa), *sb = calloc(nsum, sizeof *sb);
    /* cross-colour sums of the current pixel's popped colours, per block */
    int64_t *xsa = calloc(nb, sizeof *xsa), *xsb = calloc(nb, sizeof *xsb);
    /* colour regression per block: sums RR, GR, BR, GG, BG; the pixel's errors r, g, g0 and
     * B's location after the R shift; chained locations before the move */
    int64_t *cs = calloc(nb * 5, sizeof *cs), *ce = calloc(nb * 3, sizeof *ce);
    int64_t *cb1 = calloc(nb, sizeof *cb1);
    int32_t *chained = malloc(sizeof *chained * nb);
    /* spatial regression per block and colour: sums WW, UW, NN, VN and one row of errors u
     * (the row above up to the pixel, this row before it); per block the current colour's
     * location before it (l1, what the colour regression's errors use) and after the W shift */
    const size_t nsreg = n->sreg ? nb * 3 : 1;
    int64_t *ss = calloc(nsreg * 4, sizeof *ss), *srow = calloc(nsreg * AR_BLOCK, sizeof *srow);
    int64_t *sl1 = calloc(nb, sizeof *sl1), *sl2 = calloc(nb, sizeof *sl2);
    scratch own;
    int err = scratch_init(&own, n);
    if (err || !y || !base2 || !loc || !j || !out || !px || !jn || !midx || !sa || !sb || !xsa || !xsb
        || !cs || !ce || !cb1 || !chained || !ss || !srow || !sl1 || !sl2) {
        err = -1;
        goto done;
    }
    team T = {.n = n, .nblocks = nblocks, .pix = pix, .known = known, .tfeat = tfeat, .y = y,
              .base2 = base2, .simd = simd};
    /* chunks of a few blocks: claiming one costs an atomic, evaluating one block ~0.5 us */
    T.chunk = nblocks >= 64 ? 4 : 1;
    T.nchunks = (nblocks + T.chunk - 1) / T.chunk;
    pthread_t th;
    const int two = threads > 1 && nblocks > 1 && team_start(&T, &th) == 0;
    const int64_t lim = n->loc_limit;
    for (int32_t yy = 0; yy < AR_BLOCK; yy++) {
        for (int32_t xx = 0; xx < AR_BLOCK; xx++) {
            if (two) {
                team_publish(&T, (uint64_t)(yy * AR_BLOCK + xx) + 1);
                work(&T, &own);
                team_wait(&T);
            } else {
                eval_blocks(n, &own, 0, nblocks, pix, known, tfeat, yy, xx, y, base2, simd);
            }
            /* one colour at a time over the blocks (chain_loc, from the colours popped
             * before), then the block's colour regression and scale adaptation */
            const size_t at = ((size_t)(AR_CTX + yy) * AR_CROP_W + AR_CTX + xx) * 3;
            for (int c = 0; c < channels; c++) {
                size_t k = 0;
                for (size_t b = 0; b < nb; b++) {
                    if (extent && (yy >= extent[2 * b] || xx >= extent[2 * b + 1])) continue;
                    const int64_t *yb = y + AR_PARAMS * b;
                    const int32_t *b2 = base2 + 3 * b;
                    const int64_t *xb = px + 3 * b;
                    int64_t l = chain_loc(n, yb, b2[0], b2[1], b2[2], xb[0], xb[1], c);
                    chained[k] = (int32_t)l;
                    if (n->creg && c > 0) {     /* the block's colour regression */
                        const int64_t *s = cs + 5 * b, *e = ce + 3 * b;
                        const int32_t jr = (int32_t)clamp64(yb[3], 0, n->scale_max);
                        const int32_t jg = (int32_t)clamp64(yb[4], 0, n->scale_max);
                        if (c == 1) {
                            l = clamp64(l + creg_shift(n, s[1], s[0], jr, e[0]), -lim, lim);
                        } else {
                            cb1[b] = l + creg_shift(n, s[2], s[0], jr, e[0]);
                            l = clamp64(cb1[b] + creg_shift(n, s[4], s[3], jg, e[1]), -lim, lim);
                        }
                    }
                    sl1[b] = l;
                    j[k] = jn[k] = (int32_t)clamp64(yb[3 + c], 0, n->scale_max);
                    if (n->sreg) {              /* the block's spatial regression */
                        const int64_t *s = ss + (b * 3 + c) * 4;
                        const int64_t *row = srow + (b * 3 + c) * AR_BLOCK;
                        const int64_t w = xx > 0 ? row[xx - 1] : 0, up = row[xx];
                        sl2[b] = l + sreg_shift(n, s[1], s[0], jn[k], w);
                        l = clamp64(sl2[b] + sreg_shift(n, s[3], s[2], jn[k], up), -lim, lim);
                    }
                    loc[k] = (int32_t)l;
                    if (n->adapt) {
                        const size_t at = (b * 3 + c) * n->adapt_buckets
                                          + (jn[k] >> n->adapt_shift);
                        j[k] = adapt_scale(n, sa[at], sb[at], jn[k]);
                        if (n->xadapt)
                            j[k] = (int32_t)clamp64(j[k] + cross_shift(n, c, xsa[b], xsb[b], jn[k]),
                                                    0, n->scale_max);
                    }
                    j[k] = tail_scale(n, j[k]);
                    if (lattice && c == 2)      /* B among the values R and G allow */
                        midx[k] = (int32_t)(xb[0] * 256 + xb[1]);
                    k++;
                }
                if (k && lattice && c == 2)
                    rans_masked_pop(m, out, k, loc, j, midx, lattice, 256, precision);
                else if (k)
                    rans_logistic_pop(m, out, k, loc, j, 256, precision);
                k = 0;
                for (size_t b = 0; b < nb; b++) {
                    if (extent && (yy >= extent[2 * b] || xx >= extent[2 * b + 1])) continue;
                    px[3 * b + c] = out[k];
                    if (n->creg) {
                        int64_t *s = cs + 5 * b, *e = ce + 3 * b;
                        if (c == 0) {
                            e[0] = creg_err(n, out[k], sl1[b]);
                        } else if (c == 1) {
                            e[1] = creg_err(n, out[k], sl1[b]);
                            e[2] = creg_err(n, out[k], chained[k]);
                        } else {        /* the pixel is complete: the sums gain it */
                            const int64_t b0 = creg_err(n, out[k], chained[k]);
                            const int64_t b1 = creg_err(n, out[k], cb1[b]);
                            s[0] += e[0] * e[0];
                            s[1] += e[2] * e[0];
                            s[2] += b0 * e[0];
                            s[3] += e[1] * e[1];
                            s[4] += b1 * e[1];
                        }
                    }
                    if (n->sreg) {      /* the colour's sums and row gain the pixel */
                        int64_t *s = ss + (b * 3 + c) * 4, *row = srow + (b * 3 + c) * AR_BLOCK;
                        const int64_t w = xx > 0 ? row[xx - 1] : 0, up = row[xx];
                        const int64_t u = sreg_err(n, out[k], sl1[b]);
                        const int64_t v = sreg_err(n, out[k], sl2[b]);
                        s[0] += w * w;
                        s[1] += u * w;
                        s[2] += up * up;
                        s[3] += v * up;
                        row[xx] = u;
                    }
                    if (n->adapt) {     /* the block's sums gain this coded pixel */
                        const size_t at = (b * 3 + c) * n->adapt_buckets
                                          + (jn[k] >> n->adapt_shift);
                        const int64_t e = clip_error(n, out[k], loc[k]);
                        sa[at] += e;
                        sb[at] += n->adapt_mad[jn[k]];
                        if (c == 0) xsa[b] = xsb[b] = 0;
                        xsa[b] += e;
                        xsb[b] += n->adapt_mad[jn[k]];
                    }
                    k++;
                }
            }
            for (size_t b = 0; b < nb; b++) {
                int16_t *pb = pix + b * AR_PIX_BLOCK;
                if (extent && (yy >= extent[2 * b] || xx >= extent[2 * b + 1])) {
                    /* padding: a copy of the nearest coded pixel of the block, decoded before
                     * this one in raster order (edge replication, never coded) */
                    const int32_t sy = yy < extent[2 * b] ? yy : extent[2 * b] - 1;
                    const int32_t sx = xx < extent[2 * b + 1] ? xx : extent[2 * b + 1] - 1;
                    const size_t src = ((size_t)(AR_CTX + sy) * AR_CROP_W + AR_CTX + sx) * 3;
                    for (int c = 0; c < 3; c++) pb[at + c] = pb[src + c];
                } else {
                    /* channels past `channels` repeat the first (grey coded as one plane) */
                    for (int c = 0; c < 3; c++)
                        pb[at + c] = (int16_t)px[3 * b + (c < channels ? c : 0)];
                }
            }
        }
    }
    if (two) team_stop(&T, th);
done:
    scratch_free(&own);
    free(y);
    free(base2);
    free(loc);
    free(j);
    free(out);
    free(px);
    free(jn);
    free(midx);
    free(sa);
    free(sb);
    free(xsa);
    free(xsb);
    free(cs);
    free(ce);
    free(cb1);
    free(ss);
    free(srow);
    free(sl1);
    free(sl2);
    free(chained);
    return err;
}

/* ---- all pixels of known blocks (the encoder's view) -------------------------------------- */

typedef struct {
    const ar_net *n;
    int64_t b0, b1;
    const int16_t *pix;
    const uint8_t *known;
    const int16_t *tfeat;
    int64_t *y, *base2;
    int simd, err;
} raw_part;

static void *raw_run(void *arg)
{
    raw_part *p = arg;
    scratch s;
    if (scratch_init(&s, p->n)) {
        scratch_free(&s);
        p->err = -1;
        return NULL;
    }
#ifdef AR_AVX2
    if (p->simd >= 2)
        eval_all_vnni(p->n, &s, p->b0, p->b1, p->pix, p->known, p->tfeat, p->y, p->base2);
    else if (p->simd)
        eval_all_avx2(p->n, &s, p->b0, p->b1, p->pix, p->known, p->tfeat, p->y, p->base2);
    else
#endif
        eval_all_plain(p->n, &s, p->b0, p->b1, p->pix, p->known, p->tfeat, p->y, p->base2);
    scratch_free(&s);
    return NULL;
}

int ar_raw_all(const ar_net *n, int64_t nblocks, const int16_t *pix, const uint8_t *known,
               const int16_t *tfeat, int64_t *y, int64_t *base2, int threads, int simd)
{
    const int64_t half = threads > 1 && nblocks > 1 ? nblocks / 2 : 0;
    raw_part a = {n, half, nblocks, pix, known, tfeat, y, base2, simd, 0};
    raw_part b = {n, 0, half, pix, known, tfeat, y, base2, simd, 0};
    pthread_t th;
    const int two = half > 0 && pthread_create(&th, NULL, raw_run, &b) == 0;
    if (!two) a.b0 = 0;
    raw_run(&a);
    if (two) pthread_join(th, NULL);
    return a.err || b.err ? -1 : 0;
}

/* ---- scale adaptation of known blocks (the encoder's view) -------------------------------- */

void ar_adapt_all(const ar_net *n, int64_t nblocks, const int64_t *x, const int64_t *loc,
                  const int64_t *j, const uint8_t *coded, int64_t *out)
{
    int64_t sa[128], sb[128];              /* adapt_buckets <= scale_max + 1 = 128 */
    const size_t per = (size_t)AR_BLOCK * AR_BLOCK;
    for (size_t bc = 0; bc < (size_t)nblocks * 3; bc++) {
        const int c = (int)(bc % 3);
        for (int32_t k = 0; k < n->adapt_buckets; k++) sa[k] = sb[k] = 0;
        for (size_t p = bc * per; p < (bc + 1) * per; p++) {
            const int32_t jn = (int32_t)j[p];
            if (coded && !coded[p]) {
                out[p] = jn;
                continue;
            }
            const int32_t k = jn >> n->adapt_shift;
            out[p] = adapt_scale(n, sa[k], sb[k], jn);
            if (n->xadapt) {       /* the same pixel's earlier colours sit per apart */
                int64_t xa = 0, xb = 0;
                for (int cc = 1; cc <= c; cc++) {
                    xa += clip_error(n, x[p - cc * per], loc[p - cc * per]);
                    xb += n->adapt_mad[j[p - cc * per]];
                }
                out[p] = clamp64(out[p] + cross_shift(n, c, xa, xb, jn), 0, n->scale_max);
            }
            sa[k] += clip_error(n, x[p], loc[p]);
            sb[k] += n->adapt_mad[jn];
        }
    }
}

/* ---- the encoder's coder parameters ------------------------------------------------------ */

int64_t ar_push_params(const ar_net *n, int64_t nblocks, const int16_t *pix, const uint8_t *known,
                       const int16_t *tfeat, const int32_t *extent, int channels, int threads,
                       int simd, int64_t *sym, int32_t *loc, int32_t *scale)
{
    const size_t nb = (size_t)nblocks, per = (size_t)AR_BLOCK * AR_BLOCK;
    int64_t *y = malloc(sizeof *y * nb * per * AR_PARAMS);
    int64_t *base2 = malloc(sizeof *base2 * nb * per * 3);
    int32_t *lb = malloc(sizeof *lb * nb * per * 3), *jb = malloc(sizeof *jb * nb * per * 3);
    int64_t sa[3][128], sb[3][128];        /* adapt_buckets <= scale_max + 1 = 128 */
    int64_t k = -1;
    if (!y || !base2 || !lb || !jb || n->adapt_buckets > 128
        || ar_raw_all(n, nblocks, pix, known, tfeat, y, base2, threads, simd))
        goto done;
    const int64_t lim = n->loc_limit;
    for (size_t b = 0; b < nb; b++) {       /* ar_decode's rules, one block at a time */
        memset(sa, 0, sizeof sa);
        memset(sb, 0, sizeof sb);
        int64_t s[5] = {0}, e[3] = {0}, cb1 = 0, xsa = 0, xsb = 0;
        int64_t ss[3][4] = {{0}}, srow[3][AR_BLOCK] = {{0}};   /* spatial regression */
        const int32_t h = extent ? extent[2 * b] : AR_BLOCK, w = extent ? extent[2 * b + 1] : AR_BLOCK;
        for (size_t p = 0; p < per; p++) {
            const int32_t yy = (int32_t)(p / AR_BLOCK), xx = (int32_t)(p % AR_BLOCK);
            const int16_t *x = pix + b * AR_PIX_BLOCK
                               + ((size_t)(AR_CTX + yy) * AR_CROP_W + AR_CTX + xx) * 3;
            const int64_t *yb = y + (b * per + p) * AR_PARAMS, *b2 = base2 + (b * per + p) * 3;
            const size_t at = (b * per + p) * 3;
            const int inside = yy < h && xx < w;
            for (int c = 0; c < 3; c++) {      /* as ar_decode, from the known pixels */
                int64_t l = chain_loc(n, yb, b2[0], b2[1], b2[2], x[0], x[1], c);
                const int64_t chained = l;
                const int32_t jn = (int32_t)clamp64(yb[3 + c], 0, n->scale_max);
                const int coded = inside && c < channels;
                if (coded && n->creg && c > 0) {    /* the block's colour regression */
                    const int32_t jr = (int32_t)clamp64(yb[3], 0, n->scale_max);
                    const int32_t jg = (int32_t)clamp64(yb[4], 0, n->scale_max);
                    if (c == 1) {
                        l = clamp64(l + creg_shift(n, s[1], s[0], jr, e[0]), -lim, lim);
                    } else {
                        cb1 = l + creg_shift(n, s[2], s[0], jr, e[0]);
                        l = clamp64(cb1 + creg_shift(n, s[4], s[3], jg, e[1]), -lim, lim);
                    }
                }
                const int64_t l1 = l;
                int64_t l2 = l, w = 0, up = 0;
                if (coded && n->sreg) {             /* the block's spatial regression */
                    w = xx > 0 ? srow[c][xx - 1] : 0;
                    up = srow[c][xx];
                    l2 = l + sreg_shift(n, ss[c][1], ss[c][0], jn, w);
                    l = clamp64(l2 + sreg_shift(n, ss[c][3], ss[c][2], jn, up), -lim, lim);
                }
                lb[at + c] = (int32_t)l;
                jb[at + c] = jn;
                if (!coded) continue;
                const int32_t q = jn >> n->adapt_shift;
                if (n->adapt) {
                    int32_t ja = adapt_scale(n, sa[c][q], sb[c][q], jn);
                    if (n->xadapt)
                        ja = (int32_t)clamp64(ja + cross_shift(n, c, xsa, xsb, jn), 0,
                                              n->scale_max);
                    jb[at + c] = ja;
                }
                /* what the decoder's sums gain once this colour is popped */
                if (n->creg) {
                    if (c == 0) {
                        e[0] = creg_err(n, x[0], l1);
                    } else if (c == 1) {
                        e[1] = creg_err(n, x[1], l1);
                        e[2] = creg_err(n, x[1], chained);
                    } else {
                        const int64_t e0 = creg_err(n, x[2], chained), e1 = creg_err(n, x[2], cb1);
                        s[0] += e[0] * e[0];
                        s[1] += e[2] * e[0];
                        s[2] += e0 * e[0];
                        s[3] += e[1] * e[1];
                        s[4] += e1 * e[1];
                    }
                }
                if (n->sreg) {
                    const int64_t u = sreg_err(n, x[c], l1), v = sreg_err(n, x[c], l2);
                    ss[c][0] += w * w;
                    ss[c][1] += u * w;
                    ss[c][2] += up * up;
                    ss[c][3] += v * up;
                    srow[c][xx] = u;
                }
                if (n->adapt) {
                    const int64_t ec = clip_error(n, x[c], l);
                    sa[c][q] += ec;
                    sb[c][q] += n->adapt_mad[jn];
                    if (c == 0) xsa = xsb = 0;
                    xsa += ec;
                    xsb += n->adapt_mad[jn];
                }
            }
        }
    }
    k = 0;          /* the decoder's pop order: pixels in raster order, colours, blocks */
    for (size_t p = 0; p < per; p++) {
        const int32_t yy = (int32_t)(p / AR_BLOCK), xx = (int32_t)(p % AR_BLOCK);
        for (int c = 0; c < channels; c++) {
            for (size_t b = 0; b < nb; b++) {
                if (extent && (yy >= extent[2 * b] || xx >= extent[2 * b + 1])) continue;
                const size_t at = (b * per + p) * 3 + (size_t)c;
                sym[k] = pix[b * AR_PIX_BLOCK + ((size_t)(AR_CTX + yy) * AR_CROP_W + AR_CTX + xx) * 3
                             + (size_t)c];
                loc[k] = lb[at];
                scale[k] = tail_scale(n, jb[at]);
                k++;
            }
        }
    }
done:
    free(y);
    free(base2);
    free(lb);
    free(jb);
    return k;
}

/* ---- colour regression of known blocks (the encoder's view) ------------------------------- */

void ar_regress_all(const ar_net *n, int64_t nblocks, const int64_t *x, const int64_t *loc,
                    const int64_t *j, const uint8_t *coded, int64_t *out)
{
    const size_t per = (size_t)AR_BLOCK * AR_BLOCK;
    const int64_t lim = n->loc_limit;
    memcpy(out, loc, sizeof *out * (size_t)nblocks * 3 * per);
    for (size_t b = 0; b < (size_t)nblocks; b++) {
        const size_t R = b * 3 * per, G = R + per, B = G + per;
        int64_t rr = 0, gr = 0, br = 0, gg = 0, bg = 0;
        for (size_t p = 0; p < per; p++) {
            if (coded && !(coded[R + p] && coded[G + p] && coded[B + p])) continue;
            const int32_t jr = (int32_t)j[R + p], jg = (int32_t)j[G + p];
            const int64_t r = creg_err(n, x[R + p], loc[R + p]);
            const int64_t gl = clamp64(loc[G + p] + creg_shift(n, gr, rr, jr, r), -lim, lim);
            const int64_t g = creg_err(n, x[G + p], gl);
            const int64_t b1 = loc[B + p] + creg_shift(n, br, rr, jr, r);
            out[G + p] = gl;
            out[B + p] = clamp64(b1 + creg_shift(n, bg, gg, jg, g), -lim, lim);
            rr += r * r;
            gr += creg_err(n, x[G + p], loc[G + p]) * r;
            br += creg_err(n, x[B + p], loc[B + p]) * r;
            gg += g * g;
            bg += creg_err(n, x[B + p], b1) * g;
        }
    }
}

/* ---- spatial regression of known blocks (the encoder's view) ------------------------------ */

void ar_spatial_all(const ar_net *n, int64_t nblocks, const int64_t *x, const int64_t *loc,
                    const int64_t *j, const uint8_t *coded, int64_t *out)
{
    const size_t per = (size_t)AR_BLOCK * AR_BLOCK;
    const int64_t lim = n->loc_limit;
    for (size_t bc = 0; bc < (size_t)nblocks * 3; bc++) {
        int64_t ww = 0, uw = 0, nn = 0, vn = 0, row[AR_BLOCK] = {0};
        for (size_t p = bc * per; p < (bc + 1) * per; p++) {
            const int32_t xx = (int32_t)((p - bc * per) % AR_BLOCK);
            if (coded && !coded[p]) {       /* not pushed: error 0, the sums gain nothing */
                out[p] = loc[p];
                row[xx] = 0;
                continue;
            }
            const int32_t jc = (int32_t)j[p];
            const int64_t w = xx > 0 ? row[xx - 1] : 0, up = row[xx];
            const int64_t l2 = loc[p] + sreg_shift(n, uw, ww, jc, w);
            out[p] = clamp64(l2 + sreg_shift(n, vn, nn, jc, up), -lim, lim);
            const int64_t u = sreg_err(n, x[p], loc[p]), v = sreg_err(n, x[p], l2);
            ww += w * w;
            uw += u * w;
            nn += up * up;
            vn += v * up;
            row[xx] = u;
        }
    }
}
