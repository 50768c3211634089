/*
 * Matrix-vector product y (rows) = W (rows, cols) x (cols) + bias, weights left in flash.
 * q8 and mixed weights are walked block by block in storage order: the int8 x float products
 * of a block (or of the part of it inside one row) are summed first, then multiplied by the
 * block's scale once. Rows may span several blocks or a block may hold several rows.
 */
#include "emb_internal.h"

/* q8 weights whose rows are whole blocks (cols % EMB_QBLOCK == 0), the common case:
 * fixed-length block dots, no segment bookkeeping, no mask test. */
static void emb_linear_q8_rows(const emb_qtensor_t *w, const float *bias, const float *x, float *y)
{
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    const emb_block_q8_t *blk = w->blocks; /* (rows, per_row) blocks */
    for (uint32_t r = 0; r < w->rows; ++r) {
        float acc = 0.0f;
        for (uint32_t b = 0; b < per_row; ++b, ++blk) {
            if (blk->d != 0u) { /* an all-zero block contributes nothing */
                const float d = emb_f16_to_f32_fast(blk->d);
                acc += d * emb_dot_q8_f32(blk->qs, x + (size_t)b * EMB_QBLOCK, EMB_QBLOCK);
            }
        }
        y[r] = bias != NULL ? acc + bias[r] : acc;
    }
}

/* The same for mixed weights: the bitmap picks an fp16 or an int8 block at each step. */
static void emb_linear_mixed_rows(const emb_qtensor_t *w, const float *bias, const float *x,
                                  float *y)
{
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    const emb_block_q8_t *blk = w->blocks; /* next int8 block */
    const uint16_t *h = w->f16;            /* next fp16 block (mixed) */
    uint32_t b = 0;                        /* block index, for the mask */
    for (uint32_t r = 0; r < w->rows; ++r) {
        float acc = 0.0f;
        const float *xb = x; /* (EMB_QBLOCK) slice of x under block b */
        for (uint32_t i = 0; i < per_row; ++i, ++b, xb += EMB_QBLOCK) {
            if (emb_mask_bit(w->mask, b)) {
                acc += emb_dot_f16_f32(h, xb, EMB_QBLOCK);
                h += EMB_QBLOCK;
            } else {
                if (blk->d != 0u) { /* an all-zero block contributes nothing */
                    const float d = emb_f16_to_f32_fast(blk->d);
                    acc += d * emb_dot_q8_f32(blk->qs, xb, EMB_QBLOCK);
                }
                ++blk;
            }
        }
        y[r] = bias != NULL ? acc + bias[r] : acc;
    }
}

/* q8 (mask == NULL) or mixed weights, any layout (blocks holding several rows): one
 * sequential pass over the n_blocks blocks, cut into segments at row ends. */
static void emb_linear_blocks(const emb_qtensor_t *w, const float *bias, const float *x, float *y)
{
    const uint32_t cols = w->cols;
    const uint32_t n_blocks = (uint32_t)(((size_t)w->rows * cols) / EMB_QBLOCK);
    const emb_block_q8_t *q8 = w->blocks; /* next int8 block */
    const uint16_t *f16 = w->f16;         /* next fp16 block (mixed) */
    uint32_t r = 0, j = 0;                /* current row and column */
    float acc = 0.0f;
    for (uint32_t b = 0; b < n_blocks; ++b) {
        const int is_f16 = w->mask != NULL && emb_mask_bit(w->mask, b);
        const emb_block_q8_t *blk = is_f16 ? NULL : q8++;
        const uint16_t *h = is_f16 ? f16 : NULL;
        const float d = is_f16 ? 1.0f : emb_f16_to_f32_fast(blk->d);
        if (is_f16) {
            f16 += EMB_QBLOCK;
        }
        for (uint32_t off = 0; off < EMB_QBLOCK;) {
            const uint32_t left = cols - j;
            const uint32_t take = EMB_QBLOCK - off < left ? EMB_QBLOCK - off : left;
            if (is_f16) {
                acc += emb_dot_f16_f32(h + off, x + j, take);
            } else if (blk->d != 0u) { /* an all-zero block contributes nothing */
                acc += d * emb_dot_q8_f32(blk->qs + off, x + j, take);
            }
            off += take;
            j += take;
            if (j == cols) {
                y[r] = bias != NULL ? acc + bias[r] : acc;
                ++r;
                j = 0;
                acc = 0.0f;
            }
        }
    }
}

emb_status_t emb_linear_f32(const emb_qtensor_t *w, const float *bias, const float *x, float *y)
{
    if (w == NULL || x == NULL || y == NULL || w->cols == 0u) {
        return EMB_ERR_ARG;
    }
    const uint32_t rows = w->rows, cols = w->cols;
    switch (w->encoding) {
    case EMB_QT_Q8:
    case EMB_QT_MIXED: {
        const int mixed = w->encoding == EMB_QT_MIXED;
        /* a mixed tensor may lack one kind of block entirely: its pointer may then be NULL */
        const int has_blocks = mixed ? (w->blocks != NULL || w->f16 != NULL) : w->blocks != NULL;
        if (!has_blocks || ((size_t)rows * cols) % EMB_QBLOCK != 0u || (mixed && w->mask == NULL)) {
            return EMB_ERR_ARG;
        }
        emb_qtensor_t view = *w;
        view.mask = mixed ? w->mask : NULL; /* q8 ignores any stray mask pointer */
        if (cols % EMB_QBLOCK == 0u && !mixed) {
            emb_linear_q8_rows(&view, bias, x, y);
        } else if (cols % EMB_QBLOCK == 0u) {
            emb_linear_mixed_rows(&view, bias, x, y);
        } else {
            emb_linear_blocks(&view, bias, x, y);
        }
        return EMB_OK;
    }
    case EMB_QT_F16:
        if (w->f16 == NULL) {
            return EMB_ERR_ARG;
        }
        for (uint32_t r = 0; r < rows; ++r) {
            const float acc = emb_dot_f16_f32(w->f16 + (size_t)r * cols, x, cols);
            y[r] = bias != NULL ? acc + bias[r] : acc;
        }
        return EMB_OK;
    case EMB_QT_F32:
        if (w->f32 == NULL) {
            return EMB_ERR_ARG;
        }
        for (uint32_t r = 0; r < rows; ++r) {
            const float acc = emb_dot_f32(w->f32 + (size_t)r * cols, x, cols);
            y[r] = bias != NULL ? acc + bias[r] : acc;
        }
        return EMB_OK;
    default:
        return EMB_ERR_ARG;
    }
}
