/*
 * emb_attn_scores_q8 and emb_attn_wsum_q8 for cores with the DSP extension
 * (firmware/runtime/emb_attention_q8.c has the references; results are bit-identical: all
 * integer). Scores: four rows per pass over q, each word of q widened once, __smlad.
 * Weighted sum: four outputs kept in registers while the rows stream by; a word of a row is
 * widened to lanes (0, 2) and (1, 3) and each lane multiplied by p[j] with __smlabb /
 * __smlatb (an int8 x int8 product per instruction, no packing of pairs).
 */
#include "emb_internal.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

#pragma GCC optimize("no-schedule-insns") /* the pre-RA scheduler spills the four sums */

static int32_t emb_dot_i8(const int8_t *q, const int8_t *h, uint32_t d)
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

void emb_attn_scores_q8(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d,
                        int32_t *out)
{
    uint32_t j = 0;
    for (; j + 4u <= n; j += 4u) {
        const int8_t *h0 = rows + (size_t)j * d, *h1 = h0 + d, *h2 = h1 + d, *h3 = h2 + d;
        const int8_t *x = q, *const x_end = q + (d & ~3u);
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (; x != x_end; x += 4, h0 += 4, h1 += 4, h2 += 4, h3 += 4) {
            const int32_t xv = emb_ld32(x);
            const int32_t x02 = __sxtb16(xv), x13 = emb_sxtb16_ror8(xv);
            a0 = emb_smlad4(emb_ld32(h0), x02, x13, a0);
            a1 = emb_smlad4(emb_ld32(h1), x02, x13, a1);
            a2 = emb_smlad4(emb_ld32(h2), x02, x13, a2);
            a3 = emb_smlad4(emb_ld32(h3), x02, x13, a3);
        }
        for (uint32_t i = 0; i < (d & 3u); ++i) { /* d % 4 */
            const int32_t xi = x[i];
            a0 += xi * h0[i];
            a1 += xi * h1[i];
            a2 += xi * h2[i];
            a3 += xi * h3[i];
        }
        out[j] = a0;
        out[j + 1u] = a1;
        out[j + 2u] = a2;
        out[j + 3u] = a3;
    }
    for (; j < n; ++j) {
        out[j] = emb_dot_i8(q, rows + (size_t)j * d, d);
    }
}

void emb_attn_wsum_q8(const int8_t *p, const int8_t *rows, uint32_t n, uint32_t d,
                      int32_t *out)
{
    uint32_t i = 0;
    for (; i + 4u <= d; i += 4u) {
        const int8_t *h = rows + i; /* columns i .. i + 3 of row j */
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        /* one row per step: with two, gcc spills the sums (3.0 instructions/MAC vs 2.75) */
        for (const int8_t *pj = p, *const p_end = p + n; pj != p_end; ++pj, h += d) {
            const int32_t pa = *pj, va = emb_ld32(h);
            const int32_t a02 = __sxtb16(va), a13 = emb_sxtb16_ror8(va);
            a0 = __smlabb(a02, pa, a0);
            a1 = __smlabb(a13, pa, a1);
            a2 = __smlatb(a02, pa, a2);
            a3 = __smlatb(a13, pa, a3);
        }
        out[i] = a0;
        out[i + 1u] = a1;
        out[i + 2u] = a2;
        out[i + 3u] = a3;
    }
    for (; i < d; ++i) { /* d % 4 */
        int32_t a = 0;
        for (uint32_t j = 0; j < n; ++j) {
            a += (int32_t)p[j] * (int32_t)rows[(size_t)j * d + i];
        }
        out[i] = a;
    }
}

#endif /* EMB_KERNELS_ARM_DSP */
