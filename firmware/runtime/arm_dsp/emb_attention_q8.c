/*
 * emb_attn_scores_q8 and emb_attn_wsum_q8 for cores with the DSP extension
 * (firmware/runtime/emb_attention_q8.c has the references; results are bit-identical: all
 * integer). Scores: four rows per pass over q, each word of q widened once, __smlad.
 * Weighted sum: two rows at a time, four outputs kept in registers while the row pairs stream
 * by; each row's word is widened to lanes (0, 2) and (1, 3), the two rows' lanes of one column
 * are re-paired (pkhbt / pkhtb) and one __smlad adds both rows' products for that column.
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

void emb_attn_scores_q8(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out)
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

#define EMB_WSUM_PAIRS 64u /* row pairs per chunk: their weights as int16 pairs on the stack */

/* out[i .. i+3] += sum over rows 2m, 2m+1 of chunk: (p_2m, p_2m+1) . (h_2m[c], h_2m+1[c]) with
 * one __smlad per column: the two rows' words widened, their lanes re-paired by pkhbt/pkhtb. */
static inline void emb_wsum_pairs4(const int32_t *pp, uint32_t pairs, const int8_t *h, uint32_t d,
                                   int32_t *out)
{
    int32_t a0 = out[0], a1 = out[1], a2 = out[2], a3 = out[3];
    for (const int32_t *const pp_end = pp + pairs; pp != pp_end; ++pp, h += 2u * d) {
        const int32_t va = emb_ld32(h), vb = emb_ld32(h + d), w = *pp;
        const int32_t a02 = __sxtb16(va), b02 = __sxtb16(vb);
        const int32_t a13 = emb_sxtb16_ror8(va), b13 = emb_sxtb16_ror8(vb);
        a0 = __smlad(emb_pack_lo(a02, b02), w, a0);
        a1 = __smlad(emb_pack_lo(a13, b13), w, a1);
        a2 = __smlad(emb_pack_hi(a02, b02), w, a2);
        a3 = __smlad(emb_pack_hi(a13, b13), w, a3);
    }
    out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;
}

void emb_attn_wsum_q8(const int8_t *p, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out)
{
    int32_t pp[EMB_WSUM_PAIRS]; /* (p_2m, p_2m+1) of the chunk as int16 lanes */
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0;
    }
    const uint32_t d4 = d & ~3u;
    uint32_t j = 0;
    while (j + 2u <= n) { /* chunks of up to EMB_WSUM_PAIRS row pairs */
        uint32_t pairs = (n - j) / 2u;
        pairs = pairs < EMB_WSUM_PAIRS ? pairs : EMB_WSUM_PAIRS;
        for (uint32_t m = 0; m < pairs; ++m) {
            pp[m] = emb_pack_lo(p[j + 2u * m], p[j + 2u * m + 1u]);
        }
        const int8_t *h = rows + (size_t)j * d; /* (2 * pairs, d) */
        for (uint32_t i = 0; i < d4; i += 4u) {
            if (d == 128u) { /* EmbBERT's d: the row stride an immediate, no register spilled */
                emb_wsum_pairs4(pp, pairs, h + i, 128u, out + i);
            } else {
                emb_wsum_pairs4(pp, pairs, h + i, d, out + i);
            }
        }
        for (uint32_t i = d4; i < d; ++i) { /* d % 4 */
            for (uint32_t r = 0; r < 2u * pairs; ++r) {
                out[i] += (int32_t)p[j + r] * (int32_t)h[(size_t)r * d + i];
            }
        }
        j += 2u * pairs;
    }
    if (j < n) { /* an odd row left */
        const int8_t *h = rows + (size_t)j * d;
        for (uint32_t i = 0; i < d; ++i) {
            out[i] += (int32_t)p[j] * (int32_t)h[i];
        }
    }
}

#endif /* EMB_KERNELS_ARM_DSP */
