/*
 * The two MAC-heavy parts of attention on int8 rows, in integers: the scores q . h_j and the
 * weighted sum p . h, both over int8 codes (the caller applies the scales once per score and
 * once per output); emb_attention_row_q8 is one attention row built on them. The _ref functions are
 * the reference; the plain names here are the portable twins (fixed-length inner chunks gcc -O2
 * vectorizes); firmware/runtime/arm_dsp/ has the DSP ones.
 */
#include "emb_quant.h"

void emb_attn_scores_q8_ref(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d,
                            int32_t *out)
{
    for (uint32_t j = 0; j < n; ++j) {
        const int8_t *h = rows + (size_t)j * d; /* (d) */
        int32_t s = 0;
        for (uint32_t i = 0; i < d; ++i) {
            s += (int32_t)q[i] * (int32_t)h[i];
        }
        out[j] = s;
    }
}

void emb_attn_wsum_q8_ref(const int8_t *p, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out)
{
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0;
    }
    for (uint32_t j = 0; j < n; ++j) {
        const int8_t *h = rows + (size_t)j * d; /* (d) */
        for (uint32_t i = 0; i < d; ++i) {
            out[i] += (int32_t)p[j] * (int32_t)h[i];
        }
    }
}

void emb_attention_row_q8(const float *q, const emb_act_t *kv, uint32_t n, float *scores,
                          int8_t *codes, int32_t *sums, float *out)
{
    const uint32_t d = kv->d;
    if (kv->q8 == NULL) {
        emb_attention_row_f32(q, kv, n, scores, out);
        return;
    }
    if (n == 0u) {
        for (uint32_t i = 0; i < d; ++i) {
            out[i] = 0.0f; /* no keys: a fully masked row is 0 */
        }
        return;
    }
    const float qs = emb_quantize_row_q8(q, d, codes);
    emb_attn_scores_q8(codes, kv->q8, n, d, sums);
    const float inv_sqrt_d = 1.0f / sqrtf((float)d);
    float smax = -INFINITY;
    for (uint32_t j = 0; j < n; ++j) {
        const float s = ((float)sums[j] * (qs * kv->scales[j])) * inv_sqrt_d;
        scores[j] = s;
        smax = s > smax ? s : smax;
    }
    float total = 0.0f;
    for (uint32_t j = 0; j < n; ++j) {
        const float p = emb_exp_f32(scores[j] - smax); /* <= 1: no overflow */
        total += p;
        scores[j] = p * kv->scales[j]; /* the row scale folded into the weight */
    }
    const float ws = emb_quantize_row_q8(scores, n, codes);
    emb_attn_wsum_q8(codes, kv->q8, n, d, sums);
    const float f = ws / total; /* total >= 1: the max term is exp(0) */
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = (float)sums[i] * f;
    }
}

#if !EMB_KERNELS_ARM_DSP

#define EMB_CHUNK 16u /* values per vectorized chunk: one 128-bit vector of int8 */

void emb_attn_scores_q8(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out)
{
    const uint32_t d16 = d & ~(EMB_CHUNK - 1u);
    for (uint32_t j = 0; j < n; ++j) {
        const int8_t *h = rows + (size_t)j * d; /* (d) */
        int32_t s = 0;
        uint32_t i = 0;
        for (; i < d16; i += EMB_CHUNK) {
            int32_t c = 0;
            for (uint32_t k = 0; k < EMB_CHUNK; ++k) {
                c += (int32_t)q[i + k] * (int32_t)h[i + k];
            }
            s += c;
        }
        for (; i < d; ++i) {
            s += (int32_t)q[i] * (int32_t)h[i];
        }
        out[j] = s;
    }
}

/* restrict: int8_t is a character type, so without it every store to out may alias rows. */
void emb_attn_wsum_q8(const int8_t *restrict p, const int8_t *restrict rows, uint32_t n, uint32_t d,
                      int32_t *restrict out)
{
    const uint32_t d16 = d & ~(EMB_CHUNK - 1u);
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0;
    }
    for (uint32_t j = 0; j < n; ++j) {
        const int8_t *h = rows + (size_t)j * d; /* (d) */
        const int32_t pj = p[j];
        uint32_t i = 0;
        for (; i < d16; i += EMB_CHUNK) {
            for (uint32_t k = 0; k < EMB_CHUNK; ++k) {
                out[i + k] += pj * (int32_t)h[i + k];
            }
        }
        for (; i < d; ++i) {
            out[i] += pj * (int32_t)h[i];
        }
    }
}

#endif /* !EMB_KERNELS_ARM_DSP */
