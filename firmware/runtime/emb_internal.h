/*
 * embbert-mcu runtime: small helpers shared by the kernels (not part of the public API).
 * static inline so every kernel file stays self-contained; float32 only.
 */
#ifndef EMB_INTERNAL_H
#define EMB_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "emb_runtime.h"

#define EMB_QMAX 127

/* c, a float constant of a loop, stays in a register: gcc for Cortex-M otherwise reloads
 * literal-pool constants inside the loop, an instruction per use. No effect elsewhere. */
#if defined(__GNUC__) && defined(__ARM_FP) && !defined(__clang__)
#define EMB_FP_PIN(c) __asm__("" : "+t"(c))
#else
#define EMB_FP_PIN(c) ((void)(c))
#endif

/* Round half to even, written out so it does not depend on the FPU rounding mode.
 * |x| must be < 2^31. The truncation of |x| is its floor (one vcvt, no libm call); a - fl is
 * exact (Sterbenz for a >= 1, fl = 0 below; a itself for a >= 2^23, where frac = 0). */
static inline int32_t emb_round_half_even(float x)
{
    const float a = fabsf(x);
    int32_t i = (int32_t)a;
    const float frac = a - (float)i;
    if (frac > 0.5f || (frac == 0.5f && (i & 1) != 0)) {
        i += 1;
    }
    return x < 0.0f ? -i : i;
}

/* exp(x) in float32 without libm: x = n ln2 + r (Cody-Waite, |r| <= ln2 / 2), e^r by a
 * degree-6 polynomial, times 2^n built in the exponent bits. Within 2 ulp of the correctly
 * rounded value for x in [-87, 88] (tests/kernels/test_kernel_exp.py); below -87 it returns 0
 * (the true value is < 2^-125, nothing the softmax or SiLU can see), above 88 +inf, NaN stays
 * NaN. About 20 instructions on a Cortex-M4F, several times fewer than newlib's expf. */
