/*
 * emb_conv1d_dw_causal_q8 for cores with the DSP extension (firmware/runtime/emb_conv1d_q8.c
 * has the reference and the portable twin; results are bit-identical: the same int32 sums and
 * the same float operations in the same order). Four channels per pass over the taps: each
 * tap reads the four channels' int16 window values as two words and multiplies each half by
 * its channel's int8 weight (__smlabb / __smlabt). With one block of taps per channel (k =
 * EMB_QBLOCK, EmbBERT's k = 32) the four weights sit at fixed offsets (one block record
 * apart) and the ring stride is fixed when d = 128, so the loop keeps everything in registers;
 * other shapes take the same loop with strides in registers, or the reference.
 */
#include "emb_conv_q8.h"

#if EMB_KERNELS_ARM_DSP

#include "emb_dsp.h"

#pragma GCC optimize("no-schedule-insns") /* the pre-RA scheduler spills the four sums */

#define EMB_BLK ((uint32_t)sizeof(emb_block_q8_t))

/* s[0..3] += taps .. of channels c .. c+3: q = channel c's weights at the first tap (the
 * others one block record apart), xr = the ring row of that tap at column c, rows `stride`
 * int16 apart, wrapping from ring_end to ring. */
static inline void emb_conv_taps4_dsp(const int8_t *q, const int16_t *xr, uint32_t stride,
                                      const int16_t *ring, const int16_t *ring_end, uint32_t taps,
                                      int32_t s[4])
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    while (taps != 0u) {
        const uint32_t room = (uint32_t)((size_t)(ring_end - xr) / stride);
        uint32_t run = room < taps ? room : taps;
        taps -= run;
        for (; run != 0u; --run, ++q, xr += stride) {
            int32_t x01, x23;
            memcpy(&x01, xr, sizeof x01); /* channels c, c+1 as int16 halves */
            memcpy(&x23, xr + 2, sizeof x23);
            s0 = __smlabb(q[0], x01, s0);
            s1 = __smlabt(q[EMB_BLK], x01, s1);
            s2 = __smlabb(q[2u * EMB_BLK], x23, s2);
            s3 = __smlabt(q[3u * EMB_BLK], x23, s3);
        }
        if (xr == ring_end) {
            xr = ring;
        }
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

emb_status_t emb_conv1d_dw_causal_q8(const emb_qtensor_t *w, const float *bias, const emb_act_t *x,
                                     uint32_t t, float hs, int16_t *ring, float *out)
{
    if (!emb_conv_q8_args_ok(w, x, ring, out) || w->cols != EMB_QBLOCK || x->d % 4u != 0u) {
        return emb_conv1d_dw_causal_q8_ref(w, bias, x, t, hs, ring, out);
    }
    const uint32_t k = EMB_QBLOCK, d = x->d;
    const uint32_t jmin = t + 1u >= k ? 0u : k - 1u - t; /* taps before jmin read padding */
    emb_conv_ring_store(x, t, k, hs, ring);
    const int16_t *const first = ring + (size_t)((t + 1u + jmin) % k) * d; /* tap jmin's row */
    for (uint32_t c = 0; c < d; c += 4u) {
        const emb_block_q8_t *blk = w->blocks + c; /* (4) one block per channel */
        int32_t s4[4] = {0, 0, 0, 0};
        if (d == 128u) { /* EmbBERT's d: the ring stride an immediate */
            emb_conv_taps4_dsp(blk->qs + jmin, first + c, 128u, ring + c, ring + k * 128u + c,
                               k - jmin, s4);
        } else {
            emb_conv_taps4_dsp(blk->qs + jmin, first + c, d, ring + c, ring + (size_t)k * d + c,
                               k - jmin, s4);
        }
        for (uint32_t m = 0; m < 4u; ++m) {
            const float acc = emb_conv_channel_acc(blk + m, 1u, &s4[m]);
            out[c + m] = acc * hs + (bias != NULL ? bias[c + m] : 0.0f);
        }
    }
    return EMB_OK;
}

#endif /* EMB_KERNELS_ARM_DSP */
