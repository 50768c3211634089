/*
 * embbert-mcu runtime: the activation quantization rule, written once (its Python mirror is
 * embbert_mcu/quant/actquant.py; both are tested bit-exact against each other).
 *
 * One scale per row of n values: scale = max|x| / 127 in float32; q = clamp(round half to
 * even(x / scale), -127, 127) with a true division (not x * (1 / scale)); a row whose scale is
 * not > 0 (all zeros, underflow, NaN) stores scale 0 and q = 0. -128 is never produced, so
 * int8 products fit int16 and a sum of 2^17 of them fits int32.
 */
#ifndef EMB_QUANT_H
#define EMB_QUANT_H

#include "emb_internal.h"

#define EMB_ACT_QMAX EMB_QMAX

/* q (n) = the int8 codes of x (n); returns the row's scale. The reference of the rule; the
 * twin emb_quantize_row_q8 (emb_runtime.h) computes the same bits faster. */
static inline float emb_quantize_row_q8_ref(const float *x, uint32_t n, int8_t *q)
{
    float amax = 0.0f;
    for (uint32_t i = 0; i < n; ++i) {
        const float v = fabsf(x[i]);
        amax = v > amax ? v : amax;
    }
    const float scale = amax / (float)EMB_ACT_QMAX;
    if (!(scale > 0.0f)) { /* zero row, underflow or NaN: no division by zero */
        for (uint32_t i = 0; i < n; ++i) {
            q[i] = 0;
        }
        return 0.0f;
    }
    for (uint32_t i = 0; i < n; ++i) {
        float v = x[i] / scale;
        v = v > (float)EMB_ACT_QMAX ? (float)EMB_ACT_QMAX : v;
        v = v < -(float)EMB_ACT_QMAX ? -(float)EMB_ACT_QMAX : v;
        q[i] = (int8_t)emb_round_half_even(v);
    }
    return scale;
}

#endif /* EMB_QUANT_H */
