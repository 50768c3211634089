"""The integer kernels (emb_linear_q8.c, emb_attention_q8.c) and the activation rule
(emb_quant.h) against their numpy mirrors (export/reference.py, quant/actquant.py).

Integer kernels are bit-exact with the mirror (the policy of kernel_driver.py): int32 sums,
then the same float32 operations in the same order. Each case runs the reference (`_ref`)
and the optimized twin the build picked; golden_int.c covers the twins on many more inputs.
Vectors from numpy.random.default_rng(seed) (PCG64), seed per case."""

import struct

import numpy as np
import pytest
import torch

from embbert_mcu.export import reference as ref
from embbert_mcu.quant.actquant import quantize_rows
from embbert_mcu.quant.blocks import pack_tensor
from embbert_mcu.quant.fake import row_values
from kernel_driver import STATUS, act, arr, assert_close, f32, qtensor, u32

EMB_OK, EMB_ERR_ARG = STATUS["EMB_OK"], STATUS["EMB_ERR_ARG"]
REF, OPT, OPT_T = 0, 1, 2  # OPT_T: the weighted sum from the rows transposed


def run_linear_q8(driver, t, bias, xq, xs, variant):
    payload = qtensor(t) + arr(bias, "<f4") + arr(xq, "i1") + f32(xs) + u32(variant)
    return driver.status_and_floats("linear_q8", payload, t.shape[0])


def run_attn(driver, op, v, rows, n, d, variant):
    payload = arr(v, "i1") + arr(rows, "i1") + u32(n) + u32(d) + u32(variant)
    out = driver.call(op, payload)
    return np.frombuffer(out, "<i4")


def bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


@pytest.mark.parametrize("x", [
    np.random.default_rng(2301).normal(0, 3, 128),
    np.zeros(16),
    np.full(7, 1e-44),  # max / 127 underflows to 0: a zero row
    np.array([127.0, 63.5, -0.5, 1.5, 2.5, -127.0]),  # ties at .5 go to even
    np.array([-1e30, 3.0, 1e30]),
], ids=["random", "zeros", "underflow", "ties", "huge"])
def test_quantize_row_matches_python_rule(driver, x):
    x = np.asarray(x, np.float32)
    out = driver.call("quantize_row", arr(x, "<f4"))
    want_q, want_scale = quantize_rows(x)
    n = x.size
    for at in (0, n + 4):  # the reference, then the twin
        q = np.frombuffer(out[at:at + n], np.int8)
        scale = np.frombuffer(out[at + n:at + n + 4], "<f4")
        np.testing.assert_array_equal(q, want_q)
        assert bits(scale)[0] == bits(want_scale)[()]
    # the PyTorch rule of the simulation is the same rule (equal values; torch keeps -0.0)
    back = row_values(torch.from_numpy(x.copy())).numpy()
    np.testing.assert_array_equal(back, want_q.astype(np.float32) * want_scale)


def linear_case(seed, shape, zero_row=False):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.2, shape).astype(np.float32)
    x = rng.normal(0, 1.0, shape[1]).astype(np.float32)
    if zero_row:
        x[:] = 0
    bias = rng.normal(0, 0.1, shape[0]).astype(np.float32)
    xq, xs = quantize_rows(x)
    return w, x, bias, xq, float(xs)


