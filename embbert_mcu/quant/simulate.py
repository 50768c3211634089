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

Q16MAX = 32767  # the integer conv's window codes (emb_conv1d_q8.c)


def stored_row_scales(h: torch.Tensor) -> torch.Tensor:
    """(..., L, d) rows as stored (int8 codes times their scale) -> (..., L) their scales: a
    stored row's largest code is 127 (0 for a zero row)."""
    return h.abs().amax(dim=-1) / QMAX


class SimulatedClassifier(nn.Module):
    """Wraps an ``EmbBertForClassification``; ``act_dtype`` "int8" rounds stored rows,
    ``mac_dtype`` "int8" rounds the linears' inputs; ``conv_q8``: the conv weights are stored
    as whole int8 blocks of taps (``decide.conv_blocks_integer``), so on the integer path the
    conv runs in integers too."""

    def __init__(self, net: EmbBertForClassification, act_dtype: str = "int8",
                 mac_dtype: str = "f32", conv_q8: bool = False):
        super().__init__()
        self.net = net
        self.act_dtype = act_dtype
        self.mac_dtype = mac_dtype
        self.conv_q8 = conv_q8
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
        scale = stored_row_scales(h)  # (B, L)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        weights = round_rows(probs * scale[:, None, :])  # (B, L, L), one rule per query row
        return torch.where(scale[:, None, :] > 0, weights / safe[:, None, :],
                           torch.zeros_like(weights))

    @property
    def integer_conv(self) -> bool:
        return self.integer_attention and self.conv_q8

    @staticmethod
    def conv_in(h: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """The window emb_conv1d_dw_causal_q8 multiplies, returned as x16 * hs: each sequence's
        stored H rows (codes q, row scales s) requantized to int16 at one scale hs = 127 *
        max(s) / 32767 over its rows, in integers: m = round(s / hs * 2^16) per row, x16 =
        (q * m + 2^15) >> 16 (emb_conv1d_q8.c)."""
        x = h.to(torch.float32)
        valid = torch.ones(x.shape[:2], dtype=torch.bool) if key_mask is None else key_mask
        with torch.no_grad():
            s = stored_row_scales(x)  # (B, L)
            big = torch.where(valid, QMAX * s, torch.zeros_like(s)).amax(dim=1)  # (B,)
            hs = (big / Q16MAX)[:, None]  # (B, 1)
            f = torch.where(hs > 0, s / torch.where(hs > 0, hs, torch.ones_like(hs)),
                            torch.zeros_like(s))
            m = torch.round(f * 65536.0).to(torch.int64)  # (B, L)
            safe = torch.where(s > 0, s, torch.ones_like(s))[..., None]
            q = torch.round(x / safe).to(torch.int64)  # (B, L, d) the stored codes
            x16 = torch.div(q * m[..., None] + 32768, 65536, rounding_mode="floor")
            rounded = x16.to(torch.float32) * hs[..., None]
        return x + (rounded - x).detach()  # straight-through for recovery training

    def hooks(self, capture=None) -> ForwardHooks:
        if not self.integer_attention:
            return ForwardHooks(store=self.store, capture=capture, mac_in=self.mac_in)
        # q's input: H's stored row as it is (its codes and scale, as the C reads them)
        return ForwardHooks(store=self.store, capture=capture, mac_in=self.mac_in,
                            q_in=lambda h: h, attn_q=round_rows, attn_probs=self.attn_probs,
                            **({"conv_in": self.conv_in} if self.integer_conv else {}))

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
