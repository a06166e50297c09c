/* Context-mixing byte model (see hmm_cm.h and format_spec/codec-text.md section 3.4).
 * Right shifts of negative int64 values are arithmetic (floor), as in Python: gcc and clang
 * define them so on every target this project builds for. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hmm_cm.h"

#define NCTX 10                   /* counters: o0, o1, o2, o3, o4, o6, word, column, sparse, field */
#define NHASHED 8                 /* of which hashed into buckets: o2 .. field */
#define COUNT_LIMIT 12           /* counters adapt at rate 1/(n + 1.5), n capped here */
#define MATCH_LIMIT 1023
#define MIXER_SETS (256 * 3)      /* partial byte x match state (none, short, long) */
#define MIXER2_SETS (256 * 8)
#define WEIGHT_MAX (1 << 22)
#define APM_RATE 7
#define PHI 0x9E3779B97F4A7C15ull
#define NIB 0xD6E8FEB86659FD93ull

static int16_t stretch_tab[4096];
static uint32_t rec_tab[1024];    /* 2^17 // (2n + 3): 2^16 / (n + 1.5) */
static int tables_ready;

/* 4096 / (1 + e^(-d/256)) for d in [-2047, 2047], by interpolation in a 33-entry table. */
static int squash(int d)
{
    static const int t[33] = {1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101,
                              1546, 2047, 2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050,
                              4068, 4079, 4085, 4089, 4092, 4093, 4094};
    if (d > 2047) return 4095;
    if (d < -2047) return 1;
    const int u = d + 2048, i = u >> 7, w = u & 127;
    return (t[i] * (128 - w) + t[i + 1] * w + 64) >> 7;
}

static void init_tables(void)
{
    if (tables_ready) return;
    int pi = 0;
    for (int d = -2047; d <= 2047; d++) {
        const int v = squash(d);
        for (int i = pi; i <= v; i++) stretch_tab[i] = (int16_t)d;
        if (v + 1 > pi) pi = v + 1;
    }
    for (int i = pi; i < 4096; i++) stretch_tab[i] = 2047;
    for (int n = 0; n < 1024; n++) rec_tab[n] = (uint32_t)((1u << 17) / (2u * n + 3u));
    __atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
}

static inline int stretch(int p) { return stretch_tab[p]; }

struct hmm_cm {
    int bits;                     /* hashed tables: 2^bits buckets of 16 counters each */
    int cap_bits, cap_mbits;      /* what the tables have room for (>= bits, mbits) */
    uint32_t *o0, *o1;            /* direct: 256 and 65536 counters */
    uint32_t *hashed[NHASHED];
    uint64_t ctxhash[NHASHED];    /* per byte: the context's hash */
    uint32_t *slot[NCTX];         /* counters in use for this bit */
    uint32_t *bucket[NHASHED];    /* this nibble's bucket */
    /* word and column state */
    uint64_t word;
    uint64_t field;               /* hash of the current field's bytes */
    int64_t nfield;               /* separators since the line start */
    int64_t line_start, prev_line_start;
    /* match model */
    uint32_t *mtable;             /* hash of the last MATCH_MIN bytes -> position + 1 */
    int mbits;
    int64_t mptr, mlen;
    int mbyte;                    /* predicted byte, -1 = none (or it failed in this byte) */
    uint32_t mcount[16 * 2];      /* counters by (min(len, 15), expected bit) */
    uint32_t *mslot;
    int mexp;
    /* mixer */
    int32_t *weights;             /* MIXER_SETS x HMM_CM_INPUTS */
    int32_t x[HMM_CM_INPUTS];
    int wset;
    int wset2;
    int32_t *weights2;
    int pmix;
    int lr;                       /* weight step: x * err * lr >> 16 */
    int lr_now;                   /* lr (1 + 2 * 2^14 / (t + 2^14)): faster while young */
    /* APM on the order-1 context: 65536 x 33 */
    uint16_t *apm;
    int apm_idx;
    int p;                        /* final prediction */
    /* byte state */
    int c0;                       /* partial byte with a leading 1 */
    int bitpos;
    int c1;                       /* previous byte */
};

static int bits_for(int64_t T)
{
    int b = 0;
    while ((1ll << b) < T) b++;
    b -= 1;
    return b < 8 ? 8 : b > HMM_CM_MAX_BITS ? HMM_CM_MAX_BITS : b;
}