static inline float emb_exp_f32(float x)
{
    if (!(x > -87.0f)) {
        return x != x ? x : 0.0f; /* NaN, or an underflow to 0 */
    }
    if (x > 88.0f) {
        return INFINITY;
    }
    const float t = x * 1.44269504088896341f;                   /* x / ln2 */
    const int32_t n = (int32_t)(t + (t < 0.0f ? -0.5f : 0.5f)); /* round half away from 0 */
    const float r = (x - (float)n * 0.693145751953125f) - (float)n * 1.428606765330187e-06f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;                                /* e^r, r in [-0.347, 0.347] */
    const uint32_t bits = (uint32_t)(n + 127) << 23; /* 2^n, n in [-126, 127] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* fp16 bits -> float: normal numbers (every practical block scale) in a few integer
 * operations inline; zeros, subnormals, inf and NaN through emb_f16_to_f32. Same results. */
static inline float emb_f16_to_f32_fast(uint16_t h)
{
    const uint32_t exp = h & 0x7c00u;
    if (exp == 0u || exp == 0x7c00u) {
        return emb_f16_to_f32(h);
    }
    /* rebias the exponent 15 -> 127: add 112 << 10 to the 15 low bits before the shift */
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t bits = sign | (((uint32_t)(h & 0x7fffu) + 0x1c000u) << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* sum q[i] * x[i], i < n: int8 times float; the block's scale is applied once by the caller.
 * Four partial sums break the multiply-add dependency chain (the FPU pipelines them);
 * walking pointers (not a uint32_t index) spares an address computation per term. */
static inline float emb_dot_q8_f32(const int8_t *q, const float *x, uint32_t n)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    const int8_t *const end4 = q + (n & ~3u);
    const int8_t *const end = q + n;
    for (; q != end4; q += 4, x += 4) {
        s0 += (float)q[0] * x[0];
        s1 += (float)q[1] * x[1];
        s2 += (float)q[2] * x[2];
        s3 += (float)q[3] * x[3];
    }
    for (; q != end; ++q, ++x) {
        s0 += (float)*q * *x;
    }
    return (s0 + s1) + (s2 + s3);
}

/* sum f16(h[i]) * x[i], i < n. */
static inline float emb_dot_f16_f32(const uint16_t *h, const float *x, uint32_t n)
{
    float s = 0.0f;
    for (const uint16_t *const end = h + n; h != end; ++h, ++x) {
        s += emb_f16_to_f32_fast(*h) * *x;
    }
    return s;
}

/* sum w[i] * x[i], i < n. */
static inline float emb_dot_f32(const float *w, const float *x, uint32_t n)
{
    float s0 = 0.0f, s1 = 0.0f;
    const float *const end2 = w + (n & ~1u);
    for (; w != end2; w += 2, x += 2) {
        s0 += w[0] * x[0];
        s1 += w[1] * x[1];
    }
    if ((n & 1u) != 0u) {
        s0 += *w * *x;
    }
    return s0 + s1;
}

/* Whether block b of a mixed tensor is stored in fp16 (bitmap LSB first). */
static inline int emb_mask_bit(const uint8_t *mask, uint32_t b)
{
    return (mask[b >> 3] >> (b & 7u)) & 1u;
}

/* ---- integer kernels (emb_linear_q8.c, emb_attention_q8.c and their optimized twins) ---- */

/* Which optimized twins this build has: firmware/runtime/arm_dsp/ on cores with the DSP
 * extension (Cortex-M4/M7/M33/M55) when the build compiles that folder and says so with
 * -DEMB_ARM_DSP; else the portable ones beside the references, written so that gcc -O2
 * vectorizes them (a build copying only firmware/runtime/ links everywhere).
 * -DEMB_KERNELS_PORTABLE picks the portable ones anyway. */
#if defined(EMB_ARM_DSP) && defined(__ARM_FEATURE_DSP) && !defined(EMB_KERNELS_PORTABLE)
#define EMB_KERNELS_ARM_DSP 1
#else
#define EMB_KERNELS_ARM_DSP 0
#endif

/* sum f16(h[i]) * (float)q[i], i < n, in order: an fp16 weight block times int8 codes. */
static inline float emb_dot_f16_q8(const uint16_t *h, const int8_t *q, uint32_t n)
{
    float s = 0.0f;
    for (uint32_t i = 0; i < n; ++i) {
        s += emb_f16_to_f32_fast(h[i]) * (float)q[i];
    }
    return s;
}

/* sum w[i] * (float)q[i], i < n, in order. */
static inline float emb_dot_f32_q8(const float *w, const int8_t *q, uint32_t n)
{
    float s = 0.0f;
    for (uint32_t i = 0; i < n; ++i) {
        s += w[i] * (float)q[i];
    }
    return s;
}

/* EMB_OK when emb_linear_q8 can read w (any encoding; layouts as emb_linear_f32). */
static inline emb_status_t emb_linear_q8_check(const emb_qtensor_t *w, const int8_t *xq,
                                               const float *y)
{
    if (w == NULL || xq == NULL || y == NULL || w->cols == 0u) {
        return EMB_ERR_ARG;
    }
    switch (w->encoding) {
    case EMB_QT_Q8:
        return w->blocks != NULL && ((size_t)w->rows * w->cols) % EMB_QBLOCK == 0u ? EMB_OK
                                                                                   : EMB_ERR_ARG;
    case EMB_QT_MIXED:
        return (w->blocks != NULL || w->f16 != NULL) && w->mask != NULL &&
                       ((size_t)w->rows * w->cols) % EMB_QBLOCK == 0u
                   ? EMB_OK
                   : EMB_ERR_ARG;
    case EMB_QT_F16:
        return w->f16 != NULL ? EMB_OK : EMB_ERR_ARG;
    case EMB_QT_F32:
        return w->f32 != NULL ? EMB_OK : EMB_ERR_ARG;
    default:
        return EMB_ERR_ARG;
    }
}

/* The last float operations of a row of emb_linear_q8: (sum of scaled block sums) * x scale,
 * then + bias; every variant ends a row with exactly these. */
/* emb_linear_q8_check for both inputs of emb_linear2_q8. */
static inline emb_status_t emb_linear2_q8_check(const emb_qtensor_t *w, const int8_t *xa,
                                                const float *ya, const int8_t *xb, const float *yb)
{
    const emb_status_t st = emb_linear_q8_check(w, xa, ya);
    return st != EMB_OK ? st : emb_linear_q8_check(w, xb, yb);
}

/* out[i] = (float)q[i] * scale, i < n: an int8 run dequantized (unrolled by four: gcc -O2
 * does not). */
static inline void emb_dequant_i8(const int8_t *q, float scale, uint32_t n, float *out)
{
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) {
        out[i] = (float)q[i] * scale;
        out[i + 1u] = (float)q[i + 1u] * scale;
        out[i + 2u] = (float)q[i + 2u] * scale;
        out[i + 3u] = (float)q[i + 3u] * scale;
    }
    for (; i < n; ++i) {
        out[i] = (float)q[i] * scale;
    }
}

static inline float emb_linear_q8_out(float acc, float xs, const float *bias, uint32_t r)
{
    const float v = acc * xs;
    return bias != NULL ? v + bias[r] : v;
}

#if !EMB_KERNELS_ARM_DSP
/* ---- the portable twins' integer dot products ----
 * One input widened to int16 once (emb_widen_i16) times int8 runs: loops of a fixed trip
 * count (128, then 32), which gcc -O2 vectorizes (its default cost model takes only loops it
 * can count) into int16 multiply-adds with one reduction per loop; the rest one at a time.
 * Exact: every product and sum is an integer. */

#define EMB_WIDE16 128u /* values of an input widened to int16 on the stack at a time */

static inline void emb_widen_i16(const int8_t *v, uint32_t n, int16_t *w)
{
    for (uint32_t i = 0; i < n; ++i) {
        w[i] = v[i];
    }
}

/* x . h over len values. */
static inline int32_t emb_dot_w16(const int16_t *restrict x, const int8_t *restrict h, uint32_t len)
{
    int32_t s = 0;
    uint32_t i = 0;
    for (; i + 128u <= len; i += 128u) {
        int32_t c = 0;
        for (uint32_t k = 0; k < 128u; ++k) {
            c += x[i + k] * (int16_t)h[i + k];
        }
        s += c;
    }
    for (; i + 32u <= len; i += 32u) {
        int32_t c = 0;
        for (uint32_t k = 0; k < 32u; ++k) {
            c += x[i + k] * (int16_t)h[i + k];
        }
        s += c;
    }
    for (; i < len; ++i) {
        s += x[i] * (int16_t)h[i];
    }
    return s;
}

/* (xa . h, xb . h) over len values: each run of h loaded and widened once for both. */
static inline void emb_dot2_w16(const int16_t *restrict xa, const int16_t *restrict xb,
                                const int8_t *restrict h, uint32_t len, int32_t *sa, int32_t *sb)
{
    int32_t a = 0, b = 0;
    uint32_t i = 0;
    for (; i + 128u <= len; i += 128u) {
        int32_t ca = 0, cb = 0;
        for (uint32_t k = 0; k < 128u; ++k) {
            const int16_t v = h[i + k];
            ca += xa[i + k] * v;
            cb += xb[i + k] * v;
        }
        a += ca, b += cb;
    }
    for (; i + 32u <= len; i += 32u) {
        int32_t ca = 0, cb = 0;
        for (uint32_t k = 0; k < 32u; ++k) {
            const int16_t v = h[i + k];
            ca += xa[i + k] * v;
            cb += xb[i + k] * v;
        }
        a += ca, b += cb;
    }
    for (; i < len; ++i) {
        a += xa[i] * (int16_t)h[i];
        b += xb[i] * (int16_t)h[i];
    }
    *sa = a, *sb = b;
}
#endif /* !EMB_KERNELS_ARM_DSP */

#endif /* EMB_INTERNAL_H */
