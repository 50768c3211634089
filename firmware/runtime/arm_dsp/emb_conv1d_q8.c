/*
 * emb_conv1d_dw_causal_q8 for cores with the DSP extension (firmware/runtime/emb_conv1d_q8.c
 * has the reference and the portable twin; results are bit-identical: the same int32 sums and
 * the same float operations in the same order).
 *
 * EmbBERT's shape (k = EMB_QBLOCK = 32: one block of taps per channel; d a multiple of 4): a
 * channel's window is two runs of 16 int16 slots in the ring (emb_conv_q8.h), the even taps in one
 * and the odd taps in the other, so a word of four int8 weights w_j .. w_j+3 splits (__sxtb16,
 * then rotated by 8) into the lanes (w_j, w_j+2) and (w_j+1, w_j+3) that one word of each run
 * multiplies with one __smlad: per channel 16 __smlad, 16 __sxtb16, 8 weight words and 16 run
 * words, the runs read with ldrd when they start on a word (half of the calls, per run), with
 * unaligned ldr otherwise. Channels go in pairs: with the blocks on a word (EMB_BLOCKS_ALIGN), the
 * odd channel's weights are on a word too (ldrd), and the pair's two scales are the halves of two
 * words (vldr, vcvtb / vcvtt). The loop over the pairs is written in assembly, one per pair of run
 * alignments, as gcc neither keeps its 12 values in registers nor pairs the loads; a call without
 * biases adds those of a zero array, as the reference adds 0 (one loop each instead of two: 1.6 kB
 * less code, 0.03 instructions more per MAC there). The sums do not depend on the order of the
 * products (int32, no overflow: 32 products of at most 127 * 32767), so the twin adds them in its
 * own order. The float epilogue is the reference's: 0 + d * (float)isum (the reference skips a
 * block whose d is 0; its product is then +-0 and 0 + +-0 = +0, the same), times hs, plus the
 * bias. The ring row's store is written out too (emb_conv_store32). Other shapes, a misaligned
 * ring or blocks: the reference.
 */
#include "emb_conv_q8.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

/* clang-format off */

/* Two words of a window run at byte offset OFF of %[P]: aligned (ldrd) or not (two ldr, the
 * second at OFF2). WB "!": pre-indexed, %[P] moves on by OFF first (OFF2 is then from there). */
#define EMB_LD_AL(P, OFF, WB, OFF2) "ldrd %[a0], %[a1], [%[" P "], #" OFF "]" WB "\n\t"
#define EMB_LD_UN(P, OFF, WB, OFF2)                                                                \
    "ldr %[a0], [%[" P "], #" OFF "]" WB "\n\t"                                                    \
    "ldr %[a1], [%[" P "], #" OFF2 "]\n\t"

/* Taps 8g .. 8g + 7 of a channel: weight words 2g, 2g + 1 (loaded by WLD) against words 2g,
 * 2g + 1 of run A (even taps) and of run B (odd taps), at OFF of %[pa], %[pb]; MUL0 starts
 * the sum (smuad) or adds to it (smlad). */
#define EMB_TAPS8(LDA, LDB, OFF, WB, OFF2, WLD, MUL0)                                              \
    LDA("pa", OFF, WB, OFF2)                                                                       \
    WLD                                                                                            \
    "sxtb16 %[l], %[w0]\n\t"                                                                       \
    MUL0 "\n\t"                                                                                    \
    "sxtb16 %[l], %[w1]\n\t"                                                                       \
    "smlad %[s], %[l], %[a1], %[s]\n\t"                                                            \
    LDB("pb", OFF, WB, OFF2)                                                                       \
    "sxtb16 %[l], %[w0], ror #8\n\t"                                                               \
    "smlad %[s], %[l], %[a0], %[s]\n\t"                                                            \
    "sxtb16 %[l], %[w1], ror #8\n\t"                                                               \
    "smlad %[s], %[l], %[a1], %[s]\n\t"

