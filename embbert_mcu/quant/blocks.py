"""The one definition of the quantized weight layout; the C runtime mirrors it byte for byte.

A weight tensor is flattened row-major and cut into blocks of ``block`` consecutive values
(default 32). A block is stored as ``emb_block_q8_t { uint16_t d; int8_t qs[block]; }``:
``d`` is the IEEE fp16 bit pattern of the scale ``fp16(absmax / 127)`` and
``qs = clip(rint(x / float(d)), -127, 127)`` (round half to even). Dequantized:
``x_hat = float(qs) * float(d)``, exact in float32. An all-zero block, or one whose scale
underflows fp16, stores d = 0 and qs = 0 (no division by zero).

A tensor has one of four encodings:
- ``q8``: every block int8 as above;
- ``f16``: every value fp16 (the whole-tensor fallback);
- ``mixed``: a bitmap (bit i of byte i // 8, LSB first) marks the blocks kept in fp16; the
  other blocks are stored as ``q8`` blocks in order, the marked ones as ``block`` fp16 values
  in order. Readers walk blocks sequentially (matrix-vector, convolution);
- ``f32``: small vectors (norm weights, biases) in float32.
Blocks must not straddle rows unevenly: the last dimension is a multiple of ``block``, or
``block`` is a multiple of it (a block then holds whole rows, e.g. an embedding row of 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import QuantError
from .policy import BLOCK_SIZES

QMAX = 127
ENCODINGS = ("q8", "f16", "mixed", "f32")


def f16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> uint16 fp16 bit patterns (round to nearest even)."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).view(np.uint16)


def f16_value(bits: np.ndarray) -> np.ndarray:
    """uint16 fp16 bit patterns -> float32."""
    return np.asarray(bits, dtype=np.uint16).view(np.float16).astype(np.float32)


def can_block(shape: tuple[int, ...], block: int) -> bool:
    """Whether a tensor of ``shape`` can be cut into blocks of ``block`` along its rows."""
    last, numel = shape[-1], int(np.prod(shape))
    fits_rows = last % block == 0 or block % last == 0
    return block in BLOCK_SIZES and fits_rows and numel % block == 0


def quantize_blocks(x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(numel,) float32 -> scales (n_blocks,) uint16 fp16 bits, qs (n_blocks, block) int8."""
    values = np.asarray(x, dtype=np.float32).reshape(-1, block)  # (n_blocks, block)
    absmax = np.abs(values).max(axis=1)
    with np.errstate(over="ignore"):
        scale_bits = f16_bits(absmax / np.float32(QMAX))
    scale = f16_value(scale_bits)
    if not np.all(np.isfinite(scale)):
        raise QuantError(
            f"a weight block has |x| up to {absmax.max():.3g}, beyond fp16's range",
            hint="the checkpoint's weights have diverged; retrain",
        )
    safe = np.where(scale > 0, scale, np.float32(1.0))[:, None]
    qs = np.clip(np.rint(values / safe), -QMAX, QMAX)
    qs = np.where(scale[:, None] > 0, qs, 0).astype(np.int8)
    scale_bits = np.where(scale > 0, scale_bits, np.uint16(0)).astype(np.uint16)
    return scale_bits, qs


def dequantize_blocks(scale_bits: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Inverse of ``quantize_blocks``: (n_blocks * block,) float32."""
    return (qs.astype(np.float32) * f16_value(scale_bits)[:, None]).reshape(-1)


@dataclass(frozen=True)
class QTensor:
    """One packed tensor. Arrays not used by the encoding are empty."""

    name: str
    shape: tuple[int, ...]
    encoding: str  # one of ENCODINGS
    block: int
    scales: np.ndarray  # (n_q8_blocks,) uint16 fp16 bits
    qs: np.ndarray  # (n_q8_blocks, block) int8
    f16: np.ndarray  # (n_f16_values,) uint16 fp16 bits
    mask: np.ndarray  # (ceil(n_blocks / 8),) uint8 bitmap, mixed only
    f32: np.ndarray  # (numel,) float32, f32 only

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_blocks(self) -> int:
        return self.numel // self.block

    def fallback_blocks(self) -> np.ndarray:
        """(n_blocks,) bool: which blocks are stored in fp16."""
        if self.encoding == "mixed":
            return np.unpackbits(self.mask, bitorder="little")[: self.n_blocks].astype(bool)
        return np.full(self.n_blocks, self.encoding == "f16")

    def nbytes(self) -> int:
        """Bytes of flash this tensor takes in the C layout."""
        return (
            self.qs.size + 2 * self.scales.size + 2 * self.f16.size + self.mask.size
            + 4 * self.f32.size
        )

    def dequantize(self) -> np.ndarray:
        """The float32 values the C kernels compute with, in ``shape``."""
        if self.encoding == "f32":
            return self.f32.reshape(self.shape).copy()
        if self.encoding == "f16":
            return f16_value(self.f16).reshape(self.shape)
        out = np.empty((self.n_blocks, self.block), dtype=np.float32)
        fallback = self.fallback_blocks()
        out[~fallback] = dequantize_blocks(self.scales, self.qs).reshape(-1, self.block)
        out[fallback] = f16_value(self.f16).reshape(-1, self.block)
        return out.reshape(self.shape)


_EMPTY_U16 = np.zeros(0, dtype=np.uint16)


def pack_tensor(
    name: str,
    x: np.ndarray,
    encoding: str,
    block: int = 32,
    fallback: np.ndarray | None = None,
) -> QTensor:
    """Pack float ``x`` in ``encoding``; ``fallback`` (n_blocks,) bool marks fp16 blocks (mixed)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    shape = tuple(int(s) for s in x.shape)
    empty = {
        "scales": _EMPTY_U16, "qs": np.zeros((0, block), np.int8), "f16": _EMPTY_U16,
        "mask": np.zeros(0, np.uint8), "f32": np.zeros(0, np.float32),
    }
    if encoding == "f32":
        return QTensor(name, shape, encoding, block, **{**empty, "f32": x.reshape(-1)})
    if encoding == "f16":
        return QTensor(name, shape, encoding, block, **{**empty, "f16": f16_bits(x.reshape(-1))})
    if encoding not in ("q8", "mixed"):
        raise ValueError(f"unknown encoding {encoding!r}")
    if not can_block(shape, block):
        raise QuantError(
            f"tensor {name} {shape} cannot be cut into blocks of {block}",
            hint=f"use a block size in {BLOCK_SIZES} that divides its rows, or keep it fp16",
        )
    blocks = x.reshape(-1, block)
    if encoding == "q8":
        scales, qs = quantize_blocks(blocks, block)
        return QTensor(name, shape, encoding, block, **{**empty, "scales": scales, "qs": qs})
    fallback = np.asarray(fallback, dtype=bool)
    if fallback.shape != (blocks.shape[0],):
        raise ValueError(f"{name}: fallback mask has shape {fallback.shape}")
    scales, qs = quantize_blocks(blocks[~fallback], block)
    return QTensor(
        name, shape, encoding, block, **{
            **empty, "scales": scales, "qs": qs, "f16": f16_bits(blocks[fallback].reshape(-1)),
            "mask": np.packbits(fallback, bitorder="little"),
        }
    )
