"""emb_conv1d.c: the causal depthwise conv at one step against the numpy reference.

Vectors from numpy.random.default_rng(seed) (PCG64). Tolerance "conv1d" of kernel_driver.py
with magnitude sum_j |w_cj x_j| + |b_c|. Covers t = 0, t = k - 1, t >= k, alpha 1 and 2,
q8 weights with one block per row and with blocks of several rows, f16 and f32 weights,
float and int8 activations, and k > d (the window is loaded d taps at a time)."""

import numpy as np
import pytest

from embbert_mcu.export import reference as ref
from embbert_mcu.quant.blocks import pack_tensor
from kernel_driver import STATUS, act, arr, assert_close, qtensor, u32

EMB_OK, EMB_ERR_ARG = STATUS["EMB_OK"], STATUS["EMB_ERR_ARG"]
T = 40


def conv(driver, w, bias, x_payload, t, alpha):
    payload = qtensor(w) + arr(bias, "<f4") + x_payload + u32(t) + u32(alpha)
    out = driver.call("conv1d", payload)  # i32 status, (width,) floats, i32 sentinel intact
    assert len(out) == 8 + 4 * w.shape[0]
    assert np.frombuffer(out[-4:], "<i4")[0] == 1, "row scratch written past d"
    return np.frombuffer(out[:4], "<i4")[0], np.frombuffer(out[4:-4], "<f4")


def check(driver, seed, d, k, alpha, encoding, int8, ts):
    rng = np.random.default_rng(seed)
    w_f = rng.normal(0, 0.3, (alpha * d, k)).astype(np.float32)
    bias = rng.normal(0, 0.1, alpha * d).astype(np.float32)
    x = rng.normal(0, 1, (T, d)).astype(np.float32)
    w = pack_tensor("conv", w_f, encoding, 32)
    if int8:
        q8, scales = ref.act_store(x)
        payload, x = act(x, q8, scales), ref.act_load(q8, scales)
    else:
        payload = act(x)
    weights = w.dequantize().reshape(alpha * d, k)
    for t in ts:
        status, got = conv(driver, w, bias, payload, t, alpha)
        assert status == EMB_OK
        want = ref.conv1d_dw_causal(w, bias, x, t, alpha)
        taps = np.zeros((k, d))
        first = max(0, t - k + 1)
        taps[k - (t + 1 - first):] = x[first:t + 1]
        magnitude = np.sum(np.abs(weights) * np.abs(taps[:, np.arange(alpha * d) // alpha].T),
                           axis=1) + np.abs(bias)
        assert_close("conv1d", got, want, magnitude)


@pytest.mark.parametrize("alpha", [1, 2])
@pytest.mark.parametrize("encoding", ["q8", "f16", "f32"])
@pytest.mark.parametrize("int8", [False, True])
def test_conv_block_per_row(driver, alpha, encoding, int8):
    check(driver, 2501, d=48, k=32, alpha=alpha, encoding=encoding, int8=int8,
          ts=[0, 1, 31, 32, 39])


@pytest.mark.parametrize("alpha", [1, 2])
def test_conv_blocks_of_several_rows(driver, alpha):
    check(driver, 2502, d=32, k=8, alpha=alpha, encoding="q8", int8=True, ts=[0, 5, 7, 8, 30])


def test_conv_kernel_longer_than_width(driver):
    check(driver, 2503, d=16, k=64, alpha=1, encoding="q8", int8=False, ts=[0, 15, 16, 39])


def test_conv_first_step_is_last_tap_only(driver):
    rng = np.random.default_rng(2504)
    w_f = rng.normal(0, 0.3, (16, 32)).astype(np.float32)
    x = rng.normal(0, 1, (4, 16)).astype(np.float32)
    w = pack_tensor("conv", w_f, "f32", 32)
    status, got = conv(driver, w, None, act(x), 0, 1)
    assert status == EMB_OK and np.array_equal(got, w_f[:, -1] * x[0])


def test_conv_rejects_bad_arguments(driver):
    rng = np.random.default_rng(2505)
    x = act(rng.normal(0, 1, (4, 16)).astype(np.float32))
    w = pack_tensor("conv", rng.normal(0, 1, (16, 32)).astype(np.float32), "q8", 32)
    assert conv(driver, w, None, x, 0, 0)[0] == EMB_ERR_ARG  # alpha 0
    wide = pack_tensor("conv", np.ones((48, 32), np.float32), "q8", 32)
    assert conv(driver, wide, None, x, 0, 2)[0] == EMB_ERR_ARG  # 48 channels > 2 * 16
    mixed = pack_tensor("conv", np.ones((16, 32), np.float32), "mixed", 32,
                        fallback=np.eye(16, dtype=bool)[0])
    assert conv(driver, mixed, None, x, 0, 1)[0] == EMB_ERR_ARG
