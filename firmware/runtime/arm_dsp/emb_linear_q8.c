/*
 * emb_linear_q8 for cores with the DSP extension (firmware/runtime/emb_linear_q8.c has the
 * reference and the portable twin; results are bit-identical). Four output rows per pass over
 * the codes of x: each word of x is widened once and multiplied into four rows' sums with
 * __smlad; the float operations per row are the reference's, in its order (block scale times
 * the block's int32 sum added in storage order, then * xs, then + bias); the fp16 scale is
 * converted by the FPU (vcvtb), exactly as the reference's integer conversion.
 * Weights stay in the 34-byte emb_block_q8_t records: qs starts 2 bytes into a record, so the
 * 32-bit loads are unaligned (the core allows them; docs/quantization.md has the measurement).
 */
#include "emb_internal.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

#pragma GCC optimize("no-schedule-insns") /* the pre-RA scheduler spills the four sums */

EMB_STATIC_ASSERT(EMB_QBLOCK % 4 == 0, dsp_blocks_are_whole_words);

/* s0..s3 = four rows' blocks q0..q3 (same column) . x, x widened (emb_widen_i8): xw = (x0, x2),
 * (x1, x3), (x4, x6), ... as words, two loads per four columns for all four rows. */
#define EMB_BLOCK_DOT4(q0, q1, q2, q3, xw, s0, s1, s2, s3)                                         \
    do {                                                                                           \
        const int8_t *p0 = (q0), *p1 = (q1), *p2 = (q2), *p3 = (q3);                               \
        const int32_t *pw = (xw), *const pw_end = pw + EMB_QBLOCK / 2u;                            \
        s0 = s1 = s2 = s3 = 0;                                                                     \
        _Pragma("GCC unroll 8") for (; pw != pw_end; pw += 2, p0 += 4, p1 += 4, p2 += 4, p3 += 4)  \
        {                                                                                          \
            const int32_t x02 = pw[0], x13 = pw[1];                                                \
            s0 = emb_smlad4(emb_ld32(p0), x02, x13, s0);                                           \
            s1 = emb_smlad4(emb_ld32(p1), x02, x13, s1);                                           \
            s2 = emb_smlad4(emb_ld32(p2), x02, x13, s2);                                           \
            s3 = emb_smlad4(emb_ld32(p3), x02, x13, s3);                                           \
        }                                                                                          \
    } while (0)

#define EMB_WIDE_COLS 128u /* x widened on the stack up to this many columns (EmbBERT's d) */

/* acc + the block's scale times its int32 sum; an all-zero block contributes nothing. */
static inline float emb_add_block(float acc, const emb_block_q8_t *blk, int32_t s)
{
    return blk->d != 0u ? acc + emb_f16_to_f32_vcvt(blk->d) * (float)s : acc;
}

/* Rows r .. rows - 1 in fours (rows - r a multiple of 4), from k0 (row r's first block) over x
 * widened to xw; per_row is a constant where inlined, so the four rows' blocks are fixed
 * offsets from one pointer. */
__attribute__((always_inline)) static inline void emb_rows4_w(const emb_block_q8_t *k0,
                                                              uint32_t per_row, uint32_t r,
                                                              uint32_t rows, const int32_t *xw,
                                                              float xs, const float *bias, float *y)
{
    const emb_block_q8_t *const k_end = k0 + (size_t)(rows - r) * per_row;
    const float *b = bias != NULL ? bias + r : NULL;
    for (y += r; k0 != k_end; k0 += 3u * per_row, y += 4) {
        float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
        const int32_t *xb = xw; /* x under block k0 */
        for (const emb_block_q8_t *const end = k0 + per_row; k0 != end;
             ++k0, xb += EMB_QBLOCK / 2u) {
            int32_t s0, s1, s2, s3;
            EMB_BLOCK_DOT4(k0->qs, k0[per_row].qs, k0[2u * per_row].qs, k0[3u * per_row].qs, xb, s0,
                           s1, s2, s3);
            emb_add_blocks2_nz(&acc0, &acc1, k0->d, k0[per_row].d, s0, s1);
            emb_add_blocks2_nz(&acc2, &acc3, k0[2u * per_row].d, k0[3u * per_row].d, s2, s3);
        }
        y[0] = emb_linear_q8_out(acc0, xs, b, 0u);
        y[1] = emb_linear_q8_out(acc1, xs, b, 1u);
        y[2] = emb_linear_q8_out(acc2, xs, b, 2u);
        y[3] = emb_linear_q8_out(acc3, xs, b, 3u);
        b = b != NULL ? b + 4 : NULL;
    }
}