static int mbits_for(int64_t T)
{
    int b = 0;
    while ((1ll << b) < T) b++;
    return b < 10 ? 10 : b > 22 ? 22 : b;
}

int64_t hmm_cm_bytes(int64_t T)
{
    const int64_t counters = 256 + 65536 + (int64_t)NHASHED * (16ll << bits_for(T));
    return 4 * counters + 4ll * (1ll << mbits_for(T)) + 4ll * (MIXER_SETS + MIXER2_SETS) * HMM_CM_INPUTS +
           2ll * 65536 * 33 + (int64_t)sizeof(hmm_cm);
}

/* The hashed tables are read at random, 16 lookups a byte: each bucket in one cache line
 * (64-byte aligned) and, where the system allows, 2 MiB pages so the lookups do not also miss
 * the TLB. Neither changes a single number the model computes. */
static void *table_alloc(size_t bytes)
{
    const size_t align = bytes >= (2u << 20) ? (2u << 20) : 64;
    void *p = NULL;
    if (posix_memalign(&p, align, (bytes + align - 1) / align * align) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void fill(uint32_t *p, int64_t n, uint32_t v)
{
    for (int64_t i = 0; i < n; i++) p[i] = v;
}

#define COUNTER_INIT (1u << 31)   /* p = 1/2, n = 0 */

/* The tables of the last model freed, kept for the next one (one per process): fresh memory
 * costs page faults and the kernel's zeroing of every page, which took a tenth of the coder's
 * time; refilling kept tables costs only the fill. Capacities (cap_bits, cap_mbits) may exceed
 * what a segment uses; a model uses exactly 2^bits buckets and 2^mbits match slots, so the
 * numbers never depend on what was reused. */
static hmm_cm *spare;

static void release(hmm_cm *cm)
{
    if (!cm) return;
    free(cm->o0);
    free(cm->o1);
    for (int i = 0; i < NHASHED; i++) free(cm->hashed[i]);
    free(cm->mtable);
    free(cm->weights);
    free(cm->weights2);
    free(cm->apm);
    free(cm);
}

static hmm_cm *allocate(int bits, int mbits)
{
    hmm_cm *cm = calloc(1, sizeof *cm);
    if (!cm) return NULL;
    cm->cap_bits = bits;
    cm->cap_mbits = mbits;
    const int64_t hn = 16ll << bits;
    int ok = 1;
    ok &= (cm->o0 = malloc(4 * 256)) != NULL;
    ok &= (cm->o1 = malloc(4 * 65536)) != NULL;
    for (int i = 0; i < NHASHED; i++) ok &= (cm->hashed[i] = table_alloc(4 * hn)) != NULL;
    ok &= (cm->mtable = table_alloc((size_t)4 << mbits)) != NULL;
    ok &= (cm->weights = malloc(4 * MIXER_SETS * HMM_CM_INPUTS)) != NULL;
    ok &= (cm->weights2 = malloc(4 * MIXER2_SETS * HMM_CM_INPUTS)) != NULL;
    ok &= (cm->apm = table_alloc(2 * 65536 * 33)) != NULL;
    if (!ok) {
        release(cm);
        return NULL;
    }
    return cm;
}

hmm_cm *hmm_cm_new(int64_t T, int lr)
{
    if (lr < 1 || lr > HMM_CM_LR_MAX) return NULL;
    init_tables();
    const int bits = bits_for(T), mbits = mbits_for(T);
    hmm_cm *cm = __atomic_exchange_n(&spare, NULL, __ATOMIC_ACQ_REL);
    if (cm && (cm->cap_bits < bits || cm->cap_mbits < mbits)) {
        release(cm);
        cm = NULL;
    }
    if (!cm && !(cm = allocate(bits, mbits))) return NULL;
    /* every field to its start: zero, then the tables and the few nonzero starts */
    hmm_cm keep = *cm;
    memset(cm, 0, sizeof *cm);
    cm->cap_bits = keep.cap_bits;
    cm->cap_mbits = keep.cap_mbits;
    cm->o0 = keep.o0;
    cm->o1 = keep.o1;
    for (int i = 0; i < NHASHED; i++) cm->hashed[i] = keep.hashed[i];
    cm->mtable = keep.mtable;
    cm->weights = keep.weights;
    cm->weights2 = keep.weights2;
    cm->apm = keep.apm;
    cm->bits = bits;
    cm->mbits = mbits;
    const int64_t hn = 16ll << bits;
    fill(cm->o0, 256, COUNTER_INIT);
    fill(cm->o1, 65536, COUNTER_INIT);
    for (int i = 0; i < NHASHED; i++) fill(cm->hashed[i], hn, COUNTER_INIT);
    fill(cm->mcount, 32, COUNTER_INIT);
    memset(cm->mtable, 0, (size_t)4 << mbits);
    for (int i = 0; i < MIXER_SETS * HMM_CM_INPUTS; i++) cm->weights[i] = 1 << 14;
    for (int i = 0; i < MIXER2_SETS * HMM_CM_INPUTS; i++) cm->weights2[i] = 1 << 14;
    for (int c = 0; c < 65536; c++)
        for (int j = 0; j < 33; j++) cm->apm[c * 33 + j] = (uint16_t)(squash((j - 16) * 128) * 16);
    cm->mptr = -1;
    cm->mbyte = -1;
    cm->lr = lr;
    return cm;
}

void hmm_cm_free(hmm_cm *cm)
{
    if (!cm) return;
    release(__atomic_exchange_n(&spare, cm, __ATOMIC_ACQ_REL));
}

static inline int is_letter(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static inline uint32_t *bucket_of(const hmm_cm *cm, int i, uint64_t nib)
{
    const uint64_t h = ((cm->ctxhash[i] ^ (nib * NIB)) * PHI) >> (64 - cm->bits);
    return cm->hashed[i] + (h << 4);
}

/* Where the next bit's counters and APM row are, asked for ahead of use: the buckets of a
 * nibble (c0 = 1 at bit 0, 1hhhh at bit 4) and the APM row of (c1, c0). Only loads move. */
static inline void find_buckets(hmm_cm *cm, uint64_t nib)
{
    for (int i = 0; i < NHASHED; i++) {
        cm->bucket[i] = bucket_of(cm, i, nib);
        __builtin_prefetch(cm->bucket[i]);
    }
}

static inline void prefetch_bit(const hmm_cm *cm)
{
    const uint16_t *row = cm->apm + (cm->c1 << 8 | cm->c0) * 33;
    __builtin_prefetch(row);
    __builtin_prefetch(row + 32);
    __builtin_prefetch(cm->o1 + (cm->c1 << 8 | cm->c0));
}

void hmm_cm_begin(hmm_cm *cm, const uint8_t *data, int64_t t)
{
    const int c1 = t > 0 ? data[t - 1] : 0;
    /* word and line state, from the byte just coded */
    if (t > 0) {
        if (is_letter(c1)) cm->word = (cm->word + (uint64_t)(c1 | 32) + 1) * 0x2F0F3D8Bull;
        else cm->word = 0;
        if (c1 == '\n') {
            cm->prev_line_start = cm->line_start;
            cm->line_start = t;
            cm->nfield = 0;
            cm->field = 0;
        } else if (c1 == ',' || c1 == ';' || c1 == '\t' || c1 == '|') {
            cm->nfield++;
            cm->field = 0;
        } else {
            cm->field = (cm->field + (uint64_t)c1 + 1) * 0x2F0F3D8Bull;
        }
    }
    uint64_t key = 0;
    for (int k = 1; k <= 6; k++) {
        key |= (uint64_t)(t >= k ? data[t - k] : 0) << (8 * (k - 1));
        if (k == 2) cm->ctxhash[0] = (key + (2ull << 56)) * PHI;
        if (k == 3) cm->ctxhash[1] = (key + (3ull << 56)) * PHI;
        if (k == 4) cm->ctxhash[2] = (key + (4ull << 56)) * PHI;
        if (k == 6) cm->ctxhash[3] = (key + (6ull << 56)) * PHI;
    }
    cm->ctxhash[4] = ((cm->word << 8) + (uint64_t)c1 + (7ull << 56)) * PHI;
    const int64_t col = t - cm->line_start;
    const int64_t up = cm->prev_line_start + col;
    const int above = up < cm->line_start ? data[up] : 0;
    const uint64_t ccol = (uint64_t)(col < 255 ? col : 255);
    cm->ctxhash[5] = (((uint64_t)above << 16 | ccol << 8 | (uint64_t)c1) + (8ull << 56)) * PHI;
    cm->ctxhash[6] = ((key & 0xFFFF00FF00ull) + (9ull << 56)) * PHI;
    cm->ctxhash[7] = ((cm->field << 8) + (uint64_t)(cm->nfield < 255 ? cm->nfield : 255) + (10ull << 56)) * PHI;   /* sparse: x[t-2], x[t-4], x[t-5] */
    /* match model: follow the match, or look one up */
    if (cm->mlen > 0 && cm->mbyte == c1 && cm->mptr >= 0) {
        cm->mptr++;
        if (cm->mlen < HMM_CM_MATCH_MAX) cm->mlen++;
    } else {
        cm->mlen = 0;
    }
    if (t >= HMM_CM_MATCH_MIN) {
        uint64_t mk = 0;
        for (int k = 1; k <= HMM_CM_MATCH_MIN; k++) mk |= (uint64_t)data[t - k] << (8 * (k - 1));
        const uint64_t h = (mk * PHI) >> (64 - cm->mbits);
        if (cm->mlen == 0 && cm->mtable[h]) {
            const int64_t q = (int64_t)cm->mtable[h] - 1;
            int64_t n = 0;
            while (n < HMM_CM_MATCH_MAX && q - n - 1 >= 0 && data[q - n - 1] == data[t - n - 1])
                n++;
            if (n >= HMM_CM_MATCH_MIN) {
                cm->mptr = q;
                cm->mlen = n;
            }
        }
        cm->mtable[h] = (uint32_t)(t + 1);
    }
    cm->mbyte = cm->mlen > 0 ? data[cm->mptr] : -1;
    cm->c0 = 1;
    cm->bitpos = 0;
    cm->c1 = c1;
    find_buckets(cm, 0);
    prefetch_bit(cm);
    cm->lr_now = cm->lr + (int)((int64_t)cm->lr * 2 * 16384 / (t + 16384));
}

static inline int counter_p(uint32_t s) { return (int)(s >> 20); }   /* 12 bits of p22 */

static inline void counter_update(uint32_t *s, int y, int limit)
{
    const int64_t p = *s >> 10, n = *s & 1023;
    const int64_t target = y ? (1 << 22) - 1 : 0;
    const int64_t np = p + (((target - p) * (int64_t)rec_tab[n]) >> 16);
    *s = (uint32_t)(np << 10 | (n < limit ? n + 1 : n));
}

int hmm_cm_predict(hmm_cm *cm)
{
    const int c0 = cm->c0;
    /* index inside the 16-counter bucket: the nibble's bits so far with a leading 1 */
    const int in = cm->bitpos < 4 ? c0 : ((c0 & ((1 << (cm->bitpos - 4)) - 1)) |
                                          (1 << (cm->bitpos - 4)));
    cm->slot[0] = cm->o0 + c0;
    cm->slot[1] = cm->o1 + (cm->c1 << 8 | c0);
    for (int i = 0; i < NHASHED; i++) cm->slot[2 + i] = cm->bucket[i] + in;
    for (int i = 0; i < NCTX; i++) cm->x[i] = stretch(counter_p(*cm->slot[i]));
    /* match model */
    int mstate = 0;
    cm->mslot = NULL;
    if (cm->mbyte >= 0 && ((cm->mbyte | 256) >> (8 - cm->bitpos)) == c0) {
        cm->mexp = (cm->mbyte >> (7 - cm->bitpos)) & 1;
        const int64_t l = cm->mlen < 15 ? cm->mlen : 15;
        cm->mslot = cm->mcount + (l << 1 | cm->mexp);
        cm->x[NCTX] = stretch(counter_p(*cm->mslot));
        mstate = cm->mlen < 16 ? 1 : 2;
    } else {
        cm->x[NCTX] = 0;
    }
    cm->x[NCTX + 1] = 256;
    cm->wset = (mstate * 256 + c0) * HMM_CM_INPUTS;
    cm->wset2 = (cm->c1 << 3 | cm->bitpos) * HMM_CM_INPUTS;
    const int32_t *w = cm->weights + cm->wset, *w2 = cm->weights2 + cm->wset2;
    /* the two sets' outputs are only ever added: one pass, w + w2 < 2^23 fits 32 bits */
    int64_t dot = 0;
    for (int i = 0; i < HMM_CM_INPUTS; i++) dot += (int64_t)(w[i] + w2[i]) * cm->x[i];
    dot >>= 17;
    const int d = dot > 2047 ? 2047 : dot < -2047 ? -2047 : (int)dot;
    cm->pmix = squash(d);
    /* APM on (previous byte, partial byte) */
    const int s = stretch(cm->pmix) + 2048, lo = s >> 7, wt = s & 127;
    const int base = (cm->c1 << 8 | c0) * 33 + lo;
    const int pa = (cm->apm[base] * (128 - wt) + cm->apm[base + 1] * wt) >> 11;
    cm->apm_idx = base + (wt >> 6);
    int p = (cm->pmix + 3 * pa) >> 2;
    p = p < 1 ? 1 : p > 4095 ? 4095 : p;
    cm->p = p;
    return p;
}

void hmm_cm_update(hmm_cm *cm, int y)
{
    for (int i = 0; i < NCTX; i++) counter_update(cm->slot[i], y, COUNT_LIMIT);
    if (cm->mslot) {
        counter_update(cm->mslot, y, MATCH_LIMIT);
        if (cm->mexp != y) cm->mbyte = -1;                    /* no prediction for the rest */
    }
    /* 32-bit arithmetic is exact here: |err| <= 4095 * 3 lr < 2^20 (lr <= HMM_CM_LR_MAX), so
     * |x err| < 2^31, and one step moves a weight by the same amount in both sets */
    const int32_t err = ((y << 12) - cm->pmix) * cm->lr_now;
    int32_t *restrict w2 = cm->weights2 + cm->wset2, *restrict w = cm->weights + cm->wset;
    for (int i = 0; i < HMM_CM_INPUTS; i++) {
        const int32_t d = (cm->x[i] * err) >> 16;
        const int32_t v2 = w2[i] + d, v = w[i] + d;
        w2[i] = v2 > WEIGHT_MAX ? WEIGHT_MAX : v2 < -WEIGHT_MAX ? -WEIGHT_MAX : v2;
        w[i] = v > WEIGHT_MAX ? WEIGHT_MAX : v < -WEIGHT_MAX ? -WEIGHT_MAX : v;
    }
    const int g = (y << 16) + (y << APM_RATE) - y - y;
    cm->apm[cm->apm_idx] = (uint16_t)(cm->apm[cm->apm_idx] + ((g - cm->apm[cm->apm_idx]) >> APM_RATE));
    cm->c0 = cm->c0 << 1 | y;
    cm->bitpos++;
    if (cm->bitpos == 4) find_buckets(cm, (uint64_t)cm->c0);
    if (cm->bitpos < 8) prefetch_bit(cm);
}

void hmm_cm_byte(hmm_cm *cm, const uint8_t *data, int64_t t, int x, uint64_t *qcum, uint64_t *q)
{
    uint64_t m = 1ull << 32, cum = 0;
    hmm_cm_begin(cm, data, t);
    for (int k = 7; k >= 0; k--) {
        const int y = (x >> k) & 1;
        const uint64_t left = hmm_cm_left(m, hmm_cm_predict(cm));
        if (y) {
            cum += left;
            m -= left;
        } else {
            m = left;
        }
        hmm_cm_update(cm, y);
    }
    *qcum = cum;
    *q = m;
}

int hmm_cm_find_byte(hmm_cm *cm, const uint8_t *data, int64_t t, const uint32_t *ecum,
                     uint64_t lam, uint64_t cf, uint64_t *qcum, uint64_t *q)
{
    uint64_t mass = 1ull << 32, base = 0;
    int sym = 0;
    hmm_cm_begin(cm, data, t);
    for (int bit = 7; bit >= 0; bit--) {
        const uint64_t left = hmm_cm_left(mass, hmm_cm_predict(cm));
        const int mid = sym + (1 << bit);
        if (cf < hmm_cm_mixed_cum(lam, ecum[mid], base + left, (uint64_t)mid)) {
            mass = left;
            hmm_cm_update(cm, 0);
        } else {
            sym = mid;
            base += left;
            mass -= left;
            hmm_cm_update(cm, 1);
        }
    }
    *qcum = base;
    *q = mass;
    return sym;
}
