"""Quantization: block-wise int8 weights with fp16 fallback, the C's activation rounding,
an error report, and a recovery fine-tune.

``ckpt.quant`` (written by ``embbert-mcu quantize``) holds::

    {"policy": QuantPolicy.to_dict(),
     "tensors": {state_dict name: {"encoding": "q8"|"f16"|"mixed"|"f32",
                                   "fallback_blocks": [block index, ...]}},   # mixed only
     "report": {...}, "accuracy": {...}}

``pack_model`` re-packs exactly those decisions from the checkpoint's (recovered) float
weights; with ``ckpt.quant`` None it decides with the default policy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import CheckpointError
from .blocks import ENCODINGS, QTensor, pack_tensor
from .decide import conv_blocks_integer, decide, pack_with, tensor_kinds
from .policy import ACT_DTYPES, BLOCK_SIZES, DEFAULT_THRESHOLD, FALLBACK_RULES, QuantPolicy

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint
    from .simulate import SimulatedClassifier

# The modules (torch) load on first use (PEP 562): the policy constants above are what the
# command line needs, and they should not cost a torch import.
_LAZY = {"FakeQuantClassifier": ".simulate", "SimulatedClassifier": ".simulate"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACT_DTYPES", "BLOCK_SIZES", "DEFAULT_THRESHOLD", "ENCODINGS", "FALLBACK_RULES",
    "FakeQuantClassifier", "QTensor", "QuantPolicy", "SimulatedClassifier", "checkpoint_policy",
    "conv_blocks_integer", "decide", "decisions_of", "pack_model", "pack_tensor", "pack_with", "simulated_model",
    "tensor_kinds",
]


def checkpoint_policy(ckpt: Checkpoint) -> QuantPolicy:
    """The policy stored in ``ckpt.quant``, or the default one."""
    if not ckpt.quant:
        return QuantPolicy()
    if not isinstance(ckpt.quant, dict) or "policy" not in ckpt.quant:
        raise CheckpointError("the checkpoint's quantization record has no policy",
                              hint="re-run `embbert-mcu quantize`")
    return QuantPolicy.from_dict(ckpt.quant["policy"])


def decisions_of(ckpt: Checkpoint) -> dict[str, dict]:
    """The stored per-tensor decisions, or fresh ones under the checkpoint's policy."""
    _require_classifier(ckpt)
    kinds = tensor_kinds(ckpt.model())
    if ckpt.quant and ckpt.quant.get("tensors"):
        return dict(ckpt.quant["tensors"])
    return decide(ckpt.state_dict, kinds, checkpoint_policy(ckpt))


def pack_model(ckpt: Checkpoint) -> dict[str, QTensor]:
    """Every classifier tensor except the lambdas, packed as the C stores it (deterministic).

    Keys and order are the classifier's state_dict; conv weights are packed as (width, k).
    """
    _require_classifier(ckpt)
    kinds = tensor_kinds(ckpt.model())
    return pack_with(ckpt.state_dict, kinds, checkpoint_policy(ckpt), decisions_of(ckpt))


def simulated_model(ckpt: Checkpoint) -> SimulatedClassifier:
    """The classifier the C computes: dequantized packed weights, activation rows rounded as
    ``policy.act_dtype`` says, linear inputs as ``policy.mac_dtype`` says. Lambdas stay float32 parameters (the exporter folds them)."""
    import torch

    from .simulate import SimulatedClassifier

    net = ckpt.model()
    packed = pack_model(ckpt)
    state = net.state_dict()
    with torch.no_grad():
        for name, qt in packed.items():
            state[name].copy_(torch.from_numpy(qt.dequantize()).reshape(state[name].shape))
    net.requires_grad_(False)  # evaluation only: exact rounded values, no straight-through path
    policy = checkpoint_policy(ckpt)
    conv_q8 = conv_blocks_integer(net.cfg, policy.block, tensor_kinds(net), decisions_of(ckpt))
    return SimulatedClassifier(net, policy.act_dtype, policy.mac_dtype, conv_q8).eval()


def _require_classifier(ckpt: Checkpoint) -> None:
    if ckpt.kind != "classifier":
        raise CheckpointError(f"only classifier checkpoints are quantized, this one is {ckpt.kind!r}",
                              hint="fine-tune it first with `embbert-mcu train`")


