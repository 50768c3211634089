"""emb_exp_f32 (firmware/runtime/emb_internal.h), the exp of the softmax and SiLU, against
libm's double-precision exp rounded to float32: at most 3 ulp apart over [-87, 88] (every
4,099th float32 bit pattern in range plus the edges), 0 below -87, inf above 88, NaN kept."""

import subprocess

from embbert_mcu.ccompile import compile_c
from kernel_driver import RUNTIME

PROGRAM = r"""
#include <math.h>
#include <stdio.h>
#include "emb_internal.h"

static long ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return ia > ib ? (long)ia - ib : (long)ib - ia;
}

int main(void)
{
    long worst = 0, checked = 0;
    const float edges[] = {-87.0f, -86.99f, -1e-30f, 0.0f, -0.0f, 1e-30f, 0.34657359f,
                           -0.34657359f, 1.0f, 87.99f, 88.0f};
    for (uint64_t u = 0; u <= 0xFFFFFFFFull + sizeof edges / sizeof edges[0]; u += 4099u) {
        float x;
        if (u > 0xFFFFFFFFull) {
            x = edges[u - 0xFFFFFFFFull - 1u];
        } else {
            const uint32_t bits = (uint32_t)u;
            memcpy(&x, &bits, 4);
        }
        if (!(x > -87.0f && x <= 88.0f)) continue;
        const long d = ulps((float)exp((double)x), emb_exp_f32(x));
        worst = d > worst ? d : worst;
        ++checked;
    }
    printf("checked=%ld worst_ulp=%ld low=%g high=%g nan=%d\n", checked, worst,
           (double)emb_exp_f32(-100.0f), (double)emb_exp_f32(89.0f),
           emb_exp_f32(NAN) != emb_exp_f32(NAN));
    return 0;
}
"""


def test_exp_within_3_ulp_of_libm(tmp_path):
    (tmp_path / "emb_config.h").write_text("#define EMB_QBLOCK 32\n")
    (tmp_path / "exp_check.c").write_text(PROGRAM)
    exe = compile_c([tmp_path / "exp_check.c"], tmp_path / "exp_check", [tmp_path, RUNTIME],
                    extra_flags=("-lm",))
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=120).stdout
    fields = dict(kv.split("=") for kv in out.split())
    assert int(fields["checked"]) > 500_000
    assert int(fields["worst_ulp"]) <= 3, out
    assert float(fields["low"]) == 0.0 and fields["high"] == "inf" and fields["nan"] == "1", out
