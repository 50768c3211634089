/*
 * Integer matrix-vector product y (rows) = W (rows, cols) (xq * xs) + bias: int8 weights times
 * int8 activation codes summed in int32 per block, scaled once per block (the block's fp16
 * scale), the row's float sum scaled once by the activation scale xs at the end.
 * emb_linear_q8_ref is the reference: one walk over the blocks in storage order, cut into
 * segments at row ends (any layout). emb_linear_q8 here is the portable twin (x widened to
 * int16 once, fixed-length block dots gcc vectorizes; rows of whole blocks or rows shorter
 * than a block); firmware/runtime/arm_dsp/ has the DSP one.
 */
#include "emb_internal.h"

/* The walk of emb_linear_f32's emb_linear_blocks with integer segment sums. */
static void emb_linear_q8_blocks_ref(const emb_qtensor_t *w, const float *bias, const int8_t *xq,
                                     float xs, float *y)
{
    const uint32_t cols = w->cols;
    const uint32_t n_blocks = (uint32_t)(((size_t)w->rows * cols) / EMB_QBLOCK);
    const int mixed = w->encoding == EMB_QT_MIXED;
    const emb_block_q8_t *q8 = w->blocks; /* next int8 block */
    const uint16_t *f16 = w->f16;         /* next fp16 block (mixed) */
    uint32_t r = 0, j = 0;                /* current row and column */
    float acc = 0.0f;
    for (uint32_t b = 0; b < n_blocks; ++b) {
        const int is_f16 = mixed && emb_mask_bit(w->mask, b);
        const emb_block_q8_t *blk = is_f16 ? NULL : q8++;
        const uint16_t *h = is_f16 ? f16 : NULL;
        if (is_f16) {
            f16 += EMB_QBLOCK;
        }
        for (uint32_t off = 0; off < EMB_QBLOCK;) {
            const uint32_t left = cols - j;
            const uint32_t take = EMB_QBLOCK - off < left ? EMB_QBLOCK - off : left;
            if (is_f16) {
                acc += emb_dot_f16_q8(h + off, xq + j, take);
            } else if (blk->d != 0u) { /* an all-zero block contributes nothing */
                int32_t s = 0;
                for (uint32_t i = 0; i < take; ++i) {
                    s += (int32_t)blk->qs[off + i] * (int32_t)xq[j + i];
                }
                acc += emb_f16_to_f32_fast(blk->d) * (float)s;
            }
            off += take;
            j += take;
            if (j == cols) {
                y[r] = emb_linear_q8_out(acc, xs, bias, r);
                ++r;
                j = 0;
                acc = 0.0f;
            }
        }
    }
}

/* f16 and f32 tensors: float weights times the codes, one row at a time. */
static void emb_linear_q8_float_w(const emb_qtensor_t *w, const float *bias, const int8_t *xq,
                                  float xs, float *y)
{
    const uint32_t cols = w->cols;
    for (uint32_t r = 0; r < w->rows; ++r) {
        const size_t e = (size_t)r * cols;
        const float acc = w->encoding == EMB_QT_F16 ? emb_dot_f16_q8(w->f16 + e, xq, cols)
                                                    : emb_dot_f32_q8(w->f32 + e, xq, cols);
        y[r] = emb_linear_q8_out(acc, xs, bias, r);
    }
}

emb_status_t emb_linear_q8_ref(const emb_qtensor_t *w, const float *bias, const int8_t *xq,
                               float xs, float *y)
{
    const emb_status_t st = emb_linear_q8_check(w, xq, y);
    if (st != EMB_OK) {
        return st;
    }
    if (w->encoding == EMB_QT_F16 || w->encoding == EMB_QT_F32) {
        emb_linear_q8_float_w(w, bias, xq, xs, y);
    } else {
        emb_linear_q8_blocks_ref(w, bias, xq, xs, y);
    }
    return EMB_OK;
}

#if !EMB_KERNELS_ARM_DSP

/* sum q[i] * x[i] over one whole block: a fixed trip count, so gcc -O2 (whose default cost
 * model vectorizes only loops with no remainder) turns it into int8 -> int32 vector code
 * (the path for inputs wider than EMB_WIDE16). */
static inline int32_t emb_block_dot_i8(const int8_t *q, const int8_t *x)
{
    int32_t s = 0;
    for (uint32_t i = 0; i < EMB_QBLOCK; ++i) {
        s += (int32_t)q[i] * (int32_t)x[i];
    }
    return s;
}

/* q8 rows shorter than a block (the embedder's 16-column projections): a block holds
 * EMB_QBLOCK / cols whole rows, each row one sum times its block's scale. */
static void emb_linear_q8_short(const emb_qtensor_t *w, const float *bias, const int16_t *xw,
                                float xs, float *y)
{
    const uint32_t cols = w->cols, per_blk = EMB_QBLOCK / cols;
    for (uint32_t r = 0; r < w->rows; ++r) {
        const emb_block_q8_t *blk = &w->blocks[r / per_blk];
        float acc = 0.0f;
        if (blk->d != 0u) {
            acc += emb_f16_to_f32_fast(blk->d) *
                   (float)emb_dot_w16(xw, blk->qs + (r % per_blk) * cols, cols);
        }
        y[r] = emb_linear_q8_out(acc, xs, bias, r);
    }
}

emb_status_t emb_linear_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xq, float xs,
                           float *y)
{
    const emb_status_t st = emb_linear_q8_check(w, xq, y);
    if (st != EMB_OK) {
        return st;
    }
    const int mixed = w->encoding == EMB_QT_MIXED;
    int16_t xw[EMB_WIDE16]; /* x widened once for every row (inputs up to EMB_WIDE16) */
    const int wide = w->cols <= EMB_WIDE16;
    if (wide) {
        emb_widen_i16(xq, w->cols, xw);
    }
    if (w->encoding == EMB_QT_Q8 && wide && w->cols < EMB_QBLOCK && EMB_QBLOCK % w->cols == 0u) {
        emb_linear_q8_short(w, bias, xw, xs, y);
        return EMB_OK;
    }
    if ((w->encoding != EMB_QT_Q8 && !mixed) || w->cols % EMB_QBLOCK != 0u) {
        return emb_linear_q8_ref(w, bias, xq, xs, y); /* rare layouts: the reference */
    }
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    const emb_block_q8_t *blk = w->blocks; /* next int8 block */
    const uint16_t *h = w->f16;            /* next fp16 block (mixed) */
    uint32_t b = 0;                        /* block index, for the mask */
    for (uint32_t r = 0; r < w->rows; ++r) {
        float acc = 0.0f;
        for (uint32_t i = 0; i < per_row; ++i, ++b) {
            const int8_t *xb = xq + (size_t)i * EMB_QBLOCK; /* (EMB_QBLOCK) codes of block b */
            if (mixed && emb_mask_bit(w->mask, b)) {
                acc += emb_dot_f16_q8(h, xb, EMB_QBLOCK);
                h += EMB_QBLOCK;
                continue;
            }
            if (blk->d != 0u) { /* an all-zero block contributes nothing */
                const int32_t s =
                    wide ? emb_dot_w16(xw + (size_t)i * EMB_QBLOCK, blk->qs, EMB_QBLOCK)
                         : emb_block_dot_i8(blk->qs, xb);
                acc += emb_f16_to_f32_fast(blk->d) * (float)s;
            }
            ++blk;
        }
        y[r] = emb_linear_q8_out(acc, xs, bias, r);
    }
    return EMB_OK;
}

#endif /* !EMB_KERNELS_ARM_DSP */
