/*
 * embbert-mcu runtime: small helpers shared by the kernels (not part of the public API).
 * static inline so every kernel file stays self-contained; float32 only.
 */
#ifndef EMB_INTERNAL_H
#define EMB_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "emb_runtime.h"

#define EMB_QMAX 127

/* Round half to even, written out so it does not depend on the FPU rounding mode.
 * |x| must be < 2^31. floorf of |x| keeps a - fl exact (Sterbenz for a >= 1, fl = 0 below). */
static inline int32_t emb_round_half_even(float x)
{
    const float a = fabsf(x);
    const float fl = floorf(a);
    const float frac = a - fl;
    int32_t i = (int32_t)fl;
    if (frac > 0.5f || (frac == 0.5f && (i & 1) != 0)) {
        i += 1;
    }
    return x < 0.0f ? -i : i;
}

/* sum q[i] * x[i], i < n: int8 times float; the block's scale is applied once by the caller.
 * Four partial sums break the multiply-add dependency chain (the FPU pipelines them). */
static inline float emb_dot_q8_f32(const int8_t *q, const float *x, uint32_t n)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) {
        s0 += (float)q[i] * x[i];
        s1 += (float)q[i + 1u] * x[i + 1u];
        s2 += (float)q[i + 2u] * x[i + 2u];
        s3 += (float)q[i + 3u] * x[i + 3u];
    }
    for (; i < n; ++i) {
        s0 += (float)q[i] * x[i];
    }
    return (s0 + s1) + (s2 + s3);
}

/* sum f16(h[i]) * x[i], i < n. */
static inline float emb_dot_f16_f32(const uint16_t *h, const float *x, uint32_t n)
{
    float s = 0.0f;
    for (uint32_t i = 0; i < n; ++i) {
        s += emb_f16_to_f32(h[i]) * x[i];
    }
    return s;
}

/* sum w[i] * x[i], i < n. */
static inline float emb_dot_f32(const float *w, const float *x, uint32_t n)
{
    float s0 = 0.0f, s1 = 0.0f;
    uint32_t i = 0;
    for (; i + 2u <= n; i += 2u) {
        s0 += w[i] * x[i];
        s1 += w[i + 1u] * x[i + 1u];
    }
    if (i < n) {
        s0 += w[i] * x[i];
    }
    return s0 + s1;
}

/* Whether block b of a mixed tensor is stored in fp16 (bitmap LSB first). */
static inline int emb_mask_bit(const uint8_t *mask, uint32_t b)
{
    return (mask[b >> 3] >> (b & 7u)) & 1u;
}

#endif /* EMB_INTERNAL_H */
