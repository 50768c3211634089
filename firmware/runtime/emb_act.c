/*
 * Activation rows in the arena: float rows, or int8 rows with one float scale per row
 * (a quarter of the RAM), quantized by the rule of emb_quant.h, and optionally their codes
 * transposed (emb_runtime.h: the attention's weighted sum reads columns).
 */
#include "emb_quant.h"

void emb_act_store_row(const emb_act_t *a, uint32_t row, const float *x)
{
    const uint32_t d = a->d;
    if (a->q8 == NULL) {
        float *dst = a->f32 + (size_t)row * d; /* (d) */
        for (uint32_t i = 0; i < d; ++i) {
            dst[i] = x[i];
        }
        return;
    }
    /* (d) int8 codes and their scale: the rule of emb_quant.h, by its twin (the same bits) */
    const int8_t *q = a->q8 + (size_t)row * d;
    a->scales[row] = emb_quantize_row_q8(x, d, a->q8 + (size_t)row * d);
    if (a->t8 != NULL) { /* the transposed copy: column `row` */
        int8_t *t = a->t8 + row;
        for (uint32_t i = 0; i < d; ++i, t += a->ld) {
            *t = q[i];
        }
    }
}

void emb_act_load_row(const emb_act_t *a, uint32_t row, float *x)
{
    const uint32_t d = a->d;
    if (a->q8 == NULL) {
        const float *src = a->f32 + (size_t)row * d; /* (d) */
        for (uint32_t i = 0; i < d; ++i) {
            x[i] = src[i];
        }
        return;
    }
    emb_dequant_i8(a->q8 + (size_t)row * d, a->scales[row], d, x);
}

#if !EMB_KERNELS_ARM_DSP
float emb_quantize_row_q8(const float *x, uint32_t n, int8_t *q)
{
    return emb_quantize_row_q8_ref(x, n, q); /* a true division per value: nothing to vectorize */
}
#endif
