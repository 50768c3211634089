/*
 * emb_linear_q8 for cores with the DSP extension (firmware/runtime/emb_linear_q8.c has the
 * reference and the portable twin; results are bit-identical). Four output rows per pass over
 * the codes of x: each word of x is widened once and multiplied into four rows' sums with
 * __smlad; the float operations per row are the reference's, in its order (block scale times
 * the block's int32 sum added in storage order, then * xs, then + bias).
 * Weights stay in the 34-byte emb_block_q8_t records: qs starts 2 bytes into a record, so the
 * 32-bit loads are unaligned (the core allows them; docs/quantization.md has the measurement).
 */
#include "emb_internal.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

#pragma GCC optimize("no-schedule-insns") /* the pre-RA scheduler spills the four sums */

EMB_STATIC_ASSERT(EMB_QBLOCK % 4 == 0, dsp_blocks_are_whole_words);

static inline int32_t emb_block_dot1(const int8_t *q, const int8_t *x)
{
    int32_t a = 0;
    for (const int8_t *const end = x + EMB_QBLOCK; x != end; x += 4, q += 4) {
        const int32_t xv = emb_ld32(x);
        a = emb_smlad4(emb_ld32(q), __sxtb16(xv), emb_sxtb16_ror8(xv), a);
    }
    return a;
}

/* s[m] = block k[m] . x for four rows' blocks at the same column. */
static inline void emb_block_dot4(const emb_block_q8_t *const k[4], const int8_t *x,
                                  int32_t s[4])
{
    const int8_t *q0 = k[0]->qs, *q1 = k[1]->qs, *q2 = k[2]->qs, *q3 = k[3]->qs;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (const int8_t *const end = x + EMB_QBLOCK; x != end;
         x += 4, q0 += 4, q1 += 4, q2 += 4, q3 += 4) {
        const int32_t xv = emb_ld32(x);
        const int32_t x02 = __sxtb16(xv), x13 = emb_sxtb16_ror8(xv);
        a0 = emb_smlad4(emb_ld32(q0), x02, x13, a0);
        a1 = emb_smlad4(emb_ld32(q1), x02, x13, a1);
        a2 = emb_smlad4(emb_ld32(q2), x02, x13, a2);
        a3 = emb_smlad4(emb_ld32(q3), x02, x13, a3);
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
}

/* Where each of rows r .. r + m - 1 starts among the int8 and the fp16 blocks, given where
 * row r starts: a row's int8 blocks are the unmasked ones in it. */
static void emb_row_starts(const emb_qtensor_t *w, uint32_t r, uint32_t m,
                           const emb_block_q8_t *blk, const uint16_t *h,
                           const emb_block_q8_t *k[4], const uint16_t *hh[4])
{
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    for (uint32_t i = 0; i < m; ++i) {
        k[i] = blk;
        hh[i] = h;
        uint32_t n_f16 = 0;
        if (w->encoding == EMB_QT_MIXED) {
            for (uint32_t b = (r + i) * per_row; b < (r + i + 1u) * per_row; ++b) {
                n_f16 += (uint32_t)emb_mask_bit(w->mask, b);
            }
        }
        blk += per_row - n_f16;
        h += (size_t)n_f16 * EMB_QBLOCK;
    }
}

/* acc += the contribution of block column b of one row (int8 or fp16), advancing its pointers. */
static inline void emb_row_block(const emb_qtensor_t *w, uint32_t b_flat, const int8_t *xb,
                                 const emb_block_q8_t **k, const uint16_t **hh, float *acc)
{
    if (w->encoding == EMB_QT_MIXED && emb_mask_bit(w->mask, b_flat)) {
        *acc += emb_dot_f16_q8(*hh, xb, EMB_QBLOCK);
        *hh += EMB_QBLOCK;
        return;
    }
    const emb_block_q8_t *blk = (*k)++;
    if (blk->d != 0u) { /* an all-zero block contributes nothing */
        *acc += emb_f16_to_f32_fast(blk->d) * (float)emb_block_dot1(blk->qs, xb);
    }
}

/* Rows r .. r + 3: the four-row dot where none of the four blocks is fp16. */
static void emb_rows4(const emb_qtensor_t *w, uint32_t r, const int8_t *xq,
                      const emb_block_q8_t *k[4], const uint16_t *hh[4], float acc[4])
{
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    const int mixed = w->encoding == EMB_QT_MIXED;
    for (uint32_t b = 0; b < per_row; ++b) {
        const int8_t *xb = xq + (size_t)b * EMB_QBLOCK;
        int any_f16 = 0;
        for (uint32_t m = 0; mixed && m < 4u; ++m) {
            any_f16 |= emb_mask_bit(w->mask, (r + m) * per_row + b);
        }
        if (any_f16) {
            for (uint32_t m = 0; m < 4u; ++m) {
                emb_row_block(w, (r + m) * per_row + b, xb, &k[m], &hh[m], &acc[m]);
            }
            continue;
        }
        int32_t s[4];
        emb_block_dot4(k, xb, s);
        for (uint32_t m = 0; m < 4u; ++m) {
            const emb_block_q8_t *blk = k[m]++;
            if (blk->d != 0u) {
                acc[m] += emb_f16_to_f32_fast(blk->d) * (float)s[m];
            }
        }
    }
}

emb_status_t emb_linear_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xq,
                           float xs, float *y)
{
    const emb_status_t st = emb_linear_q8_check(w, xq, y);
    if (st != EMB_OK) {
        return st;
    }
    if ((w->encoding != EMB_QT_Q8 && w->encoding != EMB_QT_MIXED) || w->cols % EMB_QBLOCK != 0u) {
        return emb_linear_q8_ref(w, bias, xq, xs, y); /* rare layouts: the reference */
    }
    const uint32_t per_row = w->cols / EMB_QBLOCK;
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
            emb_rows4(w, r, xq, k, hh, acc);
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
