/*
 * The pair kernels for cores with the DSP extension (emb_runtime.h, "two rows at a time"):
 * emb_linear2_q8, emb_attn_scores2_q8 and emb_attn_wsum2_q8t. The attention's core,
 * emb_dot2x2: two int8 runs (two H rows or two H columns) against two inputs widened once to
 * int16 pairs; each word of a run is loaded and widened once and feeds four __smlad, so a
 * word costs 9 instructions for 8 MACs where the one-row kernels spend 11 for 8 (the
 * widening of the run's word is shared by both inputs). The linear runs two weight rows
 * against x of both inputs interleaved, a pair of x words per ldrd: 16 instructions for 16
 * MACs. Integer sums are exact and the float operations per row are the one-row kernels' in
 * their order: the results are bit-identical to the one-row references applied to each input.
 */
#include "emb_internal.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

#pragma GCC optimize("no-schedule-insns") /* the pre-RA scheduler spills the four sums */

#define EMB_PAIR_MAX 128u /* values of an input widened on the stack (EmbBERT's d) */

/* s = (r0 . xa, r0 . xb, r1 . xa, r1 . xb) over `words` words, r1 = r0 + stride (stride 0:
 * one run, s[2..3] repeat s[0..1]); xa, xb widened by emb_widen_i8. Always inlined, so a
 * constant stride or length becomes immediate offsets and a fixed trip count. */
