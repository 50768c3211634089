/* RMSNorm: y (d) = x / sqrt(mean(x^2) + eps) * weight (as torch.nn.RMSNorm).
 * Loops unrolled by four (gcc -O2 does not unroll); the operations and their order are the
 * plain loops'. */
#include "emb_internal.h"

void emb_rmsnorm_f32(const float *x, const float *weight, uint32_t d, float eps, float *y)
{
    float ss = 0.0f;
    uint32_t i = 0;
    for (; i + 4u <= d; i += 4u) {
        ss += x[i] * x[i];
        ss += x[i + 1u] * x[i + 1u];
        ss += x[i + 2u] * x[i + 2u];
        ss += x[i + 3u] * x[i + 3u];
    }
    for (; i < d; ++i) {
        ss += x[i] * x[i];
    }
    /* every x[i] is read before any y[i] is written, so y may alias x */
    const float inv = 1.0f / sqrtf(ss / (float)d + eps);
    for (i = 0; i + 4u <= d; i += 4u) {
        y[i] = x[i] * inv * weight[i];
        y[i + 1u] = x[i + 1u] * inv * weight[i + 1u];
        y[i + 2u] = x[i + 2u] * inv * weight[i + 2u];
        y[i + 3u] = x[i + 3u] * inv * weight[i + 3u];
    }
    for (; i < d; ++i) {
        y[i] = x[i] * inv * weight[i];
    }
}
