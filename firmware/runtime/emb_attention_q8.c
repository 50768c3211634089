/*
 * The two MAC-heavy parts of attention on int8 rows, in integers: the scores q . h_j and the
 * weighted sum p . h, both over int8 codes (the caller applies the scales once per score and
 * once per output); emb_attention_row_q8 is one attention row built on them. The _ref functions are
 * the reference; the plain names here are the portable twins (the shared vector widened to
 * int16 once, fixed-length loops gcc -O2 vectorizes); firmware/runtime/arm_dsp/ has the DSP
 * ones.
 */
#include "emb_quant.h"

#if EMB_KERNELS_ARM_DSP
#include <arm_acle.h> /* __usat */
#endif

void emb_attn_scores_q8_ref(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d,
                            int32_t *out)
{
    for (uint32_t j = 0; j < n; ++j) {
        const int8_t *h = rows + (size_t)j * d; /* (d) */
        int32_t s = 0;
        for (uint32_t i = 0; i < d; ++i) {
            s += (int32_t)q[i] * (int32_t)h[i];
        }
        out[j] = s;
    }
}

void emb_attn_wsum_q8_ref(const int8_t *p, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out)
{
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0;
    }
    for (uint32_t j = 0; j < n; ++j) {
        const int8_t *h = rows + (size_t)j * d; /* (d) */
        for (uint32_t i = 0; i < d; ++i) {
            out[i] += (int32_t)p[j] * (int32_t)h[i];
        }
    }
}

#define EMB_LOG2E 1.44269504088896341f

/* 2^x for x <= 0 (a softmax term): x = k + r, k = round(x) (ties away from 0), r in
 * [-0.5, 0.5], 2^r by a degree-4 polynomial fitted for relative error (2.9e-6 in float32:
 * the term becomes an 8-bit weight, whose step is 1/254 of the largest), times 2^k built in
 * the exponent bits. Below -126 (2^x < 2^-126: nothing a sum of terms >= 1 or an 8-bit weight
 * can see) and for NaN it returns 0. Base 2 with log2(e) folded into the scores' scale: no
 * range reduction by ln 2. */
static inline float emb_exp2_nonpos(float x)
{
    if (!(x > -126.0f)) {
        return 0.0f;
    }
    const int32_t k = (int32_t)(x - 0.5f); /* truncation toward 0: round(x), x in (-126, 0] */
    const float r = x - (float)k;
    float p = 9.582852013e-03f;
    p = p * r + 5.590642616e-02f;
    p = p * r + 2.402409911e-01f;
    p = p * r + 6.931241751e-01f;
    p = p * r + 1.0f;
    const uint32_t bits = (uint32_t)(k + 127) << 23; /* 2^k, k in [-126, 0] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* The rule of emb_quant.h for a row of n values >= 0 whose largest is wmax (known, so one
 * pass): scale = wmax / 127, codes = min(round_half_even(w / scale), 127); the same bits as
 * emb_quantize_row_q8 on that row. The DSP build rounds with vcvtr (to nearest even in the
 * FPU's default mode) and saturates to 0..127 with usat. */
static float emb_quantize_nonneg_q8(const float *w, uint32_t n, float wmax, int8_t *codes)
{
    const float scale = wmax / (float)EMB_ACT_QMAX;
    if (!(scale > 0.0f)) {
        memset(codes, 0, n);
        return 0.0f;
    }
    for (uint32_t j = 0; j < n; ++j) {
        const float v = w[j] / scale;
#if EMB_KERNELS_ARM_DSP
        float t;
        __asm__("vcvtr.s32.f32 %0, %1" : "=t"(t) : "t"(v));
        int32_t r;
        memcpy(&r, &t, sizeof r);
        codes[j] = (int8_t)__usat(r, 7);
#else
        codes[j] = (int8_t)emb_round_half_even(v > (float)EMB_ACT_QMAX ? (float)EMB_ACT_QMAX : v);
#endif
    }
    return scale;
}

/* From the int32 scores of one query (codes of scale qs) to the codes of its weights
 * (n int8) and the factor the weighted sum's int32 sums are multiplied by. The scores in base
 * 2, t_j = s_j * log2(e) with s_j = (q . h_j) * qs * scale_j / sqrt(d); scores: n floats. */
static float emb_attn_weights_q8(const int32_t *sums, const emb_act_t *kv, uint32_t n, float qs,
                                 float *scores, int8_t *codes)
{
    const float c = qs * (EMB_LOG2E / sqrtf((float)kv->d));
    const float *const hs = kv->scales;
    float tmax = -INFINITY;
    for (uint32_t j = 0; j < n; ++j) {
        const float t = (float)sums[j] * (hs[j] * c);
        scores[j] = t;
        tmax = t > tmax ? t : tmax;
    }
    /* p_j = 2^(t_j - max) <= 1 (the max term is 1: total >= 1), and the weight p_j * scale_j
     * the codes are summed with, in the same pass as its running max */
    float total = 0.0f, wmax = 0.0f;
    for (uint32_t j = 0; j < n; ++j) {
        const float p = emb_exp2_nonpos(scores[j] - tmax);
        total += p;
        const float w = p * hs[j];
        scores[j] = w;
        wmax = w > wmax ? w : wmax;
    }
    return emb_quantize_nonneg_q8(scores, n, wmax, codes) / total;
}

static void emb_attn_scale_out(const int32_t *sums, float f, uint32_t d, float *out)
{
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = (float)sums[i] * f;
    }
}