/* emb_rows4_w for rows of EMB_WIDE_COLS columns (EmbBERT's 128 x 128 linears). */
__attribute__((noinline)) static void emb_rows4_w_full(const emb_block_q8_t *k0, uint32_t rows,
                                                       const int32_t *xw, float xs,
                                                       const float *bias, float *y)
{
    emb_rows4_w(k0, EMB_WIDE_COLS / EMB_QBLOCK, 0u, rows, xw, xs, bias, y);
}

/* q8 weights, rows of whole blocks: four rows per pass, then the rows left one at a time. */
static void emb_linear_q8_rows(const emb_qtensor_t *w, const float *bias, const int8_t *xq,
                               float xs, float *y)
{
    const uint32_t per_row = w->cols / EMB_QBLOCK, rows = w->rows, rows4 = rows & ~3u;
    const emb_block_q8_t *k0 = w->blocks; /* (rows, per_row) blocks */
    const int wide = w->cols <= EMB_WIDE_COLS;
    int32_t xw[EMB_WIDE_COLS / 2u]; /* x as int16 pairs, widened once for every row */
    if (wide) {
        emb_widen_i8(xq, w->cols, xw);
    }
    uint32_t r = 0;
    if (wide && per_row == EMB_WIDE_COLS / EMB_QBLOCK) {
        emb_rows4_w_full(k0, rows4, xw, xs, bias, y);
        r = rows4;
        k0 += (size_t)rows4 * per_row;
    } else if (wide) {
        emb_rows4_w(k0, per_row, 0u, rows4, xw, xs, bias, y);
        r = rows4;
        k0 += (size_t)rows4 * per_row;
    }
    for (; r + 4u <= rows; r += 4u, k0 += 4u * per_row) {
        const emb_block_q8_t *k1 = k0 + per_row, *k2 = k1 + per_row, *k3 = k2 + per_row;
        float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
        for (uint32_t b = 0; b < per_row; ++b) {
            int32_t s0, s1, s2, s3, xb[EMB_QBLOCK / 2u]; /* rows wider than x's buffer: */
            emb_widen_i8(xq + (size_t)b * EMB_QBLOCK, EMB_QBLOCK, xb); /* x a block at a time */
            EMB_BLOCK_DOT4(k0[b].qs, k1[b].qs, k2[b].qs, k3[b].qs, xb, s0, s1, s2, s3);
            acc0 = emb_add_block(acc0, &k0[b], s0);
            acc1 = emb_add_block(acc1, &k1[b], s1);
            acc2 = emb_add_block(acc2, &k2[b], s2);
            acc3 = emb_add_block(acc3, &k3[b], s3);
        }
        y[r] = emb_linear_q8_out(acc0, xs, bias, r);
        y[r + 1u] = emb_linear_q8_out(acc1, xs, bias, r + 1u);
        y[r + 2u] = emb_linear_q8_out(acc2, xs, bias, r + 2u);
        y[r + 3u] = emb_linear_q8_out(acc3, xs, bias, r + 3u);
    }
    for (; r < rows; ++r, k0 += per_row) {
        float acc = 0.0f;
        for (uint32_t b = 0; b < per_row; ++b) {
            acc = emb_add_block(acc, &k0[b],
                                emb_dot_i8(xq + (size_t)b * EMB_QBLOCK, k0[b].qs, EMB_QBLOCK));
        }
        y[r] = emb_linear_q8_out(acc, xs, bias, r);
    }
}

