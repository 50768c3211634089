"""A classifier whose forward is what the C kernel computes.

Weights: the module's parameters as given (``simulated_model`` loads the dequantized packed
weights; recovery training wraps it in ``FakeQuantClassifier``). Activations: the model's own
forward runs with a ``store`` hook that rounds the rows written to the X and H buffers at the
C's storage points and, on the integer MAC path, a ``mac_in`` hook that quantizes every linear's
input row by the same rule (``model.ForwardHooks``); there is no second copy of the block's math.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from ..model import EmbBertForClassification, ForwardHooks
from .fake import QMAX, round_rows, round_weight


class SimulatedClassifier(nn.Module):
    """Wraps an ``EmbBertForClassification``; ``act_dtype`` "int8" rounds stored rows,
    ``mac_dtype`` "int8" rounds the linears' inputs."""

    def __init__(self, net: EmbBertForClassification, act_dtype: str = "int8",
                 mac_dtype: str = "f32"):
        super().__init__()
        self.net = net
        self.act_dtype = act_dtype
        self.mac_dtype = mac_dtype
        self.cfg = net.cfg

    @property
    def head(self) -> nn.Linear:  # evaluate.predict_logits reads head.out_features
        return self.net.head

    def store(self, x: torch.Tensor) -> torch.Tensor:
        """A row written to the arena: int8 per row, or float32 as is."""
        return round_rows(x) if self.act_dtype == "int8" else x

    def mac_in(self, x: torch.Tensor) -> torch.Tensor:
        """A linear's input row: int8 codes with one scale (the C's emb_quantize_row_q8)."""
        return round_rows(x) if self.mac_dtype == "int8" else x

    @property
    def integer_attention(self) -> bool:
        """The C's attention runs on integers when H is stored int8 and the MACs are int8."""
        return self.act_dtype == "int8" and self.mac_dtype == "int8"

    @staticmethod
    def attn_probs(probs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The weights emb_attention_row_q8 sums H's int8 codes with: p_j times H's row scale,
        quantized by the rule, divided back by the scale (so ``@ h`` sums codes)."""
        scale = h.abs().amax(dim=-1) / QMAX  # (B, L) H's row scales (a stored row reaches 127)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        weights = round_rows(probs * scale[:, None, :])  # (B, L, L), one rule per query row
        return torch.where(scale[:, None, :] > 0, weights / safe[:, None, :],
                           torch.zeros_like(weights))

    def hooks(self, capture=None) -> ForwardHooks:
        if not self.integer_attention:
            return ForwardHooks(store=self.store, capture=capture, mac_in=self.mac_in)
        return ForwardHooks(store=self.store, capture=capture, mac_in=self.mac_in,
                            attn_q=round_rows, attn_probs=self.attn_probs)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(ids, segments, self.hooks())  # (B, n_classes)


class FakeQuantClassifier(nn.Module):
    """Float weights, rounded on the fly as packed (straight-through gradients): for recovery."""

    def __init__(self, sim: SimulatedClassifier, kinds: dict[str, str], decisions: dict[str, dict],
                 block: int):
        super().__init__()
        self.sim = sim
        self.cfg = sim.cfg
        self.block = block
        self.rules = {}
        for name, kind in kinds.items():
            if kind == "lambda":
                continue
            d = decisions[name]
            mask = None
            if d["encoding"] == "mixed":
                n_blocks = sim.net.state_dict()[name].numel() // block
                mask = torch.zeros(n_blocks, dtype=torch.bool)
                mask[torch.tensor(d["fallback_blocks"], dtype=torch.long)] = True
            self.rules[name] = (d["encoding"], mask)

    @property
    def head(self) -> nn.Linear:
        return self.sim.net.head

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        params = {}
        for name, p in self.sim.net.named_parameters():
            if name in self.rules:
                encoding, mask = self.rules[name]
                p = round_weight(p, encoding, self.block, mask)
            params[f"net.{name}"] = p
        return functional_call(self.sim, params, (ids, segments))
