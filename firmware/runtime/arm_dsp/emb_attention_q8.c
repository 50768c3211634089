/*
 * emb_attn_scores_q8 and emb_attn_wsum_q8 for cores with the DSP extension
 * (firmware/runtime/emb_attention_q8.c has the references; results are bit-identical: all
 * integer). Scores: q widened to int16 pairs once, then four rows per pass, __smlad; with
 * d = 128 fully unrolled. Weighted sum from the transposed rows (emb_attn_wsum_q8t): the same
 * four-run dot over p widened once per chunk of 128 keys, four columns per pass.
 * Weighted sum from the rows: two rows at a time, four outputs kept in registers while the row
 * pairs stream by; each row's word is widened to lanes (0, 2) and (1, 3), the two rows' lanes of
 * one column are re-paired (pkhbt / pkhtb) and one __smlad adds both rows' products for that
 * column.
 */
#include "emb_internal.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

#pragma GCC optimize("no-schedule-insns") /* the pre-RA scheduler spills the four sums */

#define EMB_WIDE_MAX 128u /* values widened on the stack at a time (EmbBERT's d) */

/* a0..a3 = four runs of `words` words of int8 (h0, h0 + stride, ...) . x widened (xw):
 * per word, one load and two widenings per run, x's two words loaded once for all four. */
static inline void emb_dot4_w(const int8_t *h0, size_t stride, const int32_t *xw, uint32_t words,
                              int32_t a[4])
{
    const int8_t *h1 = h0 + stride, *h2 = h1 + stride, *h3 = h2 + stride;
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (const int32_t *const end = xw + 2u * words; xw != end;
         xw += 2, h0 += 4, h1 += 4, h2 += 4, h3 += 4) {
        const int32_t x02 = xw[0], x13 = xw[1];
        a0 = emb_smlad4(emb_ld32(h0), x02, x13, a0);
        a1 = emb_smlad4(emb_ld32(h1), x02, x13, a1);
        a2 = emb_smlad4(emb_ld32(h2), x02, x13, a2);
        a3 = emb_smlad4(emb_ld32(h3), x02, x13, a3);
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* emb_dot4_w for 32 words (128 values) with the stride a constant: fully unrolled, every
 * load at an immediate offset. */
#define EMB_DOT4_FIXED(h0, stride, xw, a)                                                          \
    do {                                                                                           \
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                    \
        _Pragma("GCC unroll 32") for (uint32_t m = 0; m < 32u; ++m)                                \
        {                                                                                          \
            const int32_t x02 = (xw)[2u * m], x13 = (xw)[2u * m + 1u];                             \
            a0 = emb_smlad4(emb_ld32((h0) + 4u * m), x02, x13, a0);                                \
            a1 = emb_smlad4(emb_ld32((h0) + (stride) + 4u * m), x02, x13, a1);                     \
            a2 = emb_smlad4(emb_ld32((h0) + 2u * (stride) + 4u * m), x02, x13, a2);                \
            a3 = emb_smlad4(emb_ld32((h0) + 3u * (stride) + 4u * m), x02, x13, a3);                \
        }                                                                                          \
        (a)[0] = a0, (a)[1] = a1, (a)[2] = a2, (a)[3] = a3;                                        \
    } while (0)

void emb_attn_scores_q8(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out)
{
    if (d > EMB_WIDE_MAX || d % 4u != 0u) {
        for (uint32_t j = 0; j < n; ++j) {
            out[j] = emb_dot_i8(q, rows + (size_t)j * d, d);
        }
        return;
    }
    int32_t qw[EMB_WIDE_MAX / 2u]; /* q widened once for every row */
    emb_widen_i8(q, d, qw);
    uint32_t j = 0;
    for (; j + 4u <= n; j += 4u) {
        const int8_t *h = rows + (size_t)j * d;
        if (d == 128u) {
            EMB_DOT4_FIXED(h, 128u, qw, out + j);
        } else {
            int32_t a[4] = {0, 0, 0, 0};
            emb_dot4_w(h, d, qw, d / 4u, a);
            out[j] = a[0], out[j + 1u] = a[1], out[j + 2u] = a[2], out[j + 3u] = a[3];
        }
    }
    for (; j < n; ++j) {
        out[j] = emb_dot_i8(q, rows + (size_t)j * d, d);
    }
}

void emb_attn_wsum_q8t(const int8_t *p, const int8_t *cols, uint32_t ld, uint32_t n, uint32_t d,
                       int32_t *out)
{
    int32_t pw[EMB_WIDE_MAX / 2u]; /* a chunk of p widened once for every column */
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0;
    }
    for (uint32_t j = 0; j < n; j += EMB_WIDE_MAX) { /* chunks of up to 128 keys */
        const uint32_t len = n - j < EMB_WIDE_MAX ? n - j : EMB_WIDE_MAX, len4 = len & ~3u;
        emb_widen_i8(p + j, len4, pw);
        uint32_t i = 0;
        for (; i + 4u <= d; i += 4u) {
            const int8_t *c = cols + (size_t)i * ld + j;
            int32_t a[4];
            if (len4 == 128u && ld == 256u) { /* a whole chunk at EmbBERT's max_len */
                EMB_DOT4_FIXED(c, 256u, pw, a);
            } else {
                a[0] = a[1] = a[2] = a[3] = 0;
                emb_dot4_w(c, ld, pw, len4 / 4u, a);
            }
            for (uint32_t m = 0; m < 4u; ++m) {
                int32_t s = a[m];
                for (uint32_t r = len4; r < len; ++r) { /* len % 4 keys */
                    s += (int32_t)p[j + r] * (int32_t)c[(size_t)m * ld + r];
                }
                out[i + m] += s;
            }
        }
        for (; i < d; ++i) { /* d % 4 columns */
            out[i] += emb_dot_i8(p + j, cols + (size_t)i * ld + j, len);
        }
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
