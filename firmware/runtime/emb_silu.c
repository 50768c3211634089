/*
 * SiLU in place: x = x * sigmoid(x) = x / (1 + exp(-x)).
 * exp(-x) = 2^n e^r inline, emb_exp_f32's reduction with e^r by a degree-5 minimax polynomial
 * (relative error 7.5e-8 on |r| <= ln2 / 2); n is rounded by adding 1.5 * 2^23 (to nearest in
 * the default mode) and read from that sum's bits, which also give the range test. Values with
 * |n| > 126 (|x| > ~87.3, inf, NaN) are left for a second pass through emb_exp_f32, whose limits
 * are exact there: the loop makes no call, so its constants stay in registers.
 * Within 2.4 * 2^-23 of x / (1 + exp(-x)) relative (float64), as with emb_exp_f32.
 */
#include "emb_internal.h"

#define EMB_ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: t + this is round(t) + this for |t| < 2^22 */
#define EMB_MAGIC_BITS 0x4B400000u  /* its bits: those of magic + n are these + n, |n| < 2^22 */

/* n + 126 where k = magic + n, n = round(-v / ln2); > 252 when |n| > 126 or v is inf or NaN */
static inline uint32_t emb_silu_n(float v, float *k)
{
    *k = v * -1.44269504088896341f + EMB_ROUND_MAGIC;
    uint32_t kb;
    memcpy(&kb, k, sizeof kb);
    return kb - (EMB_MAGIC_BITS - 126u);
}

void emb_silu_f32(float *x, uint32_t n)
{
    int far = 0; /* a value left for the second pass */
    float ln2_hi = -0.693145751953125f, ln2_lo = 1.428606765330187e-06f, c0 = 1.0000001192092896f,
          c1 = 0.9999997019767761f, c2 = 0.49998894333839417f, c3 = 0.16667574644088745f,
          c4 = 0.04191538318991661f, c5 = 0.008297654800117016f;
    EMB_FP_PIN(ln2_hi);
    EMB_FP_PIN(ln2_lo);
    EMB_FP_PIN(c0);
    EMB_FP_PIN(c1);
    EMB_FP_PIN(c2);
    EMB_FP_PIN(c3);
    EMB_FP_PIN(c4);
    EMB_FP_PIN(c5);
    for (float *p = x, *const end = x + n; p != end; ++p) {
        const float v = *p;
        float k;
        const uint32_t u = emb_silu_n(v, &k);
        if (u > 252u) {
            far = 1;
            continue;
        }
        const float fn = k - EMB_ROUND_MAGIC;
        const float r = (fn * ln2_hi - v) - fn * ln2_lo; /* -v - n ln2 */
        float e = c5;
        e = e * r + c4;
        e = e * r + c3;
        e = e * r + c2;
        e = e * r + c1;
        e = e * r + c0;                       /* e^r */
        const uint32_t bits = (u + 1u) << 23; /* 2^n, n in [-126, 126] */
        float s;
        memcpy(&s, &bits, sizeof s);
        *p = v / (1.0f + e * s);
    }
    for (uint32_t i = 0; far && i < n; ++i) {
        float k;
        if (emb_silu_n(x[i], &k) > 252u) {
            /* exp(-x) is inf for x < -88: x / inf = -0, the right limit */
            x[i] = x[i] / (1.0f + emb_exp_f32(-x[i]));
        }
    }
}