#define EMB_FIRST "smuad %[s], %[l], %[a0]"
#define EMB_NEXT "smlad %[s], %[l], %[a0], %[s]"
#define EMB_W_AL(OFF, WB) "ldrd %[w0], %[w1], [%[q], #" OFF "]" WB "\n\t"
#define EMB_W_UN(OFF, OFF2) "ldr %[w0], [%[q], #" OFF "]\n\tldr %[w1], [%[q], #" OFF2 "]\n\t"

/* Channels c, c + 1 (c even; blocks word-aligned, so channel c + 1's weights are too): c + 1
 * first, its first loads moving %[pa], %[pb] on by two ring rows (144 bytes) and %[q] by two
 * blocks (68 bytes) to its weights; channel c is then 72 and 34 bytes below. Sums: s1, s0. */
#define EMB_PAIR(LDA, LDB)                                                                         \
    EMB_TAPS8(LDA, LDB, "144", "!", "4", EMB_W_AL("68", "!"), EMB_FIRST)                           \
    EMB_TAPS8(LDA, LDB, "8", "", "12", EMB_W_AL("8", ""), EMB_NEXT)                                \
    EMB_TAPS8(LDA, LDB, "16", "", "20", EMB_W_AL("16", ""), EMB_NEXT)                              \
    EMB_TAPS8(LDA, LDB, "24", "", "28", EMB_W_AL("24", ""), EMB_NEXT)                              \
    "vmov s1, %[s]\n\t"                                                                            \
    EMB_TAPS8(LDA, LDB, "-72", "", "-68", EMB_W_UN("-34", "-30"), EMB_FIRST)                       \
    EMB_TAPS8(LDA, LDB, "-64", "", "-60", EMB_W_UN("-26", "-22"), EMB_NEXT)                        \
    EMB_TAPS8(LDA, LDB, "-56", "", "-52", EMB_W_UN("-18", "-14"), EMB_NEXT)                        \
    EMB_TAPS8(LDA, LDB, "-48", "", "-44", EMB_W_UN("-10", "-6"), EMB_NEXT)                         \
    "vmov s0, %[s]\n\t"

/* out[c], out[c + 1] from their sums in s0, s1: (0 + d * (float)isum) * hs + bias. d_c is the
 * low half of the word at block c, d_c+1 the high half of the word before its weights. */
#define EMB_EPILOGUE                                                                               \
    "vldr s2, [%[q], #-36]\n\t"                                                                    \
    "vldr s3, [%[q], #-4]\n\t"                                                                     \
    "vcvt.f32.s32 s0, s0\n\t"                                                                      \
    "vcvt.f32.s32 s1, s1\n\t"                                                                      \
    "vcvtb.f32.f16 s2, s2\n\t"                                                                     \
    "vcvtt.f32.f16 s3, s3\n\t"                                                                     \
    "vmul.f32 s0, s2, s0\n\t"                                                                      \
    "vmul.f32 s1, s3, s1\n\t"                                                                      \
    "vadd.f32 s0, %[z], s0\n\t"                                                                    \
    "vadd.f32 s1, %[z], s1\n\t"                                                                    \
    "vmul.f32 s0, s0, %[hs]\n\t"                                                                   \
    "vmul.f32 s1, s1, %[hs]\n\t"                                                                   \
    "vldmia %[bi]!, {s2, s3}\n\t"                                                                  \
    "vadd.f32 s0, s0, s2\n\t"                                                                      \
    "vadd.f32 s1, s1, s3\n\t"                                                                      \
    "vstmia %[o]!, {s0, s1}\n\t"

#define EMB_CONV_PAIRS(LDA, LDB)                                                                   \
    __asm__ volatile("1:\n\t"                                                                      \
                     EMB_PAIR(LDA, LDB)                                                            \
                     EMB_EPILOGUE                                                                  \
                     "cmp %[o], %[end]\n\t"                                                        \
                     "bne 1b\n\t"                                                                  \
                     : [q] "+r"(q), [pa] "+r"(pa), [pb] "+r"(pb), [o] "+r"(o), [bi] "+r"(bi),    \
                       [a0] "=&r"(a0), [a1] "=&r"(a1), [w0] "=&r"(w0), [w1] "=&r"(w1),            \
                       [l] "=&r"(l), [s] "=&r"(s)                                                  \
                     : [end] "r"(end), [hs] "t"(hs), [z] "t"(zero)                                 \
                     : "s0", "s1", "s2", "s3", "cc", "memory")