static inline __attribute__((always_inline)) void emb_dot2x2(const int8_t *r0, size_t stride,
                                                             const int32_t *xa, const int32_t *xb,
                                                             uint32_t words, int32_t s[4])
{
    const int8_t *r1 = r0 + stride;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    _Pragma("GCC unroll 8") for (uint32_t m = 0; m < words; ++m)
    {
        const int32_t u = emb_ld32(r0 + 4u * m), v = emb_ld32(r1 + 4u * m);
        const int32_t u02 = __sxtb16(u), v02 = __sxtb16(v);
        s0 = __smlad(u02, xa[2u * m], s0);
        s2 = __smlad(v02, xa[2u * m], s2);
        s1 = __smlad(u02, xb[2u * m], s1);
        s3 = __smlad(v02, xb[2u * m], s3);
        const int32_t u13 = emb_sxtb16_ror8(u), v13 = emb_sxtb16_ror8(v);
        s0 = __smlad(u13, xa[2u * m + 1u], s0);
        s2 = __smlad(v13, xa[2u * m + 1u], s2);
        s1 = __smlad(u13, xb[2u * m + 1u], s1);
        s3 = __smlad(v13, xb[2u * m + 1u], s3);
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

/* *a, *b = p[0], p[1] (p word-aligned) as one ldrd: gcc splits such a pair into two ldr when
 * it schedules the loads apart. The operand is the 64-bit member of a union with the words,
 * so its address is one ldrd takes and it aliases the int32 stores that wrote them. */
typedef union {
    int32_t w[2];
    uint64_t d;
} emb_words2_t;

static inline void emb_ld2(const int32_t *p, int32_t *a, int32_t *b)
{
    __asm__("ldrd %0, %1, %2"
            : "=r"(*a), "=r"(*b)
            : "m"(((const emb_words2_t *)(const void *)p)->d));
}

/* xa and xb (n, a multiple of 4) widened to int16 pairs and interleaved per word of x:
 * (xa0, xa2), (xb0, xb2), (xa1, xa3), (xb1, xb3), (xa4, xa6), ...: the linear loads each pair
 * of words it multiplies together with one ldrd. */
static void emb_pair_widen_ab(const int8_t *xa, const int8_t *xb, uint32_t n, int32_t *w)
{
    for (uint32_t i = 0; i < n; i += 4u, w += 4) {
        const int32_t a = emb_ld32(xa + i), b = emb_ld32(xb + i);
        w[0] = __sxtb16(a);
        w[1] = __sxtb16(b);
        w[2] = emb_sxtb16_ror8(a);
        w[3] = emb_sxtb16_ror8(b);
    }
}

/* acc = the float sums of rows k0 and k1 = k0 + stride blocks (stride 0: k0 twice) for xa
 * and xb, x interleaved by emb_pair_widen_ab: (k0 xa, k0 xb, k1 xa, k1 xb), block scale times
 * int32 sum in block order. Each weight word is widened once for both inputs (16 instructions
 * per word of both rows: 2 ldr, 2 ldrd, 4 sxtb16, 8 smlad). Inlined with a constant per_row
 * and stride for EmbBERT's rows of 4 blocks. */
static inline __attribute__((always_inline)) void emb_linear2_rows(const emb_block_q8_t *k0,
                                                                   size_t stride, uint32_t per_row,
                                                                   const int32_t *xw, float acc[4])
{
    const emb_block_q8_t *k1 = k0 + stride;
    float a0 = 0.0f, b0 = 0.0f, a1 = 0.0f, b1 = 0.0f;
    for (uint32_t b = 0; b < per_row; ++b, xw += EMB_QBLOCK) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        _Pragma("GCC unroll 8") for (uint32_t m = 0; m < EMB_QBLOCK / 4u; ++m)
        {
            const int32_t u = emb_ld32(k0[b].qs + 4u * m), v = emb_ld32(k1[b].qs + 4u * m);
            int32_t xa, xb;
            emb_ld2(xw + 4u * m, &xa, &xb);
            const int32_t u02 = __sxtb16(u), v02 = __sxtb16(v);
            s0 = __smlad(u02, xa, s0);
            s2 = __smlad(v02, xa, s2);
            s1 = __smlad(u02, xb, s1);
            s3 = __smlad(v02, xb, s3);
            emb_ld2(xw + 4u * m + 2u, &xa, &xb);
            const int32_t u13 = emb_sxtb16_ror8(u), v13 = emb_sxtb16_ror8(v);
            s0 = __smlad(u13, xa, s0);
            s2 = __smlad(v13, xa, s2);
            s1 = __smlad(u13, xb, s1);
            s3 = __smlad(v13, xb, s3);
        }
        emb_add_blocks2_nz1(&a0, &b0, k0[b].d, s0, s1);
        emb_add_blocks2_nz1(&a1, &b1, k1[b].d, s2, s3);
    }
    acc[0] = a0, acc[1] = b0, acc[2] = a1, acc[3] = b1;
}

/* Rows 0 .. rows - 1 (an even count) of 4 blocks, two a pass: the pass's blocks at fixed
 * offsets from one pointer, the outputs through pointers (no per-pass tests but the bias). */
__attribute__((noinline)) static void emb_linear2_rows4(const emb_block_q8_t *k0, uint32_t rows,
                                                        const int32_t *xw, const float *bias,
                                                        float xsa, float xsb, float *ya, float *yb)
{
    for (const emb_block_q8_t *const end = k0 + (size_t)rows * 4u; k0 != end;
         k0 += 8u, ya += 2, yb += 2) {
        float acc[4];
        emb_linear2_rows(k0, 4u, 4u, xw, acc);
        ya[0] = emb_linear_q8_out(acc[0], xsa, bias, 0u);
        yb[0] = emb_linear_q8_out(acc[1], xsb, bias, 0u);
        ya[1] = emb_linear_q8_out(acc[2], xsa, bias, 1u);
        yb[1] = emb_linear_q8_out(acc[3], xsb, bias, 1u);
        bias = bias != NULL ? bias + 2 : NULL;
    }
}

emb_status_t emb_linear2_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xa, float xsa,
                            const int8_t *xb, float xsb, float *ya, float *yb)
{
    emb_status_t st = emb_linear2_q8_check(w, xa, ya, xb, yb);
    if (st != EMB_OK) {
        return st;
    }
    if (w->encoding != EMB_QT_Q8 || w->cols % EMB_QBLOCK != 0u || w->cols > EMB_PAIR_MAX) {
        st = emb_linear_q8(w, bias, xa, xsa, ya); /* mixed, short or wide rows: one at a time */
        return st != EMB_OK ? st : emb_linear_q8(w, bias, xb, xsb, yb);
    }
    const uint32_t per_row = w->cols / EMB_QBLOCK, rows = w->rows;
    int32_t xw[EMB_PAIR_MAX]; /* xa and xb widened once for every row, interleaved */
    emb_pair_widen_ab(xa, xb, w->cols, xw);
    const emb_block_q8_t *k0 = w->blocks; /* (rows, per_row) blocks */
    uint32_t r = 0;
    if (per_row == 4u) { /* EmbBERT's 128 columns: strides and trip counts fixed */
        r = rows & ~1u;
        emb_linear2_rows4(k0, r, xw, bias, xsa, xsb, ya, yb);
        k0 += (size_t)r * per_row;
    }
    for (; r < rows; r += 2u, k0 += 2u * per_row) {
        const int two = r + 1u < rows;
        float acc[4];
        emb_linear2_rows(k0, two ? per_row : 0u, per_row, xw, acc); /* a last odd row: k0 twice */
        ya[r] = emb_linear_q8_out(acc[0], xsa, bias, r);
        yb[r] = emb_linear_q8_out(acc[1], xsb, bias, r);
        if (two) {
            ya[r + 1u] = emb_linear_q8_out(acc[2], xsa, bias, r + 1u);
            yb[r + 1u] = emb_linear_q8_out(acc[3], xsb, bias, r + 1u);
        }
    }
    return EMB_OK;
}

