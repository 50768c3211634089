/*
 * Causal depthwise convolution over time in integers (EmbBERT's conv branch on the integer MAC
 * path): int8 weights (one 32-tap block = EMB_QBLOCK taps of one channel, its own scale) times
 * the input rows requantized to int16 at one scale for the whole sequence, summed in int32.
 *
 * Why int16 at one scale: the stored rows are int8 with one scale per row, and a channel's
 * window mixes k rows; a sum of int8 products over rows of different scales cannot stay in
 * integers. One scale for the sequence (hs = the largest stored |value| / 32767) keeps every
 * product in integers and loses nothing the int8 rows held (<= 127 steps become <= 32767).
 * Each row is requantized once, into a ring of k rows that the calls for t = 0, 1, 2, ... fill
 * in order; the ring is the only state and lives in the caller's arena.
 *
 *   m_r       = round_half_even(s_r / hs * 65536)          (float32, once per row)
 *   x16[r][c] = (q[r][c] * m_r + 32768) >> 16               (int32, an arithmetic shift)
 *   out[c]    = (sum over blocks b of the channel, in order: d_b * (float)isum_b) * hs + bias[c]
 *   isum_b    = sum_{j in b} w[c][j] * x16[t - (k-1) + j][c]   (rows before 0 are zero)
 *
 * The _ref function is the reference; the plain name is the twin (four channels per pass over
 * the taps, the same integer sums and the same float operations in the same order).
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
        int32_t isum[EMB_CONV_MAX_BLOCKS];
        for (uint32_t b = 0; b < per_ch; ++b) {
            isum[b] = 0;
        }
        for (uint32_t j = jmin; j < k; ++j) {
            const uint32_t slot = (t + 1u + j) % k; /* row t - (k-1) + j */
            isum[j / EMB_QBLOCK] += (int32_t)blk[j / EMB_QBLOCK].qs[j % EMB_QBLOCK] *
                                    (int32_t)ring[(size_t)slot * d + c];
        }
        const float acc = emb_conv_channel_acc(blk, per_ch, isum);
        out[c] = acc * hs + (bias != NULL ? bias[c] : 0.0f);
    }
    return EMB_OK;
}

#if !EMB_KERNELS_ARM_DSP

/* Channels c .. c + 3 (weights q, q + cs, q + 2 cs, q + 3 cs; ring columns xr[0..3]) over
 * `taps` taps: four int32 sums, the ring walked a row at a time and wrapped at ring_end. */
static void emb_conv_q8_taps4(const int8_t *q, size_t cs, const int16_t *xr, uint32_t d,
                              const int16_t *ring, const int16_t *ring_end, uint32_t taps,
                              int32_t s[4])
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    while (taps != 0u) {
        /* the taps before the ring wraps: no wrap test inside */
        const uint32_t room = (uint32_t)((size_t)(ring_end - xr) / d);
        uint32_t run = room < taps ? room : taps;
        taps -= run;
        for (; run != 0u; --run, ++q, xr += d) {
            s0 += (int32_t)q[0] * (int32_t)xr[0];
            s1 += (int32_t)q[cs] * (int32_t)xr[1];
            s2 += (int32_t)q[2u * cs] * (int32_t)xr[2];
            s3 += (int32_t)q[3u * cs] * (int32_t)xr[3];
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
    if (!emb_conv_q8_args_ok(w, x, ring, out) || w->cols / EMB_QBLOCK > EMB_CONV_MAX_BLOCKS ||
        x->d % 4u != 0u) {
        return emb_conv1d_dw_causal_q8_ref(w, bias, x, t, hs, ring, out);
    }
    const uint32_t k = w->cols, d = x->d, per_ch = k / EMB_QBLOCK;
    const uint32_t jmin = t + 1u >= k ? 0u : k - 1u - t;
    emb_conv_ring_store(x, t, k, hs, ring);
    const size_t cs = (size_t)per_ch * sizeof(emb_block_q8_t); /* bytes between channels */
    const int16_t *const ring_end = ring + (size_t)k * d;
    for (uint32_t c = 0; c < d; c += 4u) {
        const emb_block_q8_t *blk = w->blocks + (size_t)c * per_ch;       /* (4, per_ch) */
        const int16_t *xr = ring + (size_t)((t + 1u + jmin) % k) * d + c; /* tap jmin */
        int32_t isum[4][EMB_CONV_MAX_BLOCKS];
        for (uint32_t b = 0; b < per_ch; ++b) {
            int32_t s4[4] = {0, 0, 0, 0};
            const uint32_t j0 = b * EMB_QBLOCK > jmin ? 0u : jmin - b * EMB_QBLOCK;
            if (j0 < EMB_QBLOCK) {
                emb_conv_q8_taps4(blk[b].qs + j0, cs, xr, d, ring + c, ring_end + c,
                                  EMB_QBLOCK - j0, s4);
                xr += (size_t)(EMB_QBLOCK - j0) * d;
                if (xr >= ring_end) {
                    xr -= (size_t)k * d;
                }
            }
            isum[0][b] = s4[0], isum[1][b] = s4[1], isum[2][b] = s4[2], isum[3][b] = s4[3];
        }
        for (uint32_t m = 0; m < 4u; ++m) {
            const float acc = emb_conv_channel_acc(blk + (size_t)m * per_ch, per_ch, isum[m]);
            out[c + m] = acc * hs + (bias != NULL ? bias[c + m] : 0.0f);
        }
    }
    return EMB_OK;
}

#endif /* !EMB_KERNELS_ARM_DSP */
