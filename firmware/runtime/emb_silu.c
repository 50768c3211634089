/* SiLU in place: x = x * sigmoid(x) = x / (1 + exp(-x)). */
#include "emb_internal.h"

void emb_silu_f32(float *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        /* exp(-x) is inf for x < -88: x / inf = -0, the right limit */
        x[i] = x[i] / (1.0f + emb_exp_f32(-x[i]));
    }
}
