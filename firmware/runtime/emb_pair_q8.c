/*
 * The linear on two input rows (emb_runtime.h, "two rows at a time"), portable twin: each
 * q8 block's codes multiply both inputs in one vectorizable loop (other encodings: the
 * one-row kernel twice); firmware/runtime/arm_dsp/ has the DSP one.
 */
#include "emb_internal.h"

#if !EMB_KERNELS_ARM_DSP

/* a block's codes q times xa and xb: one fixed-length loop with two sums, so gcc -O2
 * vectorizes it and each weight vector is loaded and widened once for both. */
static inline void emb_block_dot2_i8(const int8_t *q, const int8_t *xa, const int8_t *xb,
                                     int32_t *sa, int32_t *sb)
{
    int32_t a = 0, b = 0;
    for (uint32_t i = 0; i < EMB_QBLOCK; ++i) {
        a += (int32_t)q[i] * (int32_t)xa[i];
        b += (int32_t)q[i] * (int32_t)xb[i];
    }
    *sa = a, *sb = b;
}

emb_status_t emb_linear2_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xa, float xsa,
                            const int8_t *xb, float xsb, float *ya, float *yb)
{
    emb_status_t st = emb_linear2_q8_check(w, xa, ya, xb, yb);
    if (st != EMB_OK) {
        return st;
    }
    if (w->encoding != EMB_QT_Q8 || w->cols % EMB_QBLOCK != 0u) {
        st = emb_linear_q8(w, bias, xa, xsa, ya); /* mixed or other layouts: one at a time */
        return st != EMB_OK ? st : emb_linear_q8(w, bias, xb, xsb, yb);
    }
    const uint32_t per_row = w->cols / EMB_QBLOCK;
    const emb_block_q8_t *blk = w->blocks;
    for (uint32_t r = 0; r < w->rows; ++r) {
        float acc_a = 0.0f, acc_b = 0.0f;
        for (uint32_t i = 0; i < per_row; ++i, ++blk) {
            if (blk->d != 0u) { /* an all-zero block contributes nothing */
                int32_t sa, sb;
                emb_block_dot2_i8(blk->qs, xa + (size_t)i * EMB_QBLOCK, xb + (size_t)i * EMB_QBLOCK,
                                  &sa, &sb);
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