static void emb_attn_zero(float *out, uint32_t d)
{
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0.0f; /* no keys: a fully masked row is 0 */
    }
}

void emb_attention_row_q8(const float *q, const emb_act_t *kv, uint32_t n, float *scores,
                          int8_t *codes, int32_t *sums, float *out)
{
    const uint32_t d = kv->d;
    if (kv->q8 == NULL) {
        emb_attention_row_f32(q, kv, n, scores, out);
        return;
    }
    if (n == 0u) {
        emb_attn_zero(out, d);
        return;
    }
    const float qs = emb_quantize_row_q8(q, d, codes);
    emb_attn_scores_q8(codes, kv->q8, n, d, sums);
    const float f = emb_attn_weights_q8(sums, kv, n, qs, scores, codes);
    if (kv->t8 != NULL) {
        emb_attn_wsum_q8t(codes, kv->t8, kv->ld, n, d, sums);
    } else {
        emb_attn_wsum_q8(codes, kv->q8, n, d, sums);
    }
    emb_attn_scale_out(sums, f, d, out);
}

void emb_attention_rows2_q8(const float *qa, const float *qb, const emb_act_t *kv, uint32_t n,
                            float *scores, int8_t *codes, int32_t *sums, float *outa, float *outb)
{
    const uint32_t d = kv->d, m = n > d ? n : d; /* the second row's scratch starts at m */
    if (kv->q8 == NULL) {
        emb_attention_row_f32(qa, kv, n, scores, outa);
        emb_attention_row_f32(qb, kv, n, scores, outb);
        return;
    }
    if (n == 0u) {
        emb_attn_zero(outa, d);
        emb_attn_zero(outb, d);
        return;
    }
    const float qsa = emb_quantize_row_q8(qa, d, codes);
    const float qsb = emb_quantize_row_q8(qb, d, codes + m);
    emb_attn_scores2_q8(codes, codes + m, kv->q8, n, d, sums, sums + m);
    const float fa = emb_attn_weights_q8(sums, kv, n, qsa, scores, codes);
    const float fb = emb_attn_weights_q8(sums + m, kv, n, qsb, scores, codes + m);
    if (kv->t8 != NULL) {
        emb_attn_wsum2_q8t(codes, codes + m, kv->t8, kv->ld, n, d, sums, sums + m);
    } else {
        emb_attn_wsum_q8(codes, kv->q8, n, d, sums);
        emb_attn_wsum_q8(codes + m, kv->q8, n, d, sums + m);
    }
    emb_attn_scale_out(sums, fa, d, outa);
    emb_attn_scale_out(sums + m, fb, d, outb);
}

