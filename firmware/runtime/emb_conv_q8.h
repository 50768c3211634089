/*
 * embbert-mcu runtime: what the integer conv's reference and twins share (emb_conv1d_q8.c,
 * arm_dsp/emb_conv1d_q8.c): the ring's layout and row store, the per-channel float sum, the
 * argument check.
 *
 * The ring: per channel a row of k + 4 int16 slots (EMB_CONV_RING_LEN), two halves of k/2 + 2:
 * the rows of even t in the first half, of odd t in the second, each in time order. A window
 * (rows t - (k-1) .. t) is then two runs of k/2 contiguous slots, so two taps (j, j + 2) of a
 * channel are one 32-bit word, which the weights' natural order pairs with (an int8 word of
 * taps j .. j+3 splits into the lanes (w_j, w_j+2) and (w_j+1, w_j+3)), and no window wraps.
 * Each half has two spare slots for the next rows: every fourth call (t % 4 == 0) the row
 * slides down two slots (one word) first, so that the rows stay in place for four calls. The
 * slide moves the bottom slots of the odd half into the top of the even one and leaves the
 * top two as they were; those four slots are rewritten before any window reads them. Slots of
 * rows before 0 keep the 0 that emb_conv_q16_begin cleared them to. 1 kB more than k rows of
 * d at EmbBERT's k = 32, d = 128.
 */
#ifndef EMB_CONV_Q8_H
#define EMB_CONV_Q8_H

#include "emb_quant.h"

#define EMB_Q16_MAX 32767

/* Row tau's slot at step t (t - k < tau <= t): half tau % 2, slot tau / 2 - 2 (t / 4) + k / 2
 * of that half, offset from the channel's first slot (channels EMB_CONV_RING_LEN(k, 1) apart). */
static inline uint32_t emb_conv_ring_slot(uint32_t k, uint32_t t, uint32_t tau)
{
    return (tau & 1u) * (k / 2u + 2u) + (tau >> 1) - 2u * (t >> 2) + k / 2u;
}

/* Row t of x at scale hs, into its slots (after the slide when t % 4 == 0), in integers:
 * m = round(s_t / hs * 2^16) once per row, x16 = (q * m + 2^15) >> 16 (rounds half up;
 * |q * m| < 2^31 since s_t / hs <= 32767/127). */
static inline void emb_conv_ring_store(const emb_act_t *x, uint32_t t, uint32_t k, float hs,
                                       int16_t *ring)
{
    const uint32_t d = x->d, row = EMB_CONV_RING_LEN(k, 1u);
    if (t % 4u == 0u) {
        for (uint32_t c = 0; c < d; ++c) { /* each channel's row slides down two slots */
            int16_t *s = ring + (size_t)c * row;
            for (uint32_t i = 0; i + 2u < row; ++i) {
                s[i] = s[i + 2u];
            }
        }
    }
    const int8_t *q = x->q8 + (size_t)t * d;           /* (d) */
    int16_t *dst = ring + emb_conv_ring_slot(k, t, t); /* channel 0's slot of row t */
    const float f = hs > 0.0f ? x->scales[t] / hs : 0.0f;
    const int32_t m = f > 0.0f ? emb_round_half_even(f * 65536.0f) : 0;
    for (uint32_t c = 0; c < d; ++c) {
        dst[(size_t)c * row] = (int16_t)(((int32_t)q[c] * m + 32768) >> 16);
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
