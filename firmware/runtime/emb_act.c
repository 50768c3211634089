/*
 * Activation rows in the arena: float rows, or int8 rows with one float scale per row
 * (a quarter of the RAM). int8: scale = max|x| / 127, q = clamp(rhe(x / scale), -127, 127);
 * a zero row (or one whose scale underflows to 0) stores scale 0 and q = 0.
 */
#include "emb_internal.h"

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
    int8_t *q = a->q8 + (size_t)row * d; /* (d) */
    float amax = 0.0f;
    for (uint32_t i = 0; i < d; ++i) {
        const float v = fabsf(x[i]);
        amax = v > amax ? v : amax;
    }
    const float scale = amax / (float)EMB_QMAX;
    a->scales[row] = scale;
    if (!(scale > 0.0f)) { /* zero row, underflow or NaN: no division by zero */
        a->scales[row] = 0.0f;
        for (uint32_t i = 0; i < d; ++i) {
            q[i] = 0;
        }
        return;
    }
    for (uint32_t i = 0; i < d; ++i) {
        /* a true division (not x * (1 / scale)) keeps this bit-exact with the reference */
        float v = x[i] / scale;
        v = v > (float)EMB_QMAX ? (float)EMB_QMAX : v;
        v = v < -(float)EMB_QMAX ? -(float)EMB_QMAX : v;
        q[i] = (int8_t)emb_round_half_even(v);
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
    const int8_t *q = a->q8 + (size_t)row * d; /* (d) */
    const float scale = a->scales[row];
    for (uint32_t i = 0; i < d; ++i) {
        x[i] = (float)q[i] * scale;
    }
}
