/* Context-mixing byte model of the text codec's payload variant 3 (format_spec/codec-text.md 3.4).
 *
 * Predicts a byte bit by bit, most significant first, as lpaq/zpaq do: ten predictors (orders
 * 0 and 1 direct; orders 2, 3, 4 and 6, the current word, the column/byte-above context of
 * tables, a sparse context and the field of a separated record (field number and the bytes so
 * far), hashed into buckets of 16 counters, one bucket per nibble) and a
 * match model, mixed in the logistic domain by two weight sets (one chosen by the partial byte
 * and the match state, one by the previous byte and the bit position) with weights learned
 * online, then refined by an adaptive probability map on the order-1 context.
 * Everything is integer arithmetic (probabilities in 12 bits, counters in 22 bits), so encoder
 * and decoder compute the same numbers on any machine; archiver/models/hmm_cm_reference.py is an
 * independent Python transcription the tests compare against.
 *
 * The model turns its eight bit predictions into a byte distribution Q over 256 bytes with
 * exact integer masses summing to 2^32 (hmm_cm_node below): the text codec mixes Q with the
 * HMM's emission table of the hidden state (hmm_core.h, variant 3). Memory: a fixed set of
 * tables sized by the segment length (at most HMM_CM_MAX_BITS bits of buckets per context).
 */
#ifndef BBX_HMM_CM_H
#define BBX_HMM_CM_H

#include <stdint.h>

#define HMM_CM_INPUTS 12          /* 10 context counters, the match model, a bias */
#define HMM_CM_MAX_BITS 17        /* hashed contexts: at most 2^17 buckets of 16 counters */
#define HMM_CM_MATCH_MIN 5        /* bytes hashed to find a match */
#define HMM_CM_MATCH_MAX 63       /* match length cap */

typedef struct hmm_cm hmm_cm;

/* A model for a segment of T bytes, mixer step lr (HMM_CM_LR in the format, 1..HMM_CM_LR_MAX);
 * NULL when out of memory or lr is out of range. */
#define HMM_CM_LR 24
#define HMM_CM_LR_MAX 64          /* larger steps would overflow the 32-bit weight update */
hmm_cm *hmm_cm_new(int64_t T, int lr);
void hmm_cm_free(hmm_cm *cm);
/* Bytes of memory the model holds for a segment of T bytes. */
int64_t hmm_cm_bytes(int64_t T);

/* Start position t: the contexts from data[0..t) (call for t = 0, 1, 2, ... in order). */
void hmm_cm_begin(hmm_cm *cm, const uint8_t *data, int64_t t);
/* The 12-bit probability (1..4095) that the next bit of the byte is 1. */
int hmm_cm_predict(hmm_cm *cm);
/* Learn the bit y of the byte (after hmm_cm_predict). */
void hmm_cm_update(hmm_cm *cm, int y);

/* Byte masses: a node of the binary tree over bytes with mass m (the root has 2^32) splits
 * into mass (m * (4096 - p)) >> 12 for bit 0 and the rest for bit 1, p = hmm_cm_predict. */
static inline uint64_t hmm_cm_left(uint64_t m, int p) { return (m * (uint64_t)(4096 - p)) >> 12; }

/* Code byte x at position t (hmm_cm_begin, then predict/update along x's bits): the mass
 * below x, Qcum(x) = sum_{b < x} Q(b), and Q(x). */
void hmm_cm_byte(hmm_cm *cm, const uint8_t *data, int64_t t, int x, uint64_t *qcum, uint64_t *q);

/* The mixed emission of variants 3 and 4 (format_spec/codec-text.md 3.4): cumulative frequency
 * C(b) = b + floor(F(b) (2^24 - 256) / 2^48), F(b) = lam 2^16 Ecum(b) + (2^16 - lam) Qcum(b). */
static inline uint64_t hmm_cm_mixed_cum(uint64_t lam, uint64_t ecum, uint64_t qcum, uint64_t b)
{
    const unsigned __int128 f = (unsigned __int128)((lam << 16) * ecum) +
                                (unsigned __int128)((65536u - lam) * qcum);
    return b + (uint64_t)((f * ((1u << 24) - 256u)) >> 48);
}

/* Decoder: the byte at position t whose mixed interval holds the rANS slot cf, found by walking
 * the model's tree (comparing cf with C at each node's middle) while the model learns it;
 * ecum is the HMM state's cumulative emission row (257 entries). *qcum and *q as hmm_cm_byte. */
int hmm_cm_find_byte(hmm_cm *cm, const uint8_t *data, int64_t t, const uint32_t *ecum,
                     uint64_t lam, uint64_t cf, uint64_t *qcum, uint64_t *q);

#endif
