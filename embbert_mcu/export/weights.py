"""Stage 4: the packed tensors (``quant.pack_model``) as const C arrays for weights.c.

Python formats every value; the template only lays the lines out. Arrays are emitted many
values per line (one int8 block per line) so the sources stay small. Matrices and tables
become an ``emb_qtensor_t`` plus its data arrays; vectors (f32) and the folded lambdas are
plain ``const float`` arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..contract import CONTRACT
from ..errors import ExportError
from ..quant.blocks import QTensor
from .symbols import lambda_symbol, tensor_symbol

PER_LINE = 16  # values per line for flat arrays (fp16 bits, mask bytes, floats)
# encoding -> its emb_encoding_t name in C ("q8" -> "EMB_QT_Q8"), from emb_contract.h
ENC_MACRO = {c.name.removeprefix("EMB_QT_").lower(): c.name for c in CONTRACT.codes("ENCODING")}


@dataclass(frozen=True)
class CArray:
    ctype: str  # "emb_block_q8_t" | "uint16_t" | "uint8_t" | "float"
    name: str
    count: int
    lines: tuple[str, ...]  # initializer lines, already formatted


@dataclass(frozen=True)
class CTensor:
    key: str  # state_dict name
    symbol: str  # <prefix>_layer<N>_<tensor>
    shape: tuple[int, ...]  # shape as packed (conv: (width, k))
    encoding: str
    nbytes: int
    arrays: tuple[CArray, ...]
    qtensor: str | None  # the emb_qtensor_t initializer, None for plain float arrays


def c_float(x: float) -> str:
    """A float32 as a C literal that parses back to the same float (9 significant digits)."""
    text = f"{float(np.float32(x)):.9g}"
    if not np.isfinite(np.float32(x)):
        raise ExportError(f"a weight is {text}", hint="the checkpoint's weights have diverged")
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def _rows(values: list[str], per_line: int = PER_LINE) -> tuple[str, ...]:
    return tuple(",".join(values[i:i + per_line]) + "," for i in range(0, len(values), per_line))


def _block_lines(qt: QTensor) -> tuple[str, ...]:
    # one block per line, no spaces: the base model's weights.c stays under 1.5 MB
    return tuple(
        f"{{0x{int(s):04x}u,{{{','.join(map(str, q.tolist()))}}}}},"
        for s, q in zip(qt.scales.tolist(), qt.qs)
    )


def c_tensor(prefix: str, key: str, qt: QTensor) -> CTensor:
    sym = tensor_symbol(prefix, key)
    if qt.encoding == "f32":
        arr = CArray("float", sym, qt.f32.size, _rows([c_float(v) for v in qt.f32]))
        return CTensor(key, sym, qt.shape, "f32", qt.nbytes(), (arr,), None)
    rows, cols = qt.shape[0], qt.numel // qt.shape[0]
    arrays, fields = [], {"blocks": "NULL", "f16": "NULL", "mask": "NULL", "f32": "NULL"}
    if qt.scales.size:
        arrays.append(CArray("emb_block_q8_t", f"{sym}_blocks", qt.scales.size, _block_lines(qt)))
        fields["blocks"] = f"{sym}_blocks"
    if qt.f16.size:
        hexes = [f"0x{int(v):04x}u" for v in qt.f16]
        arrays.append(CArray("uint16_t", f"{sym}_f16", qt.f16.size, _rows(hexes)))
        fields["f16"] = f"{sym}_f16"
    if qt.mask.size:
        hexes = [f"0x{int(v):02x}u" for v in qt.mask]
        arrays.append(CArray("uint8_t", f"{sym}_mask", qt.mask.size, _rows(hexes)))
        fields["mask"] = f"{sym}_mask"
    init = (f"{{{ENC_MACRO[qt.encoding]}, {rows}u, {cols}u, {fields['blocks']}, {fields['f16']}, "
            f"{fields['mask']}, {fields['f32']}}}")
    return CTensor(key, sym, qt.shape, qt.encoding, qt.nbytes(), tuple(arrays), init)


def lambda_tensors(prefix: str, model: torch.nn.Module) -> list[CTensor]:
    """lambda_i = exp(<lq_i, lk_i>) per block, folded in float32 exactly as the model does."""
    out = []
    for layer, block in enumerate(model.backbone.blocks):
        with torch.no_grad():
            lam = block.lambdas().to(torch.float32).numpy()  # (2,)
        sym = lambda_symbol(prefix, layer)
        arr = CArray("float", sym, 2, _rows([c_float(v) for v in lam]))
        out.append(CTensor(f"backbone.blocks.{layer}.lambda", sym, (2,), "f32", 8, (arr,), None))
    return out


def c_tensors(prefix: str, packed: dict[str, QTensor], model: torch.nn.Module) -> list[CTensor]:
    """Every tensor of the classifier, in state_dict order, then the folded lambdas."""
    tensors = []
    for key, qt in packed.items():
        if len(qt.shape) == 1 and qt.encoding != "f32":
            raise ExportError(f"vector {key} is packed as {qt.encoding}; the C reads vectors "
                              "as float32", hint="re-run `embbert-mcu quantize`")
        tensors.append(c_tensor(prefix, key, qt))
    return tensors + lambda_tensors(prefix, model)


def weights_bytes(tensors: list[CTensor]) -> int:
    return sum(t.nbytes for t in tensors)