/* clang-format on */

/* Row t into the ring (emb_conv_ring_store for k = 32, d a multiple of 4): x16 = (q * m +
 * 2^15) >> 16 per channel; when t % 4 == 0 each channel's row of 36 slots slides down one word
 * first (words 1 .. 17 to 0 .. 16). */
static void emb_conv_store32(const emb_act_t *x, uint32_t t, float hs, int16_t *ring)
{
    const uint32_t d = x->d;
    const int8_t *qp = x->q8 + (size_t)t * d;
    const int8_t *const qend = qp + d;
    const float f = hs > 0.0f ? x->scales[t] / hs : 0.0f;
    const int32_t m = f > 0.0f ? emb_round_half_even(f * 65536.0f) : 0;
    const int32_t half_up = 32768;
    if (t % 4u == 0u) { /* row t: slot 16 of the even half, 40 bytes below the next row */
        const int16_t *src = ring + 2;
        int16_t *dst = ring;
        /* fixed registers, as ldm / stm list them in ascending order */
        register int32_t r0 __asm__("r0"), r1 __asm__("r1"), r2 __asm__("r2");
        register int32_t r3 __asm__("r3"), r12 __asm__("r12"), lr __asm__("lr");
        __asm__ volatile(
            "1:\n\t"
            "ldmia %[src]!, {%[r0], %[r1], %[r2], %[r3], %[r12], %[lr]}\n\t"
            "stmia %[dst]!, {%[r0], %[r1], %[r2], %[r3], %[r12], %[lr]}\n\t"
            "ldmia %[src]!, {%[r0], %[r1], %[r2], %[r3], %[r12], %[lr]}\n\t"
            "stmia %[dst]!, {%[r0], %[r1], %[r2], %[r3], %[r12], %[lr]}\n\t"
            "ldmia %[src]!, {%[r0], %[r1], %[r2], %[r3]}\n\t"
            "stmia %[dst]!, {%[r0], %[r1], %[r2], %[r3]}\n\t"
            "ldr %[r0], [%[src]], #8\n\t"
            "str %[r0], [%[dst]], #8\n\t"
            "ldrsb %[r0], [%[qp]], #1\n\t"
            "mla %[r0], %[r0], %[m], %[k]\n\t"
            "asr %[r0], %[r0], #16\n\t"
            "strh %[r0], [%[dst], #-40]\n\t"
            "cmp %[qp], %[qend]\n\t"
            "bne 1b\n\t"
            : [src] "+r"(src), [dst] "+r"(dst), [qp] "+r"(qp), [r0] "=&r"(r0), [r1] "=&r"(r1),
              [r2] "=&r"(r2), [r3] "=&r"(r3), [r12] "=&r"(r12), [lr] "=&r"(lr)
            : [qend] "r"(qend), [m] "r"(m), [k] "r"(half_up)
            : "cc", "memory");
        (void)r0, (void)r1, (void)r2, (void)r3, (void)r12, (void)lr;
        return;
    }
    int16_t *p = ring + emb_conv_ring_slot(EMB_QBLOCK, t, t);
    int32_t v0, v1, v2, v3;
    __asm__ volatile(
        "1:\n\t"
        "ldrsb %[v1], [%[qp], #1]\n\t"
        "ldrsb %[v2], [%[qp], #2]\n\t"
        "ldrsb %[v3], [%[qp], #3]\n\t"
        "ldrsb %[v0], [%[qp]], #4\n\t"
        "mla %[v0], %[v0], %[m], %[k]\n\t"
        "mla %[v1], %[v1], %[m], %[k]\n\t"
        "mla %[v2], %[v2], %[m], %[k]\n\t"
        "mla %[v3], %[v3], %[m], %[k]\n\t"
        "asr %[v0], %[v0], #16\n\t"
        "asr %[v1], %[v1], #16\n\t"
        "asr %[v2], %[v2], #16\n\t"
        "asr %[v3], %[v3], #16\n\t"
        "strh %[v1], [%[p], #72]\n\t"
        "strh %[v0], [%[p]], #144\n\t"
        "strh %[v3], [%[p], #72]\n\t"
        "strh %[v2], [%[p]], #144\n\t"
        "cmp %[qp], %[qend]\n\t"
        "bne 1b\n\t"
        : [p] "+r"(p), [qp] "+r"(qp), [v0] "=&r"(v0), [v1] "=&r"(v1), [v2] "=&r"(v2), [v3] "=&r"(v3)
        : [qend] "r"(qend), [m] "r"(m), [k] "r"(half_up)
        : "cc", "memory");
}

