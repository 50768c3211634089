/*
 * The linear on two input rows (emb_runtime.h, "two rows at a time"), portable twin: both
 * inputs widened to int16 once, each q8 block's codes multiplied by both in one vectorizable
 * loop (other encodings: the one-row kernel twice); firmware/runtime/arm_dsp/ has the DSP
 * one.
 */
#include "emb_internal.h"

#if !EMB_KERNELS_ARM_DSP

emb_status_t emb_linear2_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xa, float xsa,
                            const int8_t *xb, float xsb, float *ya, float *yb)
{
    emb_status_t st = emb_linear2_q8_check(w, xa, ya, xb, yb);
    if (st != EMB_OK) {
        return st;
    }
    if (w->encoding != EMB_QT_Q8 || w->cols % EMB_QBLOCK != 0u || w->cols > EMB_WIDE16) {
        st = emb_linear_q8(w, bias, xa, xsa, ya); /* mixed or other layouts: one at a time */
        return st != EMB_OK ? st : emb_linear_q8(w, bias, xb, xsb, yb);
    }
    int16_t xw[2][EMB_WIDE16]; /* both inputs widened once for every row */
    emb_widen_i16(xa, w->cols, xw[0]);
    emb_widen_i16(xb, w->cols, xw[1]);
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    const emb_block_q8_t *blk = w->blocks;
    for (uint32_t r = 0; r < w->rows; ++r) {
        float acc_a = 0.0f, acc_b = 0.0f;
        for (uint32_t i = 0; i < per_row; ++i, ++blk) {
            if (blk->d != 0u) { /* an all-zero block contributes nothing */
                int32_t sa, sb;
                emb_dot2_w16(xw[0] + (size_t)i * EMB_QBLOCK, xw[1] + (size_t)i * EMB_QBLOCK,
                             blk->qs, EMB_QBLOCK, &sa, &sb);
                const float f = emb_f16_to_f32_fast(blk->d);
                acc_a += f * (float)sa;
                acc_b += f * (float)sb;
            }
        }
        ya[r] = emb_linear_q8_out(acc_a, xsa, bias, r);
        yb[r] = emb_linear_q8_out(acc_b, xsb, bias, r);
    }
    return EMB_OK;
}

#endif /* !EMB_KERNELS_ARM_DSP */
