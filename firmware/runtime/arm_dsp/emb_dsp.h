/*
 * embbert-mcu runtime, Arm DSP extension: the helpers of the kernels in this folder.
 * Words of four int8 are read with unaligned 32-bit loads (Cortex-M3 and up allow them;
 * memcpy lets gcc emit one ldr); __sxtb16 widens bytes 0, 2 (or, after a rotation by 8,
 * bytes 1, 3) to two int16 lanes and __smlad multiplies the lanes pairwise into an int32 sum.
 */
#ifndef EMB_DSP_H
#define EMB_DSP_H

#include <arm_acle.h>

#include "emb_internal.h"

static inline int32_t emb_ld32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* bytes 1 and 3 of v as two int16 lanes: sxtb16 with its built-in rotation, one instruction
 * (gcc 12 emits a separate ror for __sxtb16 of a rotated value). */
static inline int32_t emb_sxtb16_ror8(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* v (n, a multiple of 4) as int16 pairs: w[2m] = (v[4m], v[4m+2]), w[2m+1] = (v[4m+1],
 * v[4m+3]), the lane order emb_smlad4 pairs a word of int8 with: an input widened once for
 * every row it meets. */
static inline void emb_widen_i8(const int8_t *v, uint32_t n, int32_t *w)
{
    for (uint32_t i = 0; i < n; i += 4u, w += 2) {
        const int32_t x = emb_ld32(v + i);
        w[0] = __sxtb16(x);
        w[1] = emb_sxtb16_ror8(x);
    }
}

/* acc + the four products of two words of int8 (lanes paired in order). */
static inline int32_t emb_smlad4(int32_t w, int32_t x02, int32_t x13, int32_t acc)
{
    acc = __smlad(__sxtb16(w), x02, acc);
    return __smlad(emb_sxtb16_ror8(w), x13, acc);
}

/* q . h over d values: each word of q widened, two __smlad a word; the d % 4 rest one at a
 * time (a constant d unrolls and drops it). */
static inline int32_t emb_dot_i8(const int8_t *q, const int8_t *h, uint32_t d)
{
    int32_t a = 0;
    uint32_t i = 0;
    for (; i + 4u <= d; i += 4u) {
        const int32_t xv = emb_ld32(q + i);
        a = emb_smlad4(emb_ld32(h + i), __sxtb16(xv), emb_sxtb16_ror8(xv), a);
    }
    for (; i < d; ++i) {
        a += (int32_t)q[i] * (int32_t)h[i];
    }
    return a;
}

/* (bottom half of lo, bottom half of hi) as two int16 lanes: pkhbt (not in gcc's arm_acle.h). */
static inline int32_t emb_pack_lo(int32_t lo, int32_t hi)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* (top half of lo, top half of hi) as two int16 lanes: pkhtb. */
static inline int32_t emb_pack_hi(int32_t lo, int32_t hi)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}

/* fp16 bits -> float with the FPU's own conversion (vcvtb; FPv4-SP and FPv5 have it): the
 * value of emb_f16_to_f32_fast for every finite input, subnormals included (FPSCR.FZ is 0). */
static inline float emb_f16_to_f32_vcvt(uint16_t h)
{
    const uint32_t u = h;
    float in, out;
    memcpy(&in, &u, sizeof in);
    __asm__("vcvtb.f32.f16 %0, %1" : "=t"(out) : "t"(in));
    return out;
}

/* acc + a * b with the product rounded before the sum, as a separate multiply and add would:
 * VFP's vmla is unfused (gcc does not emit it under -std=c99, which turns off contraction). */
static inline float emb_mla(float acc, float a, float b)
{
    __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
    return acc;
}

/* A linear's block epilogue for two sums: acc += f16(d) * (float)s, for scales d0, d1 and sums
 * s0, s1, each pair of words moved to the FPU by one vmov, and without the reference's test for
 * d == 0: a zero scale adds a product of +-0, and acc + +-0 is acc because a sum that starts
 * at +0 is never -0 (round to nearest gives x + -x = +0). vmla is unfused: the product is
 * rounded before the sum, as in the reference. */
static inline void emb_add_blocks2_nz(float *acc0, float *acc1, uint16_t d0, uint16_t d1,
                                      int32_t s0, int32_t s1)
{
    __asm__("vmov s10, s11, %[s0], %[s1]\n\t"
            "vmov s8, s9, %[d0], %[d1]\n\t"
            "vcvt.f32.s32 s10, s10\n\t"
            "vcvt.f32.s32 s11, s11\n\t"
            "vcvtb.f32.f16 s8, s8\n\t"
            "vcvtb.f32.f16 s9, s9\n\t"
            "vmla.f32 %[a0], s8, s10\n\t"
            "vmla.f32 %[a1], s9, s11"
            : [a0] "+t"(*acc0), [a1] "+t"(*acc1)
            : [s0] "r"(s0), [s1] "r"(s1), [d0] "r"((uint32_t)d0), [d1] "r"((uint32_t)d1)
            : "s8", "s9", "s10", "s11");
}

/* emb_add_blocks2_nz for two sums under one scale d (a block's row against two inputs). */
static inline void emb_add_blocks2_nz1(float *acc0, float *acc1, uint16_t d, int32_t s0, int32_t s1)
{
    __asm__("vmov s10, s11, %[s0], %[s1]\n\t"
            "vmov s8, %[d]\n\t"
            "vcvt.f32.s32 s10, s10\n\t"
            "vcvt.f32.s32 s11, s11\n\t"
            "vcvtb.f32.f16 s8, s8\n\t"
            "vmla.f32 %[a0], s8, s10\n\t"
            "vmla.f32 %[a1], s8, s11"
            : [a0] "+t"(*acc0), [a1] "+t"(*acc1)
            : [s0] "r"(s0), [s1] "r"(s1), [d] "r"((uint32_t)d)
            : "s8", "s10", "s11");
}

#endif /* EMB_DSP_H */
