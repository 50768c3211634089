/*
 * fp16 <-> fp32 conversions in integer arithmetic: exact for every fp16 bit pattern
 * (zeros, subnormals, inf, NaN payloads) and round-to-nearest-even from float, without
 * relying on compiler __fp16 support or the FPU rounding mode.
 */
#include <string.h>

#include "emb_runtime.h"

float emb_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0u) {
        /* zero or subnormal: mant * 2^-24, exact in float (mant < 2^10, power-of-two scale) */
        f = (float)mant * 0x1p-24f;
        return sign != 0u ? -f : f;
    }
    if (exp == 31u) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or NaN keeping its payload */
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13); /* rebias 15 -> 127 */
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round m / 2^shift to nearest, ties to even; shift in 1..31. */
static uint32_t emb_shift_round_even(uint32_t m, uint32_t shift)
{
    const uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    return (rem > half || (rem == half && (q & 1u) != 0u)) ? q + 1u : q;
}

uint16_t emb_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        /* inf stays inf; NaN becomes a quiet NaN with the top payload bits (as F16C does) */
        const uint32_t nan = ax > 0x7f800000u ? 0x0200u | ((ax >> 13) & 0x3ffu) : 0u;
        return (uint16_t)(sign | 0x7c00u | nan);
    }
    if (ax >= 0x477ff000u) {
        return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    }
    if (ax < 0x38800000u) {
        /* below 2^-14: an fp16 subnormal in units of 2^-24 (may round up to the smallest normal) */
        const uint32_t e = ax >> 23;
        const uint32_t m = e == 0u ? (ax & 0x7fffffu) : ((ax & 0x7fffffu) | 0x800000u);
        const uint32_t shift = e == 0u ? 126u : 126u - e;
        if (shift >= 25u) {
            return sign; /* below half the smallest subnormal */
        }
        return (uint16_t)(sign | emb_shift_round_even(m, shift));
    }
    /* normal: rebias 127 -> 15 and round the 13 dropped mantissa bits; a carry may
     * step the exponent, which is still the right encoding */
    return (uint16_t)(sign | emb_shift_round_even(ax - 0x38000000u, 13u));
}
