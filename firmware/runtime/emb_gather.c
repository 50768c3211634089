/*
 * Embedding lookup: one row of a constant table, dequantized to float.
 * q8 tables may have rows spanning several blocks (cols % EMB_QBLOCK == 0) or blocks holding
 * several whole rows (EMB_QBLOCK % cols == 0, e.g. a (8192, 16) token table); both are read
 * as segments of the flat element range [row * cols, (row + 1) * cols).
 */
#include "emb_internal.h"

/* out (cols) = row of a q8 table. */
static void emb_gather_q8(const emb_qtensor_t *table, uint32_t row, float *out)
{
    const uint32_t cols = table->cols;
    size_t e = (size_t)row * cols; /* flat index of the next element */
    uint32_t j = 0;
    while (j < cols) {
        const emb_block_q8_t *blk = &table->blocks[e / EMB_QBLOCK];
        const uint32_t off = (uint32_t)(e % EMB_QBLOCK);
        const uint32_t left = cols - j;
        const uint32_t take = EMB_QBLOCK - off < left ? EMB_QBLOCK - off : left;
        emb_dequant_i8(blk->qs + off, emb_f16_to_f32_fast(blk->d), take, out + j);
        j += take;
        e += take;
    }
}

emb_status_t emb_gather_row_f32(const emb_qtensor_t *table, uint32_t row, float *out)
{
    if (table == NULL || out == NULL) {
        return EMB_ERR_ARG;
    }
    if (row >= table->rows) {
        return EMB_ERR_TOKEN; /* a token or position id past the table */
    }
    const uint32_t cols = table->cols;
    const size_t base = (size_t)row * cols;
    switch (table->encoding) {
    case EMB_QT_Q8:
        if (table->blocks == NULL || ((size_t)table->rows * cols) % EMB_QBLOCK != 0u) {
            return EMB_ERR_ARG;
        }
        emb_gather_q8(table, row, out);
        return EMB_OK;
    case EMB_QT_F16:
        if (table->f16 == NULL) {
            return EMB_ERR_ARG;
        }
        for (uint32_t j = 0; j < cols; ++j) {
            out[j] = emb_f16_to_f32_fast(table->f16[base + j]);
        }
        return EMB_OK;
    case EMB_QT_F32:
        if (table->f32 == NULL) {
            return EMB_ERR_ARG;
        }
        for (uint32_t j = 0; j < cols; ++j) {
            out[j] = table->f32[base + j];
        }
        return EMB_OK;
    default:
        return EMB_ERR_ARG; /* mixed tables need a sequential walk: not for random rows */
    }
}