SHAPES = [(128, 128), (24, 64), (10, 96), (128, 16), (7, 32)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("encoding", ["q8", "mixed", "f16", "f32"])
def test_linear_q8_bit_exact_with_mirror(driver, shape, encoding):
    w, x, bias, xq, xs = linear_case(2401, shape)
    n_blocks = w.size // 32
    fallback = (np.arange(n_blocks) % 5 == 1) if encoding == "mixed" else None
    w.reshape(n_blocks, 32)[2] = 0.0  # an all-zero block
    t = pack_tensor("w", w, encoding, 32, fallback=fallback)
    want = ref.linear_q8(t, bias, xq, xs)
    for variant in (REF, OPT):
        status, got = run_linear_q8(driver, t, bias, xq, xs, variant)
        assert status == EMB_OK
        np.testing.assert_array_equal(bits(got), bits(want))
    # integer activations cost at most half a code per input: |dy| <= sum_j |w_ij| xs / 2
    exact = t.dequantize().reshape(shape).astype(np.float64) @ x + bias
    bound = np.abs(t.dequantize().reshape(shape)).sum(axis=1) * xs / 2 + 1e-5
    assert np.all(np.abs(want - exact) <= bound)


def test_linear_q8_zero_row_and_no_bias(driver):
    w, _, _, xq, xs = linear_case(2402, (16, 64), zero_row=True)
    t = pack_tensor("w", w, "q8", 32)
    assert xs == 0.0 and not xq.any()
    for variant in (REF, OPT):
        status, got = run_linear_q8(driver, t, None, xq, xs, variant)
        assert status == EMB_OK and not got.any()


def test_linear_q8_four_rows_per_block(driver64):
    w, _, bias, xq, xs = linear_case(2403, (64, 16))
    for enc, fb in (("q8", None), ("mixed", np.arange(16) % 5 == 0)):
        t = pack_tensor("w", w, enc, 64, fallback=fb)
        want = ref.linear_q8(t, bias, xq, xs)
        for variant in (REF, OPT):
            status, got = run_linear_q8(driver64, t, bias, xq, xs, variant)
            assert status == EMB_OK
            np.testing.assert_array_equal(bits(got), bits(want))


def test_linear_q8_rejects_bad_tensors(driver):
    w, _, bias, xq, xs = linear_case(2404, (4, 32))
    payload = bytearray(qtensor(pack_tensor("w", w, "q8", 32)) + arr(bias, "<f4")
                        + arr(xq, "i1") + f32(xs))
    payload[0] = 9  # encoding field
    for variant in (REF, OPT):
        status, _ = driver.status_and_floats("linear_q8", bytes(payload) + u32(variant), 4)
        assert status == EMB_ERR_ARG
    t = pack_tensor("w", w, "q8", 32)
    status, _ = driver.status_and_floats(
        "linear_q8", qtensor(t) + arr(bias, "<f4") + arr(None, "i1") + f32(xs) + u32(OPT), 4)
    assert status == EMB_ERR_ARG  # no activation codes


@pytest.mark.parametrize("n,d", [(1, 1), (3, 5), (4, 4), (7, 13), (29, 128), (256, 128)])
def test_attention_kernels_bit_exact_with_mirror(driver, n, d):
    rng = np.random.default_rng(2405 + n)
    q = rng.integers(-127, 128, d).astype(np.int8)
    p = rng.integers(-127, 128, n).astype(np.int8)
    rows = rng.integers(-127, 128, (n, d)).astype(np.int8)
    rows[0] = 127  # an edge row
    for variant in (REF, OPT):
        np.testing.assert_array_equal(
            run_attn(driver, "attn_scores_q8", q, rows, n, d, variant), ref.attn_scores_q8(q, rows))
        np.testing.assert_array_equal(
            run_attn(driver, "attn_wsum_q8", p, rows, n, d, variant), ref.attn_wsum_q8(p, rows))
    np.testing.assert_array_equal(
        run_attn(driver, "attn_wsum_q8", p, rows, n, d, OPT_T), ref.attn_wsum_q8(p, rows))


def test_attention_wsum_of_no_rows_is_zero(driver):
    for variant in (REF, OPT, OPT_T):
        got = run_attn(driver, "attn_wsum_q8", None, None, 0, 8, variant)
        np.testing.assert_array_equal(got, np.zeros(8, np.int32))


def test_act_store_is_the_rule(driver):
    """emb_act_store_row goes through emb_quant.h: codes and scales as quantize_rows."""
    x = np.random.default_rng(2406).normal(0, 2, (5, 24)).astype(np.float32)
    x[2] = 0
    payload = u32(1) + u32(5) + u32(24) + arr(x, "<f4")
    out = driver.call("act", payload)
    q = np.frombuffer(out[:120], np.int8).reshape(5, 24)
    scales = np.frombuffer(out[120:140], "<f4")
    want_q, want_s = quantize_rows(x)
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(bits(scales), bits(want_s))
    assert struct.calcsize("<f") == 4


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("n,d", [(1, 8), (5, 13), (29, 128), (64, 32), (256, 128)])
def test_attention_row_q8_matches_mirror_and_float(driver, n, d, transposed):
    rng = np.random.default_rng(2407 + n)
    x = rng.normal(0, 1.0, (n, d)).astype(np.float32)
    q = rng.normal(0, 1.0, d).astype(np.float32)
    kv_q8, kv_scales = quantize_rows(x)
    out = driver.call("attention_q8", act(x, kv_q8, kv_scales, transposed) + u32(n)
                      + arr(q, "<f4"))
    got = np.frombuffer(out[:4 * d], "<f4")
    assert struct.unpack("<i", out[4 * d:])[0] == 1  # scores scratch: n floats, no more
    want = ref.attention_row_q8(q, kv_q8, kv_scales, n)
    # the integer parts are exact; the C's 2^x polynomial and np.exp2 differ by a few ulp
    assert_close("attention", got, want, np.abs(want) + np.abs(kv_q8 * kv_scales[:, None]).max())
    # and the integer path stays near the float kernel on the same int8 rows: q and the
    # weights each lose at most half a code of 127
    full = ref.attention_row(q, kv_q8, n, kv_scales)
    assert np.abs(got - full).max() <= 0.01 * np.abs(kv_q8 * kv_scales[:, None]).max()


def test_attention_row_q8_no_keys_is_zero(driver):
    x = np.ones((2, 8), np.float32)
    kv_q8, kv_scales = quantize_rows(x)
    out = driver.call("attention_q8", act(x, kv_q8, kv_scales) + u32(0) + arr(np.ones(8), "<f4"))
    assert not np.frombuffer(out[:32], "<f4").any()
