/*
 * The linear on two input rows (emb_runtime.h, "two rows at a time"): the portable twin is
 * the one-row kernel twice; firmware/runtime/arm_dsp/ has the DSP one, which reads each
 * weight word once for both rows.
 */
#include "emb_internal.h"

#if !EMB_KERNELS_ARM_DSP

emb_status_t emb_linear2_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xa, float xsa,
                            const int8_t *xb, float xsb, float *ya, float *yb)
{
    const emb_status_t st = emb_linear_q8(w, bias, xa, xsa, ya);
    return st != EMB_OK ? st : emb_linear_q8(w, bias, xb, xsb, yb);
}

#endif /* !EMB_KERNELS_ARM_DSP */
