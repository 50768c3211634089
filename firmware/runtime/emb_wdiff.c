/* Elementwise kernels of the block's output: the weighted difference and an add. Loops
 * unrolled by four (gcc -O2 does not unroll); each element's operations are the plain ones. */
#include "emb_internal.h"

void emb_wdiff_f32(float l1, const float *a, float l2, const float *b, uint32_t n, float *y)
{
    /* element i reads a[i] and b[i] before writing y[i]: y may alias a or b */
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) {
        y[i] = l1 * a[i] - l2 * b[i];
        y[i + 1u] = l1 * a[i + 1u] - l2 * b[i + 1u];
        y[i + 2u] = l1 * a[i + 2u] - l2 * b[i + 2u];
        y[i + 3u] = l1 * a[i + 3u] - l2 * b[i + 3u];
    }
    for (; i < n; ++i) {
        y[i] = l1 * a[i] - l2 * b[i];
    }
}

void emb_add_f32(float *y, const float *x, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) {
        y[i] += x[i];
        y[i + 1u] += x[i + 1u];
        y[i + 2u] += x[i + 2u];
        y[i + 3u] += x[i + 3u];
    }
    for (; i < n; ++i) {
        y[i] += x[i];
    }
}
