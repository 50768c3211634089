"""Which encoding each tensor gets, and packing a checkpoint with those decisions.

Kinds (from the module that owns the parameter):
- ``linear``: nn.Linear weights (d, d), (d, rd), (n_classes, d): q8, fp16 blocks allowed
  (``mixed``), since the C reads them block by block in order;
- ``table``: embedding tables (v, rd), (l, rd), (3, d) and ``conv``: (width, 1, k) packed as
  (width, k): q8, or the whole tensor fp16;
- ``vector``: norm weights and biases: f32;
- ``lambda``: lambda_q / lambda_k, folded by the exporter into two float32 per block: not packed.

The error measure is the relative RMS error: the RMS of (x - x_hat) over a block, or over the
tensor, divided by the RMS of the whole tensor. Normalising a block by the tensor's RMS (not its
own) makes a block whose outlier flushes its small neighbours to zero stand out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import CheckpointError, UsageError
from .blocks import ENCODINGS, QTensor, can_block, pack_tensor
from .policy import QuantPolicy

if TYPE_CHECKING:  # torch loads with the first model, not with the command line
    import torch
    from torch import nn

KINDS = ("linear", "table", "conv", "vector", "lambda")


def tensor_kinds(model: nn.Module) -> dict[str, str]:
    """state_dict name -> kind, in state_dict order."""
    from torch import nn

    kinds = {}
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            if p_name.startswith("lambda_"):
                kinds[name] = "lambda"
            elif p.dim() == 1:
                kinds[name] = "vector"
            elif isinstance(module, nn.Linear):
                kinds[name] = "linear"
            elif isinstance(module, nn.Embedding):
                kinds[name] = "table"
            elif isinstance(module, nn.Conv1d):
                kinds[name] = "conv"
            else:
                raise UsageError(f"no quantization rule for {name} ({type(module).__name__})")
    order = list(model.state_dict())
    return {k: kinds[k] for k in order if k in kinds}


def packed_view(x: np.ndarray, kind: str) -> np.ndarray:
    """The array as packed: conv weights (width, 1, k) are seen as (width, k)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x.reshape(x.shape[0], -1) if kind == "conv" else x


def relative_errors(x: np.ndarray, x_hat: np.ndarray, block: int) -> tuple[np.ndarray, float]:
    """(per-block errors (n_blocks,), tensor error), both RMS error over the tensor's RMS."""
    diff = (x.astype(np.float64) - x_hat.astype(np.float64)).reshape(-1, block)
    rms = float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))
    if rms == 0.0:  # an all-zero tensor quantizes exactly
        return np.zeros(diff.shape[0]), 0.0
    per_block = np.sqrt(np.mean(np.square(diff), axis=1)) / rms
    return per_block, float(np.sqrt(np.mean(np.square(per_block))))


def decide_tensor(name: str, kind: str, x: np.ndarray, policy: QuantPolicy) -> dict:
    """{"encoding", "fallback_blocks"} for one tensor under ``policy``."""
    x = packed_view(x, kind)
    if kind == "vector":
        return {"encoding": "f32", "fallback_blocks": []}
    if not can_block(x.shape, policy.block):  # e.g. rd = 12 with blocks of 32
        return {"encoding": "f16", "fallback_blocks": []}
    q8 = pack_tensor(name, x, "q8", policy.block)
    per_block, tensor_err = relative_errors(x, q8.dequantize(), policy.block)
    if policy.fallback == "none":
        return {"encoding": "q8", "fallback_blocks": []}
    if kind == "conv" and policy.mac_dtype == "int8":
        return {"encoding": "q8", "fallback_blocks": []}  # the integer conv reads int8 blocks
    if policy.fallback == "tensor" or kind != "linear":
        return {"encoding": "f16" if tensor_err > policy.threshold else "q8", "fallback_blocks": []}
    worse = np.flatnonzero(per_block > policy.threshold)
    if worse.size == 0:
        return {"encoding": "q8", "fallback_blocks": []}
    if worse.size == per_block.size:
        return {"encoding": "f16", "fallback_blocks": []}
    return {"encoding": "mixed", "fallback_blocks": worse.tolist()}


def conv_blocks_integer(cfg, block: int, kinds: dict[str, str], decisions: dict[str, dict]) -> bool:
    """Whether the convs can run on the integer path (emb_conv1d_dw_causal_q8): every conv
    weight stored q8, one output channel per input channel, and whole blocks of taps (so a
    block is a run of one channel's taps with its own scale)."""
    convs = [name for name, kind in kinds.items() if kind == "conv"]
    return (bool(convs) and cfg.conv_expansion == 1 and cfg.conv_kernel % block == 0
            and all(decisions[name]["encoding"] == "q8" for name in convs))


def decide(state_dict: dict[str, torch.Tensor], kinds: dict[str, str],
           policy: QuantPolicy) -> dict[str, dict]:
    """Decisions for every packed tensor (lambdas excluded), in state_dict order."""
    return {
        name: decide_tensor(name, kind, _numpy(state_dict[name]), policy)
        for name, kind in kinds.items() if kind != "lambda"
    }


def pack_with(state_dict: dict[str, torch.Tensor], kinds: dict[str, str], policy: QuantPolicy,
              decisions: dict[str, dict]) -> dict[str, QTensor]:
    """Pack every tensor as ``decisions`` say (validated against the kinds)."""
    packed = {}
    for name, kind in kinds.items():
        if kind == "lambda":
            continue
        if name not in decisions:
            raise CheckpointError(f"the quantization decisions miss tensor {name}",
                                  hint="re-run `embbert-mcu quantize`")
        x = packed_view(_numpy(state_dict[name]), kind)
        encoding, mask = _checked(name, kind, x, policy.block, decisions[name])
        packed[name] = pack_tensor(name, x, encoding, policy.block, mask)
    return packed


def _checked(name: str, kind: str, x: np.ndarray, block: int, decision: dict):
    """(encoding, fallback mask or None) from a stored decision, or CheckpointError."""
    encoding = decision.get("encoding") if isinstance(decision, dict) else None
    allowed = {"vector": ("f32",), "linear": ("q8", "f16", "mixed")}.get(kind, ("q8", "f16"))
    if encoding not in ENCODINGS or encoding not in allowed:
        raise CheckpointError(f"tensor {name} ({kind}) cannot be stored as {encoding!r}",
                              hint=f"allowed: {', '.join(allowed)}; re-run `embbert-mcu quantize`")
    if encoding != "mixed":
        return encoding, None
    n_blocks = x.size // block
    indices = np.asarray(decision.get("fallback_blocks", []), dtype=np.int64)
    if indices.size == 0 or indices.min() < 0 or indices.max() >= n_blocks:
        raise CheckpointError(f"tensor {name} has fallback block indices outside 0..{n_blocks - 1}")
    mask = np.zeros(n_blocks, dtype=bool)
    mask[indices] = True
    return encoding, mask


def _numpy(t: torch.Tensor) -> np.ndarray:
    import torch

    return t.detach().cpu().to(torch.float32).numpy()
