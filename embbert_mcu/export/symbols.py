"""Stable C symbol names for the model's tensors: ``<prefix>_layer<N>_<tensor>``.

Embedder tensors are ``<prefix>_embed_<tensor>``, the head ``<prefix>_head_<tensor>``.
State-dict keys of the classifier map one to one onto these names.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(r"^backbone\.blocks\.(\d+)\.(.+)$")


def tensor_symbol(prefix: str, key: str) -> str:
    """"backbone.blocks.0.q.weight" -> "embbert_layer0_q_weight"."""
    match = _BLOCK.match(key)
    if match:
        rest = match.group(2)
        return f"{prefix}_layer{match.group(1)}_{rest.replace('.', '_')}"
    if key.startswith("backbone.embedder."):
        return f"{prefix}_embed_{key[len('backbone.embedder.'):].replace('.', '_')}"
    return f"{prefix}_{key.replace('.', '_')}"


def lambda_symbol(prefix: str, layer: int) -> str:
    """The two folded lambdas of a block: const float[2]."""
    return f"{prefix}_layer{layer}_lambda"
