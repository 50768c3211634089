"""emb_attention.c: one fused query row against the numpy reference.

Vectors from numpy.random.default_rng(seed) (PCG64). Tolerance "attention" of
kernel_driver.py with magnitude max_j |kv_j| (the output is a convex mix of kv rows)."""

import numpy as np
import pytest

from embbert_mcu.export import reference as ref
from kernel_driver import act, arr, assert_close, u32

L, D = 24, 32


def attend(driver, q, kv, n, int8):
    if int8:
        q8, scales = ref.act_store(kv)
        payload = act(kv, q8, scales)
        want = ref.attention_row(q, q8, n, scales)
        values = ref.act_load(q8, scales)
    else:
        payload, want, values = act(kv), ref.attention_row(q, kv, n), kv
    out = driver.call("attention", payload + u32(n) + arr(q, "<f4"))
    got = np.frombuffer(out[:-4], "<f4")
    assert np.frombuffer(out[-4:], "<i4")[0] == 1, "scores scratch written past n"
    return got, want, values


def case(seed, scale=1.0):
    rng = np.random.default_rng(seed)
    kv = rng.normal(0, 1, (L, D)).astype(np.float32)
    q = (rng.normal(0, 1, D) * scale).astype(np.float32)
    return q, kv


@pytest.mark.parametrize("int8", [False, True])
@pytest.mark.parametrize("n", [1, 7, L])
def test_attention_row(driver, n, int8):
    q, kv = case(2401 + n)
    kv[n:] = 1e6  # rows past n must not be read
    got, want, values = attend(driver, q, kv, n, int8)
    assert_close("attention", got, want, np.abs(values[:n]).max())
    if n == 1:  # one key: its softmax weight is exactly 1
        assert_close("attention", got, values[0], np.abs(values[0]).max())


@pytest.mark.parametrize("int8", [False, True])
def test_attention_large_scores_stay_finite(driver, int8):
    q, kv = case(2402, scale=400.0)  # scores ~ 1e3 / sqrt(d): exp without max subtraction is inf
    got, want, values = attend(driver, q, kv, L, int8)
    assert np.all(np.isfinite(got))
    assert_close("attention", got, want, np.abs(values).max())


def test_attention_no_keys_is_zero(driver):
    q, kv = case(2403)
    got, _, _ = attend(driver, q, kv, 0, False)
    assert not got.any()
