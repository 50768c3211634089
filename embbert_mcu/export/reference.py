"""numpy references of the C runtime kernels (firmware/runtime/emb_<op>.c), float32 throughout.

Each function has the semantics of the kernel it names and follows its order of operations
where that is cheap to mirror (int8 block sums scaled once per block, scores scaled after the
dot product), so a mismatch points at a bug rather than at rounding. Integer results (fp16
bits, int8 activations and their scales, q8 gathers) are bit-exact with the C; float results
agree within the tolerances written in tests/kernels/kernel_driver.py.
"""

from __future__ import annotations

import numpy as np

from ..quant.actquant import quantize_rows
from ..quant.blocks import QTensor, f16_value

F32 = np.float32


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=F32)


# ---- emb_f16.c ----

def f16_to_f32(bits: np.ndarray) -> np.ndarray:
    """uint16 fp16 patterns -> float32, NaN payloads kept bit for bit (as emb_f16_to_f32)."""
    h = np.asarray(bits, dtype=np.uint16).astype(np.uint32)
    sign, exp, mant = (h & 0x8000) << 16, (h >> 10) & 0x1F, h & 0x3FF
    normal = sign | ((exp + 112) << 23) | (mant << 13)
    special = sign | np.uint32(0x7F800000) | (mant << 13)
    out = np.where(exp == 31, special, normal).view(F32)
    sub = (mant.astype(F32) * F32(2.0**-24)) * np.where(sign != 0, F32(-1), F32(1))
    return np.where(exp == 0, sub, out).astype(F32)


def f32_to_f16(x: np.ndarray) -> np.ndarray:
    """float32 -> uint16 fp16 patterns, round to nearest even; NaN -> quiet NaN (top payload)."""
    x = _f32(x)
    with np.errstate(over="ignore", invalid="ignore"):
        bits = x.astype(np.float16).view(np.uint16)
    xb = x.view(np.uint32)
    nan = (xb & 0x7FFFFFFF) > 0x7F800000
    quiet = ((xb >> 16) & 0x8000) | 0x7E00 | ((xb >> 13) & 0x3FF)
    return np.where(nan, quiet, bits).astype(np.uint16)


def round_half_even(x: np.ndarray) -> np.ndarray:
    """emb_round_half_even: to the nearest integer, ties to even (int32)."""
    return np.rint(_f32(x)).astype(np.int32)


# ---- emb_gather.c / emb_linear.c ----

def _rows_cols(t: QTensor) -> tuple[int, int]:
    rows = t.shape[0]
    return rows, t.numel // rows


def gather_row(t: QTensor, row: int) -> np.ndarray:
    """emb_gather_row_f32: (cols,) float32, row `row` of a q8, f16 or f32 table."""
    if t.encoding == "mixed":
        raise ValueError("mixed tensors are read by linear only")
    rows, cols = _rows_cols(t)
    return t.dequantize().reshape(rows, cols)[row].copy()


def _block_values(t: QTensor) -> tuple[np.ndarray, np.ndarray]:
    """(n_blocks, block) values and (n_blocks,) scales: int8 blocks as float with their scale,
    fp16 blocks as their values with scale 1 (the walk of emb_linear_f32)."""
    fallback = t.fallback_blocks()
    values = np.empty((t.n_blocks, t.block), dtype=F32)
    scales = np.ones(t.n_blocks, dtype=F32)
    values[~fallback] = t.qs.astype(F32)
    scales[~fallback] = f16_value(t.scales)
    values[fallback] = f16_value(t.f16).reshape(-1, t.block)
    return values, scales


