/*
 * Fused single-head attention for one query row, streaming over the n keys:
 * scores (n) in scratch, a stable softmax (max subtracted), then the weighted sum of rows.
 * K = V = the kv rows (EmbBERT has no K/V projections); nothing of size n x n exists.
 */
#include "emb_internal.h"

/* scores[j] = q . kv_j / sqrt(d), j < n; returns max_j scores[j]. */
static float emb_attention_scores(const float *q, const emb_act_t *kv, uint32_t n, float *scores)
{
    const uint32_t d = kv->d;
    const float inv_sqrt_d = 1.0f / sqrtf((float)d);
    float smax = -INFINITY;
    for (uint32_t j = 0; j < n; ++j) {
        float s;
        if (kv->q8 != NULL) { /* int8 row: one scale per row, applied once */
            s = kv->scales[j] * emb_dot_q8_f32(kv->q8 + (size_t)j * d, q, d);
        } else {
            s = emb_dot_f32(kv->f32 + (size_t)j * d, q, d);
        }
        s *= inv_sqrt_d;
        scores[j] = s;
        smax = s > smax ? s : smax;
    }
    return smax;
}

void emb_attention_row_f32(const float *q, const emb_act_t *kv, uint32_t n, float *scores,
                           float *out)
{
    const uint32_t d = kv->d;
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0.0f;
    }
    if (n == 0u) {
        return; /* no keys: a fully masked row is 0 */
    }
    const float smax = emb_attention_scores(q, kv, n, scores);
    float total = 0.0f;
    for (uint32_t j = 0; j < n; ++j) {
        const float p = emb_exp_f32(scores[j] - smax); /* <= 1: no overflow */
        total += p;
        if (kv->q8 != NULL) {
            const float pw = p * kv->scales[j]; /* fold the row scale into the weight */
            const int8_t *v = kv->q8 + (size_t)j * d;
            for (uint32_t i = 0; i < d; ++i) {
                out[i] += pw * (float)v[i];
            }
        } else {
            const float *v = kv->f32 + (size_t)j * d;
            for (uint32_t i = 0; i < d; ++i) {
                out[i] += p * v[i];
            }
        }
    }
    const float inv_total = 1.0f / total; /* total >= 1: the max term is exp(0) */
    for (uint32_t i = 0; i < d; ++i) {
        out[i] *= inv_total;
    }
}