/* Mask bits start .. start + count - 1 (count <= 24) as one word, bit 0 = block start: at
 * most four byte loads, never past the bitmap's last byte. */
static inline uint32_t emb_mask_span(const uint8_t *mask, uint32_t start, uint32_t count)
{
    const uint32_t first = start >> 3, last = (start + count - 1u) >> 3;
    uint32_t v = 0;
    for (uint32_t i = first; i <= last; ++i) {
        v |= (uint32_t)mask[i] << (8u * (i - first));
    }
    return (v >> (start & 7u)) & ((1u << count) - 1u);
}

/* Where each of rows r .. r + m - 1 starts among the int8 and the fp16 blocks, given where
 * row r starts: a row's int8 blocks are the unmasked ones in it. */
static void emb_row_starts(const emb_qtensor_t *w, uint32_t r, uint32_t m,
                           const emb_block_q8_t *blk, const uint16_t *h, const emb_block_q8_t *k[4],
                           const uint16_t *hh[4])
{
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    for (uint32_t i = 0; i < m; ++i) {
        k[i] = blk;
        hh[i] = h;
        uint32_t n_f16 = 0;
        if (w->encoding == EMB_QT_MIXED && per_row <= 24u) { /* the row's bits as one word */
            for (uint32_t v = emb_mask_span(w->mask, (r + i) * per_row, per_row); v != 0u;
                 v &= v - 1u) {
                ++n_f16;
            }
        } else if (w->encoding == EMB_QT_MIXED) {
            for (uint32_t b = (r + i) * per_row; b < (r + i + 1u) * per_row; ++b) {
                n_f16 += (uint32_t)emb_mask_bit(w->mask, b);
            }
        }
        blk += per_row - n_f16;
        h += (size_t)n_f16 * EMB_QBLOCK;
    }
}

/* acc += the contribution of block column b of one row (int8 or fp16), advancing its pointers. */
/* sum f16(h[i]) * (float)x[i] over one block, in order: emb_dot_f16_q8 with vcvtb. */
static float emb_dot_f16_q8_vcvt(const uint16_t *h, const int8_t *x)
{
    float s = 0.0f;
    for (uint32_t i = 0; i < EMB_QBLOCK; ++i) {
        s += emb_f16_to_f32_vcvt(h[i]) * (float)x[i];
    }
    return s;
}

/* acc + the contribution of block column b of one row (int8 or fp16), advancing its pointers. */
static inline void emb_row_block(const emb_qtensor_t *w, uint32_t b_flat, const int8_t *xb,
                                 const emb_block_q8_t **k, const uint16_t **hh, float *acc)
{
    if (w->encoding == EMB_QT_MIXED && emb_mask_bit(w->mask, b_flat)) {
        *acc += emb_dot_f16_q8_vcvt(*hh, xb);
        *hh += EMB_QBLOCK;
        return;
    }
    const emb_block_q8_t *blk = (*k)++;
    *acc = emb_add_block(*acc, blk, emb_dot_i8(xb, blk->qs, EMB_QBLOCK));
}

/* A column of four rows holding an fp16 block (bit m * per_row of col set: row m's block is
 * fp16), row by row in each row's block order. Out of line, so the four-row dot of the common
 * column keeps its registers. */
__attribute__((noinline)) static void emb_mixed_column(const int8_t *xb, uint32_t col,
                                                       uint32_t per_row, const emb_block_q8_t *k[4],
                                                       const uint16_t *hh[4], float acc[4])
{
    for (uint32_t m = 0; m < 4u; ++m) {
        if ((col >> (m * per_row)) & 1u) {
            acc[m] += emb_dot_f16_q8_vcvt(hh[m], xb);
            hh[m] += EMB_QBLOCK;
        } else {
            const emb_block_q8_t *blk = k[m]++;
            acc[m] = emb_add_block(acc[m], blk, emb_dot_i8(xb, blk->qs, EMB_QBLOCK));
        }
    }
}

/* Mixed rows r .. r + 3, one block column at a time: four int8 blocks by the four-row dot,
 * a column holding an fp16 block by emb_mixed_column. */
