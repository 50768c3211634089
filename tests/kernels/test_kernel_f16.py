"""emb_f16.c and emb_round_half_even: bit-exact against numpy for every fp16 pattern.

Vectors: all 65536 fp16 patterns, crafted ties, and numpy.random.default_rng(seed) (PCG64)
float32 bit patterns; tolerance: none (bit-exact), see kernel_driver.py."""

import numpy as np

from embbert_mcu.export import reference as ref
from kernel_driver import arr

ALL_F16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)


def c_f16_to_f32(driver, bits):
    return np.frombuffer(driver.call("f16_to_f32", arr(bits, "<u2")), "<u4")


def c_f32_to_f16(driver, x):
    return np.frombuffer(driver.call("f32_to_f16", arr(x, "<f4")), "<u2")


def test_f16_to_f32_exact_for_all_65536_patterns(driver):
    got = c_f16_to_f32(driver, ALL_F16)
    assert np.array_equal(got, ref.f16_to_f32(ALL_F16).view(np.uint32))
    numeric = ~np.isnan(ALL_F16.view(np.float16))  # numpy may quiet signalling NaNs
    assert np.array_equal(got[numeric], ALL_F16.view(np.float16).astype(np.float32)
                          .view(np.uint32)[numeric])
    assert got[0x8000] == 0x80000000 and got[0x0001] == 0x33800000  # -0, smallest subnormal


def test_inline_f16_to_f32_matches_for_all_patterns(driver):
    # emb_f16_to_f32_fast (emb_internal.h) is what the kernels' inner loops call
    fast = np.frombuffer(driver.call("f16_to_f32_fast", arr(ALL_F16, "<u2")), "<u4")
    assert np.array_equal(fast, c_f16_to_f32(driver, ALL_F16))


def test_f32_to_f16_round_trips_every_fp16_value(driver):
    values = ref.f16_to_f32(ALL_F16)
    got = c_f32_to_f16(driver, values)
    numeric = ~np.isnan(values)
    assert np.array_equal(got[numeric], ALL_F16[numeric])
    assert np.array_equal(got[~numeric], ref.f32_to_f16(values[~numeric]))
    assert np.all((got[~numeric] & 0x7E00) == 0x7E00)  # NaN stays (quiet) NaN


def test_f32_to_f16_ties_to_even_and_edges(driver):
    finite = ALL_F16[(ALL_F16 & 0x7C00) != 0x7C00]
    lo = ref.f16_to_f32(finite[(finite & 0x7FFF) < 0x7BFF]).astype(np.float64)
    hi = ref.f16_to_f32((finite[(finite & 0x7FFF) < 0x7BFF] + 1).astype(np.uint16))
    mids = ((lo + hi) / 2).astype(np.float32)  # exact halfway points, float32-representable
    edges = np.array([65504, 65519.99, 65520, 1e6, 2.0**-25, 2.0**-25 * 1.0000001, 2.0**-26,
                      2.0**-14 * (1 - 2.0**-12), 1e-45, -0.0, np.inf, -np.inf], np.float32)
    x = np.concatenate([mids, np.nextafter(mids, np.float32(np.inf)),
                        np.nextafter(mids, np.float32(-np.inf)), edges])
    assert np.array_equal(c_f32_to_f16(driver, x), ref.f32_to_f16(x))


def test_f32_to_f16_random_bit_patterns(driver):
    rng = np.random.default_rng(1601)
    x = rng.integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    assert np.array_equal(c_f32_to_f16(driver, x), ref.f32_to_f16(x))


def test_round_half_even(driver):
    rng = np.random.default_rng(1602)
    ties = np.arange(-130, 130, dtype=np.float32) + np.float32(0.5)
    near = np.concatenate([np.nextafter(ties, np.float32(np.inf)),
                           np.nextafter(ties, np.float32(-np.inf))])
    x = np.concatenate([ties, near, rng.uniform(-200, 200, 10_000).astype(np.float32),
                        np.float32([0.49999997, -0.49999997, 0.0, -0.0, 1e-30, 8388607.5])])
    got = np.frombuffer(driver.call("round", arr(x, "<f4")), "<i4")
    assert np.array_equal(got, ref.round_half_even(x))
    assert list(got[[129, 130, 131, 132]]) == [0, 0, 2, 2]  # -0.5, 0.5, 1.5, 2.5
