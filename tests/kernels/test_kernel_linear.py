"""emb_linear.c against the numpy reference, every encoding and both block/row layouts.

Vectors from numpy.random.default_rng(seed) (PCG64). Tolerance "linear" of kernel_driver.py:
|c - r| <= 1e-6 + 2e-5 * (sum_j |w_ij x_j| + |b_i|)."""

import numpy as np
import pytest

from embbert_mcu.export import reference as ref
from embbert_mcu.quant.blocks import pack_tensor
from kernel_driver import STATUS, arr, assert_close, qtensor

EMB_OK, EMB_ERR_ARG = STATUS["EMB_OK"], STATUS["EMB_ERR_ARG"]


def run_linear(driver, t, bias, x):
    payload = qtensor(t) + arr(bias, "<f4") + arr(x, "<f4")
    return driver.status_and_floats("linear", payload, t.shape[0])


def check(driver, t, bias, x):
    status, got = run_linear(driver, t, bias, x)
    assert status == EMB_OK
    want = ref.linear(t, bias, x)
    w = t.dequantize().reshape(t.shape[0], -1).astype(np.float64)
    magnitude = np.abs(w) @ np.abs(x) + (0 if bias is None else np.abs(bias))
    assert_close("linear", got, want, magnitude)
    # and the reference itself is the plain product of the dequantized weights
    exact = w @ x.astype(np.float64) + (0 if bias is None else bias)
    assert np.all(np.abs(want - exact) <= 1e-6 + 2e-5 * magnitude)
    return got


def case(seed, shape, with_bias=True):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.2, shape).astype(np.float32)
    x = rng.normal(0, 1.0, shape[1]).astype(np.float32)
    bias = rng.normal(0, 0.1, shape[0]).astype(np.float32) if with_bias else None
    return w, x, bias


# (24, 64): rows of two blocks; (128, 16): blocks of two rows (the embedder's projections)
SHAPES = [(24, 64), (128, 16), (10, 96)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("encoding", ["q8", "f16", "f32"])
def test_linear_encodings(driver, shape, encoding):
    w, x, bias = case(2201, shape)
    check(driver, pack_tensor("w", w, encoding, 32), bias, x)


@pytest.mark.parametrize("shape", SHAPES)
def test_linear_mixed_with_planted_fp16_block(driver, shape):
    w, x, bias = case(2202, shape)
    n_blocks = w.size // 32
    w.reshape(n_blocks, 32)[n_blocks // 2, 3] = 40.0  # an outlier int8 would crush its block by
    fallback = np.zeros(n_blocks, bool)
    fallback[n_blocks // 2] = fallback[0] = True
    t = pack_tensor("w", w, "mixed", 32, fallback=fallback)
    got = check(driver, t, bias, x)
    # the fp16 block was really used: the outlier's row is far closer to the float result
    # than an all-int8 packing, whose block scale (40 / 127) crushes the other 31 weights
    row = (n_blocks // 2) * 32 // shape[1]
    exact = w.astype(np.float64) @ x + bias
    all_q8 = ref.linear(pack_tensor("w", w, "q8", 32), bias, x)
    assert abs(got[row] - exact[row]) < abs(all_q8[row] - exact[row]) / 5


def test_linear_without_bias_and_zero_block(driver):
    w, x, _ = case(2203, (16, 64))
    w[3] = 0.0  # row 3 is two all-zero blocks: d = 0
    t = pack_tensor("w", w, "q8", 32)
    got = check(driver, t, None, x)
    assert got[3] == 0.0


def test_linear_four_rows_per_block(driver64):
    w, x, bias = case(2204, (64, 16))
    check(driver64, pack_tensor("w", w, "q8", 64), bias, x)
    fallback = np.arange(16) % 5 == 0
    check(driver64, pack_tensor("w", w, "mixed", 64, fallback=fallback), bias, x)


def test_linear_rejects_unknown_encoding(driver):
    w, x, bias = case(2205, (4, 32))
    payload = bytearray(qtensor(pack_tensor("w", w, "q8", 32)) + arr(bias, "<f4") + arr(x, "<f4"))
    payload[0] = 9  # encoding field
    assert run_linear(driver, pack_tensor("w", w, "q8", 32), bias, x)[0] == EMB_OK
    status, _ = driver.status_and_floats("linear", bytes(payload), 4)
    assert status == EMB_ERR_ARG
