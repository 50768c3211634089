/*
 * embbert-mcu runtime: what the integer conv's reference and twins share (emb_conv1d_q8.c,
 * arm_dsp/emb_conv1d_q8.c): the ring row store, the per-channel float sum, the argument check.
 */
#ifndef EMB_CONV_Q8_H
#define EMB_CONV_Q8_H

#include "emb_quant.h"

#define EMB_Q16_MAX 32767

/* ring slot t % k = row t of x at scale hs, in integers: m = round(s_t / hs * 2^16) once per
 * row, x16 = (q * m + 2^15) >> 16 (rounds half up; |q * m| < 2^31 since s_t / hs <= 32767/127). */
static inline void emb_conv_ring_store(const emb_act_t *x, uint32_t t, uint32_t k, float hs,
                                       int16_t *ring)
{
    const uint32_t d = x->d;
    const int8_t *q = x->q8 + (size_t)t * d;   /* (d) */
    int16_t *dst = ring + (size_t)(t % k) * d; /* (d) */
    const float f = hs > 0.0f ? x->scales[t] / hs : 0.0f;
    const int32_t m = f > 0.0f ? emb_round_half_even(f * 65536.0f) : 0;
    for (uint32_t c = 0; c < d; ++c) {
        dst[c] = (int16_t)(((int32_t)q[c] * m + 32768) >> 16);
    }
}

static inline int emb_conv_q8_args_ok(const emb_qtensor_t *w, const emb_act_t *x,
                                      const int16_t *ring, const float *out)
{
    return w != NULL && x != NULL && ring != NULL && out != NULL && x->q8 != NULL &&
           x->scales != NULL && w->encoding == EMB_QT_Q8 && w->blocks != NULL && w->rows == x->d &&
           w->cols != 0u && w->cols % EMB_QBLOCK == 0u;
}

/* The channel's float sum: its blocks' int32 sums times their scales, in order. */
static inline float emb_conv_channel_acc(const emb_block_q8_t *blk, uint32_t per_ch,
                                         const int32_t *isum)
{
    float acc = 0.0f;
    for (uint32_t b = 0; b < per_ch; ++b) {
        if (blk[b].d != 0u) { /* an all-zero block contributes nothing */
            acc += emb_f16_to_f32_fast(blk[b].d) * (float)isum[b];
        }
    }
    return acc;
}

#define EMB_CONV_MAX_BLOCKS 8u /* k <= 8 * EMB_QBLOCK taps */

#endif /* EMB_CONV_Q8_H */
