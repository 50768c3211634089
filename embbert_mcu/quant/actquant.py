"""The activation quantization rule, the Python mirror of firmware/runtime/emb_quant.h.

One scale per row: ``scale = max|x| / 127`` in float32; ``q = clamp(round half to even(x /
scale), -127, 127)`` (a true division); a row whose scale is not > 0 (zeros, underflow, NaN)
stores scale 0 and q = 0. The C kernels (emb_act_store_row, and the int8 inputs of the integer
kernels) and this module are tested bit-exact against each other
(tests/kernels/test_kernel_int.py); ``fake.row_values`` is the same rule in PyTorch.
"""

from __future__ import annotations

import numpy as np

from .blocks import QMAX

GRANULARITY = "row"  # one float32 scale per row of codes
ROUNDING = "half-even"


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., n) float32 -> int8 codes (..., n) and float32 scales (...,)."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        scales = (np.abs(x).max(axis=-1) / np.float32(QMAX)).astype(np.float32)
        ok = scales > 0
        safe = np.where(ok, scales, np.float32(1))[..., None]
        q = np.clip(np.rint(x / safe), -QMAX, QMAX)
    q = np.where(ok[..., None], q, 0).astype(np.int8)
    return q, np.where(ok, scales, np.float32(0)).astype(np.float32)
