/*
 * emb_quantize_row_q8 for cores with the DSP extension: the rule of emb_quant.h, the same bits.
 * - The max of |x| on the bit patterns: for floats that are not NaN, |x| orders as its bits
 *   with the sign shifted out, one compare and a conditional shift per value (words by ldm).
 *   A NaN (which the reference's float max skips) sends the row to the float max.
 * - The same true division, then vcvtr (round to nearest even in the FPU's default mode),
 *   eight values per vldm, two codes per vmov to the core registers.
 * - No clamp when the scale is a normal float: |x| <= amax, so |x / scale| <= amax / scale
 *   <= 127 (1 + 2^-23), which rounds to at most 127 (never -128). A subnormal scale (its
 *   quotient can exceed 127) or an infinite one take the clamped loop: __ssat, then
 *   -128 -> -127; clamping before or after rounding to an integer gives the same code.
 */
#include <float.h>

#include "emb_quant.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

/* max(m, |v| << 1) for the bits v of a float. */
static inline uint32_t emb_max_abs2(uint32_t m, uint32_t v)
{
    __asm__("cmp %0, %1, lsl #1\n\tit lo\n\tlsllo %0, %1, #1" : "+r"(m) : "r"(v) : "cc");
    return m;
}

/* max(m, |v| << 1) over the four floats at *p, *p advanced past them (one ldm). */
static inline uint32_t emb_max_abs4(uint32_t m, const float **p)
{
    register uint32_t a __asm__("r4"), b __asm__("r5"), c __asm__("r6"), d __asm__("r7");
    __asm__("ldmia %[p]!, {%[a], %[b], %[c], %[d]}"
            : [p] "+r"(*p), [a] "=r"(a), [b] "=r"(b), [c] "=r"(c), [d] "=r"(d)
            :
            : "memory");
    m = emb_max_abs2(m, a);
    m = emb_max_abs2(m, b);
    m = emb_max_abs2(m, c);
    return emb_max_abs2(m, d);
}

/* emb_max_abs4 twice. */
static inline uint32_t emb_max_abs8(uint32_t m, const float **p)
{
    return emb_max_abs4(emb_max_abs4(m, p), p);
}

/* round to nearest even, as the FPU's default mode: the value saturated to int32 */
static inline int32_t emb_vcvtr(float v)
{
    float t;
    __asm__("vcvtr.s32.f32 %0, %1" : "=t"(t) : "t"(v));
    int32_t r;
    memcpy(&r, &t, sizeof r);
    return r;
}

/* q (n) = x (n) / scale rounded, clamped to -127..127. */
static void emb_quantize_clamped(const float *x, uint32_t n, float scale, int8_t *q)
{
    for (uint32_t i = 0; i < n; ++i) {
        const int32_t r = __ssat(emb_vcvtr(x[i] / scale), 8);
        q[i] = (int8_t)(r < -EMB_ACT_QMAX ? -EMB_ACT_QMAX : r);
    }
}

float emb_quantize_row_q8(const float *x, uint32_t n, int8_t *q)
{
    uint32_t m = 0; /* max |x[i]| << 1 as bits */
    const float *p = x;
    for (const float *const end8 = x + (n & ~7u); p != end8;) {
        m = emb_max_abs8(m, &p);
    }
    if ((n & 4u) != 0u) {
        m = emb_max_abs4(m, &p);
    }
    uint32_t i = n & ~3u;
    for (; i < n; ++i) {
        uint32_t v;
        memcpy(&v, x + i, sizeof v);
        m = emb_max_abs2(m, v);
    }
    float amax;
    if (m > 0xFF000000u) { /* a NaN: the float max, which skips it */
        amax = 0.0f;
        for (i = 0; i < n; ++i) {
            const float v = fabsf(x[i]);
            amax = v > amax ? v : amax;
        }
    } else {
        m >>= 1;
        memcpy(&amax, &m, sizeof amax);
    }
    const float scale = amax / (float)EMB_ACT_QMAX;
    if (!(scale > 0.0f)) { /* zero row, underflow or NaN: no division by zero */
        memset(q, 0, n);
        return 0.0f;
    }
    if (!(scale >= FLT_MIN && scale <= FLT_MAX)) {
        emb_quantize_clamped(x, n, scale, q);
        return scale;
    }
    p = x;
    int8_t *o = q;
    for (const float *const end8 = x + (n & ~7u); p != end8;) {
        uint32_t a, b, c, d; /* codes: low bytes of the rounded quotients */
        __asm__("vldmia %[p]!, {s8-s15}\n\t"
                "vdiv.f32 s8, s8, %[s]\n\t"
                "vdiv.f32 s9, s9, %[s]\n\t"
                "vdiv.f32 s10, s10, %[s]\n\t"
                "vdiv.f32 s11, s11, %[s]\n\t"
                "vdiv.f32 s12, s12, %[s]\n\t"
                "vdiv.f32 s13, s13, %[s]\n\t"
                "vdiv.f32 s14, s14, %[s]\n\t"
                "vdiv.f32 s15, s15, %[s]\n\t"
                "vcvtr.s32.f32 s8, s8\n\t"
                "vcvtr.s32.f32 s9, s9\n\t"
                "vcvtr.s32.f32 s10, s10\n\t"
                "vcvtr.s32.f32 s11, s11\n\t"
                "vcvtr.s32.f32 s12, s12\n\t"
                "vcvtr.s32.f32 s13, s13\n\t"
                "vcvtr.s32.f32 s14, s14\n\t"
                "vcvtr.s32.f32 s15, s15\n\t"
                "vmov %[a], %[b], s8, s9\n\t"
                "vmov %[c], %[d], s10, s11\n\t"
                "strb %[a], [%[o]], #1\n\t"
                "strb %[b], [%[o]], #1\n\t"
                "strb %[c], [%[o]], #1\n\t"
                "strb %[d], [%[o]], #1\n\t"
                "vmov %[a], %[b], s12, s13\n\t"
                "vmov %[c], %[d], s14, s15\n\t"
                "strb %[a], [%[o]], #1\n\t"
                "strb %[b], [%[o]], #1\n\t"
                "strb %[c], [%[o]], #1\n\t"
                "strb %[d], [%[o]], #1"
                : [p] "+r"(p), [o] "+r"(o), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d)
                : [s] "t"(scale)
                : "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "memory");
    }
    for (i = n & ~7u; i < n; ++i) {
        q[i] = (int8_t)emb_vcvtr(x[i] / scale);
    }
    return scale;
}

#endif /* EMB_KERNELS_ARM_DSP */
