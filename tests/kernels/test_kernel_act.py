"""emb_act.c: int8 activation rows (codes and scales) bit-exact against the numpy reference.

Vectors from numpy.random.default_rng(seed) (PCG64) plus crafted ties; tolerance: none."""

import numpy as np
import pytest

from embbert_mcu.export import reference as ref
from kernel_driver import arr, u32


def store_load(driver, x, int8=True):
    rows, d = x.shape
    out = driver.call("act", u32(int(int8)) + u32(rows) + u32(d) + arr(x, "<f4"))
    if not int8:
        return None, None, np.frombuffer(out, "<f4").reshape(rows, d)
    q = np.frombuffer(out[: rows * d], np.int8).reshape(rows, d)
    scales = np.frombuffer(out[rows * d: rows * d + 4 * rows], "<f4")
    back = np.frombuffer(out[rows * d + 4 * rows:], "<f4").reshape(rows, d)
    return q, scales, back


@pytest.mark.parametrize("d", [128, 16, 7])
def test_act_int8_rows_bit_exact(driver, d):
    rng = np.random.default_rng(2301 + d)
    x = (rng.normal(0, 1, (12, d)) * rng.uniform(0.01, 50, (12, 1))).astype(np.float32)
    x[4] = 0.0  # a zero row stores scale 0 and q = 0
    q, scales, back = store_load(driver, x)
    want_q, want_scales = ref.act_store(x)
    assert np.array_equal(q, want_q)
    assert np.array_equal(scales.view(np.uint32), want_scales.view(np.uint32))
    assert np.array_equal(back, ref.act_load(want_q, want_scales))
    assert scales[4] == 0.0 and not q[4].any() and not back[4].any()
    assert np.all(np.abs(q).max(axis=1)[np.arange(12) != 4] == 127)


def test_act_rounds_ties_to_even(driver):
    # max 127 -> scale exactly 1: x / scale lands on the ties themselves
    x = np.float32([[127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 3.49999976]])
    q, scales, _ = store_load(driver, x)
    assert scales[0] == 1.0
    assert q[0].tolist() == [127, 0, 2, 2, 0, -2, -2, 126, -126, 3]


def test_act_tiny_row_underflows_to_zero(driver):
    x = np.float32([[1e-44, -1e-44, 0, 0]])  # max / 127 underflows to 0
    q, scales, back = store_load(driver, x)
    want_q, want_scales = ref.act_store(x)
    assert scales[0] == want_scales[0] == 0 and not q.any() and not want_q.any()


def test_act_float_rows_round_trip(driver):
    x = np.random.default_rng(2302).normal(0, 3, (5, 32)).astype(np.float32)
    _, _, back = store_load(driver, x, int8=False)
    assert np.array_equal(back, x)