static void emb_mixed_rows4(const emb_qtensor_t *w, uint32_t r, const int8_t *xq, const int32_t *xw,
                            const emb_block_q8_t *k[4], const uint16_t *hh[4], float acc[4])
{
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    const uint32_t g0 = r * per_row;    /* the group's first block */
    const int one_word = per_row <= 6u; /* the group's 4 * per_row mask bits fit 24 bits */
    const uint32_t gbits = one_word ? emb_mask_span(w->mask, g0, 4u * per_row) : 0u;
    const uint32_t colmask = 1u | 1u << per_row | 1u << (2u * per_row) | 1u << (3u * per_row);
    for (uint32_t b = 0; b < per_row; ++b) {
        const int8_t *xb = xq + (size_t)b * EMB_QBLOCK;
        uint32_t col; /* bit m * per_row: row r + m's block b is fp16 */
        if (one_word) {
            col = (gbits >> b) & colmask;
        } else {
            col = 0u;
            for (uint32_t m = 0; m < 4u; ++m) {
                col |= (uint32_t)emb_mask_bit(w->mask, g0 + m * per_row + b) << (m * per_row);
            }
        }
        if (col != 0u) {
            emb_mixed_column(xb, col, per_row, k, hh, acc);
            continue;
        }
        const emb_block_q8_t *k0 = k[0], *k1 = k[1], *k2 = k[2], *k3 = k[3];
        int32_t s0, s1, s2, s3, wb[EMB_QBLOCK / 2u];
        const int32_t *xwb = xw != NULL ? xw + (size_t)b * (EMB_QBLOCK / 2u) : wb;
        if (xw == NULL) { /* rows wider than x's buffer: x a block at a time */
            emb_widen_i8(xb, EMB_QBLOCK, wb);
        }
        EMB_BLOCK_DOT4(k0->qs, k1->qs, k2->qs, k3->qs, xwb, s0, s1, s2, s3);
        acc[0] = emb_add_block(acc[0], k0, s0);
        acc[1] = emb_add_block(acc[1], k1, s1);
        acc[2] = emb_add_block(acc[2], k2, s2);
        acc[3] = emb_add_block(acc[3], k3, s3);
        k[0] = k0 + 1, k[1] = k1 + 1, k[2] = k2 + 1, k[3] = k3 + 1;
    }
}

/* Rows of cols (a multiple of 4, dividing EMB_QBLOCK) over x widened to xp: one int32 sum per
 * row, the rows of one block sharing its scale (0 + d * sum, the reference's single segment per
 * row). */
static void emb_short_rows(const emb_block_q8_t *blk, uint32_t n_blocks, uint32_t cols,
                           const int32_t *xp, float xs, const float *bias, float *y)
{
    uint32_t r = 0;
    for (const emb_block_q8_t *const end = blk + n_blocks; blk != end; ++blk) {
        const float d = emb_f16_to_f32_vcvt(blk->d);
        for (const int8_t *q = blk->qs; q != blk->qs + EMB_QBLOCK; q += cols, ++r) {
            int32_t s = 0;
            for (uint32_t i = 0; i < cols; i += 4u) {
                s = emb_smlad4(emb_ld32(q + i), xp[i / 2u], xp[i / 2u + 1u], s);
            }
            y[r] = emb_linear_q8_out(emb_mla(0.0f, d, (float)s), xs, bias, r);
        }
    }
}

/* Rows of 16 in blocks of 32 (the embedder's rd = 16 projections): a block's two rows together,
 * each x word loaded once for both, their epilogue by emb_add_blocks2_nz (0 + d * sum). */
