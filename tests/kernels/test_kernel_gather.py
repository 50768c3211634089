"""emb_gather.c: q8, f16 and f32 rows bit-exact against the numpy reference.

Vectors from numpy.random.default_rng(seed) (PCG64); tolerance: none (one exact product per
value), see kernel_driver.py. Covers blocks inside rows and blocks holding whole rows."""

import numpy as np
import pytest

from embbert_mcu.export import reference as ref
from embbert_mcu.quant.blocks import pack_tensor
from kernel_driver import STATUS, qtensor, u32

EMB_OK, EMB_ERR_ARG, EMB_ERR_TOKEN = (STATUS[n] for n in ("EMB_OK", "EMB_ERR_ARG",
                                                          "EMB_ERR_TOKEN"))


def table(seed, shape, encoding, block=32):
    x = np.random.default_rng(seed).normal(0, 0.5, shape).astype(np.float32)
    x[0] = 0.0  # row 0 is [PAD]: an all-zero row (a zero block when a block holds it alone)
    return pack_tensor("table", x, encoding, block)


def gather(driver, t, row):
    return driver.status_and_floats("gather", qtensor(t) + u32(row), t.numel // t.shape[0])


@pytest.mark.parametrize("shape", [(300, 16), (40, 64), (12, 32)])  # rows/block 2, 1/2, 1
@pytest.mark.parametrize("encoding", ["q8", "f16", "f32"])
def test_gather_rows_bit_exact(driver, shape, encoding):
    t = table(2101, shape, encoding)
    for row in (0, 1, 2, shape[0] // 2 + 1, shape[0] - 1):
        status, got = gather(driver, t, row)
        assert status == EMB_OK
        want = ref.gather_row(t, row)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (encoding, row)
    assert not gather(driver, t, 0)[1].any()


def test_gather_zero_block_is_zero(driver):
    t = table(2102, (8, 32), "q8")
    assert t.scales[0] == 0 and not t.qs[0].any()  # the guard stored d = 0, qs = 0
    status, got = gather(driver, t, 0)
    assert status == EMB_OK and np.array_equal(got, np.zeros(32, np.float32))


def test_gather_four_rows_per_block(driver64):
    t = table(2103, (64, 16), "q8", block=64)
    for row in range(0, 64, 5):
        status, got = gather(driver64, t, row)
        assert status == EMB_OK and np.array_equal(got, ref.gather_row(t, row))


def test_gather_rejects_bad_rows_and_mixed(driver):
    t = table(2104, (10, 32), "q8")
    assert gather(driver, t, 10)[0] == EMB_ERR_TOKEN
    mixed = pack_tensor("m", np.ones((10, 32), np.float32), "mixed", 32,
                        fallback=np.eye(10, dtype=bool)[3])
    assert gather(driver, mixed, 1)[0] == EMB_ERR_ARG
