"""emb_rmsnorm.c, emb_silu.c, emb_wdiff.c (wdiff, add) against the numpy reference.

Vectors from numpy.random.default_rng(seed) (PCG64). Tolerances of kernel_driver.py:
"rmsnorm" and "silu" relative to |r|; "elementwise" (wdiff, add) bit-exact, as C and numpy
perform the same float32 operations in the same order."""

import numpy as np
import pytest

from embbert_mcu.export import reference as ref
from kernel_driver import arr, assert_close, f32, u32


def floats(out):
    return np.frombuffer(out, "<f4")


@pytest.mark.parametrize("alias", [0, 1])
@pytest.mark.parametrize("d", [128, 5])
def test_rmsnorm(driver, d, alias):
    rng = np.random.default_rng(2601 + d)
    x = (rng.normal(0, 3, d)).astype(np.float32)
    weight = rng.normal(1, 0.2, d).astype(np.float32)
    payload = arr(x, "<f4") + arr(weight, "<f4") + f32(1e-6) + u32(alias)
    got = floats(driver.call("rmsnorm", payload))
    assert_close("rmsnorm", got, ref.rmsnorm(x, weight, 1e-6))
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert np.allclose(got, x / rms * weight, rtol=1e-5, atol=1e-6)


def test_rmsnorm_zero_row_is_zero(driver):
    x, weight = np.zeros(16, np.float32), np.ones(16, np.float32)
    got = floats(driver.call("rmsnorm", arr(x, "<f4") + arr(weight, "<f4") + f32(1e-6) + u32(0)))
    assert np.array_equal(got, np.zeros(16, np.float32))


def test_silu(driver):
    rng = np.random.default_rng(2602)
    x = np.concatenate([rng.normal(0, 4, 1000), [0, -0.0, 90, -90, 1e-30, -200, 200]])
    x = x.astype(np.float32)
    got = floats(driver.call("silu", arr(x, "<f4")))
    assert_close("silu", got, ref.silu(x))
    assert got[-2] == 0.0 and got[-1] == 200.0 and np.all(np.isfinite(got))


@pytest.mark.parametrize("alias", [0, 1, 2])
def test_wdiff(driver, alias):
    rng = np.random.default_rng(2603)
    a, b = rng.normal(0, 1, (2, 77)).astype(np.float32)
    l1, l2 = np.float32(1.3), np.float32(0.7)
    payload = f32(l1) + arr(a, "<f4") + f32(l2) + arr(b, "<f4") + u32(alias)
    got = floats(driver.call("wdiff", payload))
    assert_close("elementwise", got, ref.wdiff(l1, a, l2, b))


def test_add(driver):
    rng = np.random.default_rng(2604)
    y, x = rng.normal(0, 1, (2, 130)).astype(np.float32)
    got = floats(driver.call("add", arr(y, "<f4") + arr(x, "<f4")))
    assert_close("elementwise", got, ref.add(y, x))