__attribute__((noinline)) static void emb_short_rows16(const emb_block_q8_t *blk, uint32_t n_blocks,
                                                       const int32_t *xp, float xs,
                                                       const float *bias, float *y)
{
    uint32_t r = 0;
    for (const emb_block_q8_t *const end = blk + n_blocks; blk != end; ++blk, r += 2u) {
        int32_t s0 = 0, s1 = 0;
        _Pragma("GCC unroll 4") for (uint32_t i = 0; i < 16u; i += 4u)
        {
            const int32_t x02 = xp[i / 2u], x13 = xp[i / 2u + 1u];
            s0 = emb_smlad4(emb_ld32(blk->qs + i), x02, x13, s0);
            s1 = emb_smlad4(emb_ld32(blk->qs + 16u + i), x02, x13, s1);
        }
        float acc0 = 0.0f, acc1 = 0.0f;
        emb_add_blocks2_nz(&acc0, &acc1, blk->d, blk->d, s0, s1);
        y[r] = emb_linear_q8_out(acc0, xs, bias, r);
        y[r + 1u] = emb_linear_q8_out(acc1, xs, bias, r + 1u);
    }
}

/* q8 weights whose rows are shorter than a block (a block holds EMB_QBLOCK / cols whole rows:
 * the embedder's rd = 16 projections): x widened to int16 pairs once, then emb_short_rows. */
static void emb_linear_q8_short_rows(const emb_qtensor_t *w, const float *bias, const int8_t *xq,
                                     float xs, float *y)
{
    const uint32_t cols = w->cols, n_blocks = w->rows * cols / EMB_QBLOCK;
    int32_t xp[EMB_QBLOCK / 2u]; /* (x0, x2), (x1, x3), (x4, x6), ... */
    emb_widen_i8(xq, cols, xp);
    if (cols == 16u && EMB_QBLOCK == 32u) {
        emb_short_rows16(w->blocks, n_blocks, xp, xs, bias, y);
    } else {
        emb_short_rows(w->blocks, n_blocks, cols, xp, xs, bias, y);
    }
}

emb_status_t emb_linear_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xq, float xs,
                           float *y)
{
    const emb_status_t st = emb_linear_q8_check(w, xq, y);
    if (st != EMB_OK) {
        return st;
    }
    if (w->encoding == EMB_QT_Q8 && w->cols < EMB_QBLOCK && EMB_QBLOCK % w->cols == 0u &&
        w->cols % 4u == 0u) {
        emb_linear_q8_short_rows(w, bias, xq, xs, y);
        return EMB_OK;
    }
    if ((w->encoding != EMB_QT_Q8 && w->encoding != EMB_QT_MIXED) || w->cols % EMB_QBLOCK != 0u) {
        return emb_linear_q8_ref(w, bias, xq, xs, y); /* rare layouts: the reference */
    }
    if (w->encoding == EMB_QT_Q8) {
        emb_linear_q8_rows(w, bias, xq, xs, y);
        return EMB_OK;
    }
    /* mixed: four rows per pass where none of the four blocks of a column is fp16 */
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    int32_t xw[EMB_WIDE_COLS / 2u]; /* x as int16 pairs, widened once for every row */
    const int wide = w->cols <= EMB_WIDE_COLS;
    if (wide) {
        emb_widen_i8(xq, w->cols, xw);
    }
    const emb_block_q8_t *blk = w->blocks; /* first int8 block of row r */
    const uint16_t *h = w->f16;            /* first fp16 block of row r */
    uint32_t r = 0;
    while (r < w->rows) {
        const uint32_t m = w->rows - r >= 4u ? 4u : 1u;
        const emb_block_q8_t *k[4];
        const uint16_t *hh[4];
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        emb_row_starts(w, r, m, blk, h, k, hh);
        if (m == 4u) {
            emb_mixed_rows4(w, r, xq, wide ? xw : NULL, k, hh, acc);
        } else {
            for (uint32_t b = 0; b < per_row; ++b) {
                emb_row_block(w, r * per_row + b, xq + (size_t)b * EMB_QBLOCK, &k[0], &hh[0],
                              &acc[0]);
            }
        }
        for (uint32_t i = 0; i < m; ++i) {
            y[r + i] = emb_linear_q8_out(acc[i], xs, bias, r + i);
        }
        blk = k[m - 1u];
        h = hh[m - 1u];
        r += m;
    }
    return EMB_OK;
}

#endif /* EMB_KERNELS_ARM_DSP */
