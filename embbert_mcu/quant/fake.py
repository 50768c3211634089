"""The kernel's roundings in PyTorch, with straight-through gradients for recovery training.

``round_weight`` reproduces ``blocks.pack_tensor(...).dequantize()`` bit for bit (same float32
division, fp16 scale rounding, round half to even and clamp); ``round_rows`` reproduces the
C's int8 storage of one activation row. With gradients enabled the rounding is the identity
for the backward pass (straight-through estimator); without, the exact rounded value is returned.
"""

from __future__ import annotations

import torch

from .blocks import QMAX


def _q8_blocks(blocks: torch.Tensor) -> torch.Tensor:
    """(n_blocks, block) float32 -> dequantized int8 blocks with an fp16 scale each."""
    absmax = blocks.abs().amax(dim=1, keepdim=True)
    scale = (absmax / QMAX).to(torch.float16).to(torch.float32)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    qs = torch.clamp(torch.round(blocks / safe), -QMAX, QMAX)
    return torch.where(scale > 0, qs * scale, torch.zeros_like(blocks))


def weight_values(w: torch.Tensor, encoding: str, block: int,
                  fallback: torch.Tensor | None = None) -> torch.Tensor:
    """The float32 values the kernel computes with for ``w`` stored as ``encoding``."""
    w = w.to(torch.float32)
    if encoding == "f32":
        return w
    if encoding == "f16":
        return w.to(torch.float16).to(torch.float32)
    blocks = w.reshape(-1, block)  # row-major blocks along the input dimension
    out = _q8_blocks(blocks)
    if encoding == "mixed":
        out = torch.where(fallback[:, None], blocks.to(torch.float16).to(torch.float32), out)
    return out.reshape(w.shape)


def _straight_through(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() and x.requires_grad:
        return x + (rounded - x).detach()
    return rounded  # exact values for evaluation


def round_weight(w: torch.Tensor, encoding: str, block: int,
                 fallback: torch.Tensor | None = None) -> torch.Tensor:
    with torch.no_grad():
        rounded = weight_values(w, encoding, block, fallback)
    return _straight_through(w, rounded)


def row_values(x: torch.Tensor) -> torch.Tensor:
    """(..., d) -> each row stored as int8 with scale max|row| / 127 (float32), dequantized."""
    x = x.to(torch.float32)
    scale = x.abs().amax(dim=-1, keepdim=True) / QMAX
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(x / safe), -QMAX, QMAX)
    return torch.where(scale > 0, q * scale, torch.zeros_like(x))  # a zero row stores scale 0


def round_rows(x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        rounded = row_values(x)
    return _straight_through(x, rounded)