void emb_attn_scores2_q8(const int8_t *qa, const int8_t *qb, const int8_t *rows, uint32_t n,
                         uint32_t d, int32_t *outa, int32_t *outb)
{
    if (d > EMB_PAIR_MAX || d % 4u != 0u) {
        emb_attn_scores_q8(qa, rows, n, d, outa);
        emb_attn_scores_q8(qb, rows, n, d, outb);
        return;
    }
    int32_t qw[2][EMB_PAIR_MAX / 2u]; /* both queries widened once for every row */
    emb_widen_i8(qa, d, qw[0]);
    emb_widen_i8(qb, d, qw[1]);
    uint32_t j = 0;
    int32_t s[4];
    if (d == 128u) { /* EmbBERT's d: the row stride an immediate, 32 words a row */
        for (; j + 2u <= n; j += 2u) {
            emb_dot2x2(rows + (size_t)j * 128u, 128u, qw[0], qw[1], 32u, s);
            outa[j] = s[0], outb[j] = s[1], outa[j + 1u] = s[2], outb[j + 1u] = s[3];
        }
    }
    for (; j + 2u <= n; j += 2u) {
        emb_dot2x2(rows + (size_t)j * d, d, qw[0], qw[1], d / 4u, s);
        outa[j] = s[0], outb[j] = s[1], outa[j + 1u] = s[2], outb[j + 1u] = s[3];
    }
    if (j < n) { /* an odd last row: stride 0 */
        emb_dot2x2(rows + (size_t)j * d, 0u, qw[0], qw[1], d / 4u, s);
        outa[j] = s[0], outb[j] = s[1];
    }
}

/* (out[i], out[i + 1]) += columns i, i + 1 (c, c + stride) . (pa, pb) over len keys, len4 of
 * them by emb_dot2x2 (pw: their widened words). */
static inline __attribute__((always_inline)) void
emb_wsum2_cols(const int8_t *c, size_t stride, const int8_t *pa, const int8_t *pb,
               const int32_t (*pw)[EMB_PAIR_MAX / 2u], uint32_t len4, uint32_t len, int32_t s[4])
{
    emb_dot2x2(c, stride, pw[0], pw[1], len4 / 4u, s);
    for (uint32_t r = len4; r < len; ++r) { /* len % 4 keys */
        const int32_t x = pa[r], y = pb[r], u = c[r], v = c[stride + r];
        s[0] += x * u, s[1] += y * u, s[2] += x * v, s[3] += y * v;
    }
}

void emb_attn_wsum2_q8t(const int8_t *pa, const int8_t *pb, const int8_t *cols, uint32_t ld,
                        uint32_t n, uint32_t d, int32_t *outa, int32_t *outb)
{
    int32_t pw[2][EMB_PAIR_MAX / 2u]; /* a chunk of both weight vectors, widened once */
    for (uint32_t i = 0; i < d; ++i) {
        outa[i] = outb[i] = 0;
    }
    for (uint32_t j = 0; j < n; j += EMB_PAIR_MAX) { /* chunks of up to 128 keys */
        const uint32_t len = n - j < EMB_PAIR_MAX ? n - j : EMB_PAIR_MAX, len4 = len & ~3u;
        emb_widen_i8(pa + j, len4, pw[0]);
        emb_widen_i8(pb + j, len4, pw[1]);
        uint32_t i = 0;
        int32_t s[4];
        if (ld == 256u && len == 128u) { /* a whole chunk at EmbBERT's max_len */
            for (; i + 2u <= d; i += 2u) {
                emb_dot2x2(cols + (size_t)i * 256u + j, 256u, pw[0], pw[1], 32u, s);
                outa[i] += s[0], outb[i] += s[1], outa[i + 1u] += s[2], outb[i + 1u] += s[3];
            }
        }
        for (; i + 2u <= d; i += 2u) {
            emb_wsum2_cols(cols + (size_t)i * ld + j, ld, pa + j, pb + j, pw, len4, len, s);
            outa[i] += s[0], outb[i] += s[1], outa[i + 1u] += s[2], outb[i + 1u] += s[3];
        }
        if (i < d) { /* an odd last column: stride 0 */
            emb_wsum2_cols(cols + (size_t)i * ld + j, 0u, pa + j, pb + j, pw, len4, len, s);
            outa[i] += s[0], outb[i] += s[1];
        }
    }
}

#endif /* EMB_KERNELS_ARM_DSP */
