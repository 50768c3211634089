/*
 * Causal depthwise convolution over time at one step t (EmbBERT's conv branch):
 *   out[c] = bias[c] + sum_j w[c][j] * x[t - (k-1) + j][c / alpha],  c < width, j < k,
 * rows before 0 being zero (left padding k - 1, output truncated to the input length).
 * For each output channel, the time window of its input channel is copied into `row` (up to
 * d taps at a time) and dotted with the weight row, which is read in storage order: the int8
 * products of a block are summed before its scale is applied once.
 */
#include "emb_internal.h"

/* sum_i w.flat[e + i] * x[i], i < n, for a q8, f16 or f32 tensor w (width, k) (random access). */
static float emb_qrow_dot(const emb_qtensor_t *w, size_t e, uint32_t n, const float *x)
{
    if (w->encoding == EMB_QT_F32) {
        return emb_dot_f32(w->f32 + e, x, n);
    }
    if (w->encoding == EMB_QT_F16) {
        return emb_dot_f16_f32(w->f16 + e, x, n);
    }
    float acc = 0.0f;
    for (uint32_t i = 0; i < n;) {
        const emb_block_q8_t *blk = &w->blocks[e / EMB_QBLOCK];
        const uint32_t off = (uint32_t)(e % EMB_QBLOCK);
        const uint32_t take = EMB_QBLOCK - off < n - i ? EMB_QBLOCK - off : n - i;
        if (blk->d != 0u) { /* an all-zero block contributes nothing */
            acc += emb_f16_to_f32_fast(blk->d) * emb_dot_q8_f32(blk->qs + off, x + i, take);
        }
        i += take;
        e += take;
    }
    return acc;
}

/* win (n) = x[t0 .. t0 + n - 1][ch]: one input channel's taps, dequantized (stride d). */
static void emb_load_taps(const emb_act_t *x, uint32_t t0, uint32_t ch, uint32_t n, float *win)
{
    const uint32_t d = x->d;
    if (x->q8 != NULL) {
        const int8_t *q = x->q8 + (size_t)t0 * d + ch; /* (rows, d) int8 */
        for (uint32_t i = 0; i < n; ++i, q += d) {
            win[i] = (float)*q * x->scales[t0 + i];
        }
    } else {
        const float *f = x->f32 + (size_t)t0 * d + ch; /* (rows, d) float */
        for (uint32_t i = 0; i < n; ++i, f += d) {
            win[i] = *f;
        }
    }
}

static int emb_conv_args_ok(const emb_qtensor_t *w, const emb_act_t *x, uint32_t alpha)
{
    if (w->cols == 0u || alpha == 0u || x->d == 0u || (x->q8 == NULL && x->f32 == NULL)) {
        return 0;
    }
    if ((w->rows + alpha - 1u) / alpha > x->d) {
        return 0; /* an output channel would read an input channel past d */
    }
    switch (w->encoding) {
    case EMB_QT_Q8:
        return w->blocks != NULL && ((size_t)w->rows * w->cols) % EMB_QBLOCK == 0u;
    case EMB_QT_F16:
        return w->f16 != NULL;
    case EMB_QT_F32:
        return w->f32 != NULL;
    default:
        return 0; /* mixed needs a sequential walk */
    }
}

emb_status_t emb_conv1d_dw_causal_f32(const emb_qtensor_t *w, const float *bias, const emb_act_t *x,
                                      uint32_t t, uint32_t alpha, float *row, float *out)
{
    if (w == NULL || x == NULL || row == NULL || out == NULL || !emb_conv_args_ok(w, x, alpha)) {
        return EMB_ERR_ARG;
    }
    const uint32_t k = w->cols, width = w->rows, d = x->d;
    const uint32_t jmin = t + 1u >= k ? 0u : k - 1u - t; /* taps before jmin read padding */
    const int one_chunk = k - jmin <= d; /* then a channel's window is loaded once */
    uint32_t loaded_ch = UINT32_MAX;
    for (uint32_t c = 0; c < width; ++c) {
        const uint32_t ch = c / alpha;
        float acc = 0.0f;
        for (uint32_t j0 = jmin; j0 < k;) {
            const uint32_t len = k - j0 < d ? k - j0 : d;
            if (!one_chunk || ch != loaded_ch) {
                emb_load_taps(x, t + j0 - (k - 1u), ch, len, row); /* t + j0 >= k - 1 */
                loaded_ch = ch;
            }
            acc += emb_qrow_dot(w, (size_t)c * k + j0, len, row);
            j0 += len;
        }
        out[c] = bias != NULL ? acc + bias[c] : acc;
    }
    return EMB_OK;
}
