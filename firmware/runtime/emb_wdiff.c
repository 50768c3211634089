/* Elementwise kernels of the block's output: the weighted difference and an add. */
#include "emb_internal.h"

void emb_wdiff_f32(float l1, const float *a, float l2, const float *b, uint32_t n, float *y)
{
    /* element i reads a[i] and b[i] before writing y[i]: y may alias a or b */
    for (uint32_t i = 0; i < n; ++i) {
        y[i] = l1 * a[i] - l2 * b[i];
    }
}

void emb_add_f32(float *y, const float *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        y[i] += x[i];
    }
}