def linear(t: QTensor, bias: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """emb_linear_f32: y (rows,) = W (rows, cols) x (cols,) + bias."""
    rows, cols = _rows_cols(t)
    x = _f32(x)
    if t.encoding in ("f16", "f32"):
        y = t.dequantize().reshape(rows, cols) @ x
    else:
        values, scales = _block_values(t)
        numel, blk = t.numel, t.block
        # a segment is the part of one block inside one row: sum it, then scale it once
        starts = np.union1d(np.arange(0, numel, blk), np.arange(0, numel, cols))
        prods = values.reshape(-1) * np.tile(x, rows)  # (numel,)
        seg = np.add.reduceat(prods, starts) * scales[starts // blk]
        y = np.add.reduceat(seg, np.searchsorted(starts, np.arange(0, numel, cols)))
    y = _f32(y)
    return y if bias is None else _f32(y + _f32(bias))


# ---- emb_rmsnorm.c / emb_silu.c / emb_wdiff.c ----

def rmsnorm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """emb_rmsnorm_f32: x / sqrt(mean(x^2) + eps) * weight."""
    x = _f32(x)
    inv = F32(1) / np.sqrt(F32(np.sum(x * x, dtype=F32) / F32(x.size)) + F32(eps))
    return _f32(x * inv * _f32(weight))


def silu(x: np.ndarray) -> np.ndarray:
    """emb_silu_f32: x / (1 + exp(-x))."""
    x = _f32(x)
    with np.errstate(over="ignore"):
        return _f32(x / (F32(1) + np.exp(-x)))


def wdiff(l1: float, a: np.ndarray, l2: float, b: np.ndarray) -> np.ndarray:
    """emb_wdiff_f32: l1 * a - l2 * b."""
    return _f32(F32(l1) * _f32(a) - F32(l2) * _f32(b))


def add(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """emb_add_f32: y + x."""
    return _f32(_f32(y) + _f32(x))


# ---- emb_act.c ----

def act_store(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """emb_act_store_row on each row of x (rows, d): int8 q (rows, d) and scales (rows,)."""
    return quantize_rows(_f32(x))


def act_load(q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """emb_act_load_row on each row: (rows, d) float32 = q * scale."""
    return _f32(q.astype(F32) * _f32(scales)[:, None])


# ---- emb_attention.c ----

def attention_row(q: np.ndarray, kv: np.ndarray, n: int,
                  kv_scales: np.ndarray | None = None) -> np.ndarray:
    """emb_attention_row_f32: softmax(q . kv_j / sqrt(d)) . kv over rows j < n.

    ``kv`` is (>= n, d) float32, or int8 with ``kv_scales`` (one per row)."""
    q = _f32(q)
    d = q.size
    if n == 0:
        return np.zeros(d, dtype=F32)
    rows = kv[:n].astype(F32)  # (n, d)
    scale = np.ones(n, F32) if kv_scales is None else _f32(kv_scales)[:n]
    scores = (scale * (rows @ q)) * (F32(1) / np.sqrt(F32(d)))  # (n,)
    p = np.exp(scores - scores.max())
    return _f32(((p * scale) @ rows) * (F32(1) / p.sum(dtype=F32)))


# ---- emb_conv1d.c ----

def conv1d_dw_causal(w: QTensor, bias: np.ndarray | None, x: np.ndarray, t: int,
                     alpha: int) -> np.ndarray:
    """emb_conv1d_dw_causal_f32 at step t: out (width,) from x (>= t + 1, d) float32 rows.

    out[c] = bias[c] + sum_j w[c, j] * x[t - (k-1) + j, c // alpha], rows before 0 zero."""
    width, k = _rows_cols(w)
    weights = w.dequantize().reshape(width, k)
    x = _f32(x)
    taps = np.zeros((k, x.shape[1]), dtype=F32)  # (k, d): x rows t-k+1 .. t
    first = max(0, t - (k - 1))
    taps[k - (t + 1 - first):] = x[first:t + 1]
    channels = np.arange(width) // alpha
    out = np.sum(weights * taps[:, channels].T, axis=1, dtype=F32)  # (width,)
    return out if bias is None else _f32(out + _f32(bias))


# ---- emb_linear_q8.c / emb_attention_q8.c: integer kernels, bit-exact (same float order) ----

def linear_q8(t: QTensor, bias: np.ndarray | None, xq: np.ndarray, xs: float) -> np.ndarray:
    """emb_linear_q8_ref: y (rows,) = W (xq * xs) + bias, int32 sums per block segment scaled
    by the block's scale and added in storage order; each row ends acc * xs + bias."""
    rows, cols = _rows_cols(t)
    xq = np.asarray(xq, dtype=np.int8).astype(np.int64)
    acc = np.zeros(rows, dtype=F32)
    if t.encoding in ("f16", "f32"):
        w = t.dequantize().reshape(rows, cols)
        for i in range(cols):  # the C's sequential float sum
            acc = _f32(acc + _f32(w[:, i] * F32(xq[i])))
    else:
        fallback = t.fallback_blocks()
        qs = np.zeros((t.n_blocks, t.block), dtype=np.int64)
        qs[~fallback] = t.qs
        d = np.zeros(t.n_blocks, dtype=F32)
        d[~fallback] = f16_value(t.scales)
        h = np.zeros((t.n_blocks, t.block), dtype=F32)
        h[fallback] = f16_value(t.f16).reshape(-1, t.block)
        row_of = np.arange(t.numel) // cols  # the segment walk, one segment at a time
        col_of = np.arange(t.numel) % cols
        for start in np.union1d(np.arange(0, t.numel, t.block), np.arange(0, t.numel, cols)):
            b, off, r = start // t.block, start % t.block, row_of[start]
            take = min(t.block - off, cols - col_of[start])
            xs_seg = xq[col_of[start]:col_of[start] + take]
            if fallback[b]:
                s = F32(0)
                for i in range(take):
                    s = F32(s + F32(h[b, off + i] * F32(xs_seg[i])))
                acc[r] = F32(acc[r] + s)
            elif d[b] != 0:
                isum = int(qs[b, off:off + take] @ xs_seg)
                acc[r] = F32(acc[r] + F32(d[b] * F32(isum)))
    y = _f32(acc * F32(xs))
    return y if bias is None else _f32(y + _f32(bias))


def attn_scores_q8(q: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """emb_attn_scores_q8_ref: int32 (n,) = rows (n, d) int8 . q (d,) int8."""
    return (np.asarray(rows, np.int64) @ np.asarray(q, np.int64)).astype(np.int32)


def attn_wsum_q8(p: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """emb_attn_wsum_q8_ref: int32 (d,) = p (n,) int8 . rows (n, d) int8."""
    return (np.asarray(p, np.int64) @ np.asarray(rows, np.int64)).astype(np.int32)


def attention_row_q8(q: np.ndarray, kv_q8: np.ndarray, kv_scales: np.ndarray, n: int) -> np.ndarray:
    """emb_attention_row_q8: attention over int8 rows with integer MACs (q and the weights
    p_j * scale_j quantized by the activation rule), float softmax in base 2 (log2(e) folded
    into the scores' scale)."""
    q = _f32(q)
    d = q.size
    if n == 0:
        return np.zeros(d, dtype=F32)
    rows, ks = np.asarray(kv_q8[:n]), _f32(kv_scales)[:n]
    qq, qs = quantize_rows(q)
    c = F32(qs * F32(F32(1.44269504088896341) / np.sqrt(F32(d))))
    t = attn_scores_q8(qq, rows).astype(F32) * _f32(ks * c)
    p = np.exp2(t - t.max()).astype(F32)
    total = np.float32(0)
    for v in p:  # the C's sequential sum
        total = F32(total + v)
    wq, ws = quantize_rows(_f32(p * ks))
    return _f32(attn_wsum_q8(wq, rows).astype(F32) * (ws / total))
