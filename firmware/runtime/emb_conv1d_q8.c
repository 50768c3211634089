/*
 * Causal depthwise convolution over time in integers (EmbBERT's conv branch on the integer MAC
 * path): int8 weights (one 32-tap block = EMB_QBLOCK taps of one channel, its own scale) times
 * the input rows requantized to int16 at one scale for the whole sequence, summed in int32.
 *
 * Why int16 at one scale: the stored rows are int8 with one scale per row, and a channel's
 * window mixes k rows; a sum of int8 products over rows of different scales cannot stay in
 * integers. One scale for the sequence (hs = the largest stored |value| / 32767) keeps every
 * product in integers and loses nothing the int8 rows held (<= 127 steps become <= 32767).
 * Each row is requantized once, into a ring that the calls for t = 0, 1, 2, ... fill in order
 * (k + 4 slots per channel, laid out so that a channel's window is two contiguous runs:
 * emb_conv_q8.h); the ring is the only state and lives in the caller's arena.
 *
 *   m_r       = round_half_even(s_r / hs * 65536)          (float32, once per row)
 *   x16[r][c] = (q[r][c] * m_r + 32768) >> 16               (int32, an arithmetic shift)
 *   out[c]    = (sum over blocks b of the channel, in order: d_b * (float)isum_b) * hs + bias[c]
 *   isum_b    = sum_{j in b} w[c][j] * x16[t - (k-1) + j][c]   (rows before 0 are zero)
 *
 * The _ref function is the reference (each tap's slot by its definition); the plain name is
 * the twin (each channel's even taps against one run, its odd taps against the other, the same
 * integer sums and the same float operations in the same order).
 */
#include "emb_conv_q8.h"

float emb_conv_q16_scale(const emb_act_t *x, uint32_t n)
{
    float amax = 0.0f;
    for (uint32_t r = 0; r < n; ++r) {
        const float v = (float)EMB_QMAX * x->scales[r]; /* the row's largest |code| is 127 */
        amax = v > amax ? v : amax;
    }
    return amax / (float)EMB_Q16_MAX;
}

float emb_conv_q16_begin(const emb_act_t *x, uint32_t n, int16_t *ring, uint32_t ring_len)
{
    for (uint32_t i = 0; i < ring_len; ++i) {
        ring[i] = 0; /* the calls fill it before they read it; cleared so no stale row is seen */
    }
    return emb_conv_q16_scale(x, n);
}

emb_status_t emb_conv1d_dw_causal_q8_ref(const emb_qtensor_t *w, const float *bias,
                                         const emb_act_t *x, uint32_t t, float hs, int16_t *ring,
                                         float *out)
{
    if (!emb_conv_q8_args_ok(w, x, ring, out) || w->cols / EMB_QBLOCK > EMB_CONV_MAX_BLOCKS) {
        return EMB_ERR_ARG;
    }
    const uint32_t k = w->cols, d = x->d, per_ch = k / EMB_QBLOCK;
    const uint32_t jmin = t + 1u >= k ? 0u : k - 1u - t; /* taps before jmin read padding */
    emb_conv_ring_store(x, t, k, hs, ring);
    for (uint32_t c = 0; c < d; ++c) {
        const emb_block_q8_t *blk = w->blocks + (size_t)c * per_ch; /* (per_ch) */
        const int16_t *xc = ring + (size_t)c * EMB_CONV_RING_LEN(k, 1u);
        int32_t isum[EMB_CONV_MAX_BLOCKS];
        for (uint32_t b = 0; b < per_ch; ++b) {
            isum[b] = 0;
        }
        for (uint32_t j = jmin; j < k; ++j) {
            const uint32_t tau = t + 1u + j - k; /* row t - (k-1) + j */
            isum[j / EMB_QBLOCK] += (int32_t)blk[j / EMB_QBLOCK].qs[j % EMB_QBLOCK] *
                                    (int32_t)xc[emb_conv_ring_slot(k, t, tau)];
        }
        const float acc = emb_conv_channel_acc(blk, per_ch, isum);
        out[c] = acc * hs + (bias != NULL ? bias[c] : 0.0f);
    }
    return EMB_OK;
}

#if !EMB_KERNELS_ARM_DSP

emb_status_t emb_conv1d_dw_causal_q8(const emb_qtensor_t *w, const float *bias, const emb_act_t *x,
                                     uint32_t t, float hs, int16_t *ring, float *out)
{
    if (!emb_conv_q8_args_ok(w, x, ring, out) || w->cols / EMB_QBLOCK > EMB_CONV_MAX_BLOCKS) {
        return emb_conv1d_dw_causal_q8_ref(w, bias, x, t, hs, ring, out);
    }
    const uint32_t k = w->cols, d = x->d, per_ch = k / EMB_QBLOCK, half = k / 2u + 2u;
    const uint32_t jmin = t + 1u >= k ? 0u : k - 1u - t;
    emb_conv_ring_store(x, t, k, hs, ring);
    /* even taps 2i: slot a + i of half (t + 1) % 2; odd taps 2i + 1: slot b + i of the other
     * (emb_conv_ring_slot of rows t + 1 - k and t + 2 - k; the slots before row 0 hold 0) */
    const size_t a = ((t + 1u) & 1u) * half + ((t % 4u + 1u) >> 1);
    const size_t b = (t & 1u) * half + ((t % 4u + 2u) >> 1);
    for (uint32_t c = 0; c < d; ++c) {
        const emb_block_q8_t *blk = w->blocks + (size_t)c * per_ch; /* (per_ch) */
        const int16_t *xa = ring + (size_t)c * 2u * half + a;       /* (k / 2) even taps */
        const int16_t *xb = ring + (size_t)c * 2u * half + b;       /* (k / 2) odd taps */
        int32_t isum[EMB_CONV_MAX_BLOCKS];
        for (uint32_t bi = 0; bi < per_ch; ++bi, xa += EMB_QBLOCK / 2u, xb += EMB_QBLOCK / 2u) {
            const int8_t *q = blk[bi].qs;
            /* from the first pair of taps with one at or after jmin (the slots before hold 0) */
            const uint32_t i0 = jmin > bi * EMB_QBLOCK ? (jmin - bi * EMB_QBLOCK) / 2u : 0u;
            int32_t s = 0;
            if (i0 == 0u) { /* a constant trip count: gcc vectorizes it */
                for (uint32_t i = 0; i < EMB_QBLOCK / 2u; ++i) {
                    s += (int32_t)q[2u * i] * xa[i] + (int32_t)q[2u * i + 1u] * xb[i];
                }
            } else {
                for (uint32_t i = i0; i < EMB_QBLOCK / 2u; ++i) {
                    s += (int32_t)q[2u * i] * xa[i] + (int32_t)q[2u * i + 1u] * xb[i];
                }
            }
            isum[bi] = s;
        }
        const float acc = emb_conv_channel_acc(blk, per_ch, isum);
        out[c] = acc * hs + (bias != NULL ? bias[c] : 0.0f);
    }
    return EMB_OK;
}

#endif /* !EMB_KERNELS_ARM_DSP */