#if !EMB_KERNELS_ARM_DSP

/* The portable twins: each is count dot products of one vector (or two) against int8 runs
 * `stride` apart (the scores: H's rows; the weighted sum on columns: H's columns), the
 * vector widened to int16 once per chunk of EMB_WIDE16 values, then emb_dot_w16 /
 * emb_dot2_w16 (emb_internal.h) per run. */

static void emb_runs_dot(const int8_t *v, const int8_t *runs, size_t stride, uint32_t len,
                         uint32_t count, int32_t *out)
{
    int16_t vw[EMB_WIDE16];
    for (uint32_t o = 0; o < count; ++o) {
        out[o] = 0;
    }
    for (uint32_t c = 0; c < len; c += EMB_WIDE16) {
        const uint32_t m = len - c < EMB_WIDE16 ? len - c : EMB_WIDE16;
        emb_widen_i16(v + c, m, vw);
        for (uint32_t o = 0; o < count; ++o) {
            out[o] += emb_dot_w16(vw, runs + (size_t)o * stride + c, m);
        }
    }
}

static void emb_runs_dot2(const int8_t *va, const int8_t *vb, const int8_t *runs, size_t stride,
                          uint32_t len, uint32_t count, int32_t *outa, int32_t *outb)
{
    int16_t vw[2][EMB_WIDE16];
    for (uint32_t o = 0; o < count; ++o) {
        outa[o] = outb[o] = 0;
    }
    for (uint32_t c = 0; c < len; c += EMB_WIDE16) {
        const uint32_t m = len - c < EMB_WIDE16 ? len - c : EMB_WIDE16;
        emb_widen_i16(va + c, m, vw[0]);
        emb_widen_i16(vb + c, m, vw[1]);
        for (uint32_t o = 0; o < count; ++o) {
            int32_t a, b;
            emb_dot2_w16(vw[0], vw[1], runs + (size_t)o * stride + c, m, &a, &b);
            outa[o] += a, outb[o] += b;
        }
    }
}

void emb_attn_scores_q8(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out)
{
    emb_runs_dot(q, rows, d, d, n, out);
}

/* restrict: int8_t is a character type, so without it every store to out may alias rows. */
void emb_attn_wsum_q8(const int8_t *restrict p, const int8_t *restrict rows, uint32_t n, uint32_t d,
                      int32_t *restrict out)
{
    for (uint32_t i = 0; i < d; ++i) {
        out[i] = 0;
    }
    for (uint32_t j = 0; j < n; ++j) {
        const int8_t *h = rows + (size_t)j * d; /* (d) */
        const int32_t pj = p[j];
        for (uint32_t i = 0; i < d; ++i) {
            out[i] += pj * (int32_t)h[i];
        }
    }
}

void emb_attn_wsum_q8t(const int8_t *p, const int8_t *cols, uint32_t ld, uint32_t n, uint32_t d,
                       int32_t *out)
{
    emb_runs_dot(p, cols, ld, n, d, out);
}

void emb_attn_scores2_q8(const int8_t *qa, const int8_t *qb, const int8_t *rows, uint32_t n,
                         uint32_t d, int32_t *outa, int32_t *outb)
{
    emb_runs_dot2(qa, qb, rows, d, d, n, outa, outb);
}

void emb_attn_wsum2_q8t(const int8_t *pa, const int8_t *pb, const int8_t *cols, uint32_t ld,
                        uint32_t n, uint32_t d, int32_t *outa, int32_t *outb)
{
    emb_runs_dot2(pa, pb, cols, ld, n, d, outa, outb);
}

#endif /* !EMB_KERNELS_ARM_DSP */
