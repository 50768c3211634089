/* RMSNorm: y (d) = x / sqrt(mean(x^2) + eps) * weight (as torch.nn.RMSNorm). */
#include "emb_internal.h"

void emb_rmsnorm_f32(const float *x, const float *weight, uint32_t d, float eps, float *y)
{
    float ss = 0.0f;
    for (uint32_t i = 0; i < d; ++i) {
        ss += x[i] * x[i];
    }
    /* every x[i] is read before any y[i] is written, so y may alias x */
    const float inv = 1.0f / sqrtf(ss / (float)d + eps);
    for (uint32_t i = 0; i < d; ++i) {
        y[i] = x[i] * inv * weight[i];
    }
}
