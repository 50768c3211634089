/*
 * emb_quantize_row_q8 for cores with the DSP extension: the rule of emb_quant.h with the same
 * max, scale and true division, then vcvtr (round to nearest even in the FPU's default mode)
 * and an integer clamp (__ssat, then -128 -> -127) instead of a float clamp and a written-out
 * rounding; clamping before or after rounding to an integer in -127..127 gives the same code.
 */
#include "emb_quant.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

float emb_quantize_row_q8(const float *x, uint32_t n, int8_t *q)
{
    float amax = 0.0f;
    for (uint32_t i = 0; i < n; ++i) {
        const float v = fabsf(x[i]);
        amax = v > amax ? v : amax;
    }
    const float scale = amax / (float)EMB_ACT_QMAX;
    if (!(scale > 0.0f)) { /* zero row, underflow or NaN: no division by zero */
        memset(q, 0, n);
        return 0.0f;
    }
    for (uint32_t i = 0; i < n; ++i) {
        const float v = x[i] / scale;
        float t;
        __asm__("vcvtr.s32.f32 %0, %1" : "=t"(t) : "t"(v)); /* saturates out of range */
        int32_t r;
        memcpy(&r, &t, sizeof r);
        r = __ssat(r, 8);
        q[i] = (int8_t)(r < -EMB_ACT_QMAX ? -EMB_ACT_QMAX : r);
    }
    return scale;
}

#endif /* EMB_KERNELS_ARM_DSP */