/* The pairs' outputs from *po up to end, biases from bi; the pointers carried across calls. */
__attribute__((noinline)) static void emb_conv_pairs(uint32_t r, uintptr_t *pq, uintptr_t *ppa,
                                                     uintptr_t *ppb, float **po, const float *bi,
                                                     const float *end, float hs)
{
    uintptr_t q = *pq, pa = *ppa, pb = *ppb;
    float *o = *po;
    const float zero = 0.0f;
    int32_t a0, a1, w0, w1, l, s;
    switch (r) {
    case 0: /* run A from an even slot, run B from an odd one (emb_conv1d_q8.c) */
        EMB_CONV_PAIRS(EMB_LD_AL, EMB_LD_UN);
        break;
    case 1:
        EMB_CONV_PAIRS(EMB_LD_UN, EMB_LD_UN);
        break;
    case 2:
        EMB_CONV_PAIRS(EMB_LD_UN, EMB_LD_AL);
        break;
    default:
        EMB_CONV_PAIRS(EMB_LD_AL, EMB_LD_AL);
        break;
    }
    (void)a0, (void)a1, (void)w0, (void)w1, (void)l, (void)s;
    *pq = q, *ppa = pa, *ppb = pb, *po = o;
}

/* The biases of a call without them: + 0.0f, as the reference adds, 128 channels at a time. */
static const float emb_conv_zeros[128];

emb_status_t emb_conv1d_dw_causal_q8(const emb_qtensor_t *w, const float *bias, const emb_act_t *x,
                                     uint32_t t, float hs, int16_t *ring, float *out)
{
    const uint32_t k = EMB_QBLOCK;
    if (!emb_conv_q8_args_ok(w, x, ring, out) || w->cols != k || x->d % 4u != 0u ||
        ((uintptr_t)ring & 3u) != 0u || ((uintptr_t)w->blocks & 3u) != 0u) {
        return emb_conv1d_dw_causal_q8_ref(w, bias, x, t, hs, ring, out);
    }
    const uint32_t d = x->d, half = k / 2u + 2u, r = t % 4u;
    emb_conv_store32(x, t, hs, ring);
    /* the pointers go on by a channel pair before its first loads, so they start a pair before
     * channel 1: its runs' first slots (emb_conv1d_q8.c) and weights */
    uintptr_t pa = (uintptr_t)(ring + ((t + 1u) & 1u) * half + ((r + 1u) >> 1)) - 72u;
    uintptr_t pb = (uintptr_t)(ring + (t & 1u) * half + ((r + 2u) >> 1)) - 72u;
    uintptr_t q = (uintptr_t)w->blocks[1].qs - 2u * sizeof(emb_block_q8_t);
    float *o = out;
    if (bias != NULL) {
        emb_conv_pairs(r, &q, &pa, &pb, &o, bias, out + d, hs);
        return EMB_OK;
    }
    for (uint32_t c = 0; c < d; c += 128u) {
        emb_conv_pairs(r, &q, &pa, &pb, &o, emb_conv_zeros, out + (d - c > 128u ? c + 128u : d),
                       hs);
    }
    return EMB_OK;
}

#endif /* EMB_KERNELS_ARM_DSP */
