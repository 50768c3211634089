"""EmbBERT in PyTorch, exactly as the authors' reference code runs it.

Shapes: B batch, L sequence length (<= max_len), d model width, rd reduced embedding width.
The encoder block has no residual connection and no feed-forward network: its output is the
weighted difference of an attention branch and a causal convolution branch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import PAD_ID, SEP_ID, N_SEGMENTS, EmbBertConfig


def segment_ids(ids: torch.Tensor) -> torch.Tensor:
    """(B, L) segments from token ids: 1 up to and including the first [SEP], 2 after, 0 on pad."""
    is_sep = (ids == SEP_ID).long()
    after_first_sep = (torch.cumsum(is_sep, dim=1) - is_sep) > 0
    seg = torch.where(after_first_sep, 2, 1)
    return torch.where(ids == PAD_ID, 0, seg)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _first(x: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
    return x


@dataclass(frozen=True)
class ForwardHooks:
    """What the one forward does at the C's storage and stage points; the plain model does nothing.

    ``store`` is applied to every row the C writes to its arena: X = the embedder output, and per
    block b: H = RMSNorm(X) and X = the block output if b < N - 1 (the last block's output goes
    to the head unrounded). The quantized simulation rounds there (quant/simulate.py).
    ``mac_in`` is applied to every linear's input row (the embedder's two projections, each
    block's q, out and contract, the head): the integer MAC path quantizes it there.
    ``q_in``, when given, replaces ``mac_in`` for q's input: on the integer path with int8 H the
    q linear reads H's stored codes and scale as they are (no second quantization).
    ``attn_q(q)`` is the query the scores multiply and ``attn_probs(probs, h)`` the weights the
    context sums H with: integer attention quantizes q, and the weights times H's row scales.
    ``conv_in(h, key_mask)`` is the conv's input: the integer conv requantizes the stored H rows
    of each sequence (its key_mask rows) to int16 at one scale.
    ``capture(stage, x)`` sees X at the start of each block's stage (1..N), as stored; the stage
    comparison of export --verify reads the simulated model there (export/stages.py).
    """

    store: Callable[[torch.Tensor], torch.Tensor] = _identity
    capture: Callable[[int, torch.Tensor], None] | None = None
    mac_in: Callable[[torch.Tensor], torch.Tensor] = _identity
    q_in: Callable[[torch.Tensor], torch.Tensor] | None = None
    attn_q: Callable[[torch.Tensor], torch.Tensor] = _identity
    attn_probs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _first
    conv_in: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _first


PLAIN = ForwardHooks()

INIT_STD = 0.02  # BERT's initializer_range


@torch.no_grad()
def init_weights(module: nn.Module) -> None:
    """BERT-style initialisation: Linear and Embedding weights N(0, 0.02), biases 0, [PAD] row 0.

    With PyTorch's defaults (N(0, 1) embeddings, uniform Linear) this residual-free stack sat on
    the majority class for epochs of fine-tuning (docs/training.md). Norms and the lambda
    vectors keep their own initialisation; the backbone then starts each block's conv branch
    as a skip path (``EfficientEncoder.init_conv_skip``).
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        module.weight[module.padding_idx].zero_()


class NanoEmbedder(nn.Module):
    """x = P_tok(E_tok[t]) + P_pos(E_pos[p]) + E_seg[s]; no norm, no dropout."""

    def __init__(self, cfg: EmbBertConfig):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_embed, padding_idx=PAD_ID)  # (v, rd)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_embed)  # (l, rd)
        self.tok_proj = nn.Linear(cfg.d_embed, cfg.d_model, bias=False)  # (d, rd)
        self.pos_proj = nn.Linear(cfg.d_embed, cfg.d_model, bias=False)  # (d, rd)
        self.seg = nn.Embedding(N_SEGMENTS, cfg.d_model)  # (3, d)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor,
                mac_in: Callable[[torch.Tensor], torch.Tensor] = _identity) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok_proj(mac_in(self.tok(ids))) + self.pos_proj(mac_in(self.pos(positions)))
        return x + self.seg(segments)  # (B, L, d)


class EfficientEncoder(nn.Module):
    """One EmbBERT block: x' = lambda1 * attention(h) - lambda2 * conv(h), h = RMSNorm(x)."""

    def __init__(self, cfg: EmbBertConfig):
        super().__init__()
        d, k, width = cfg.d_model, cfg.conv_kernel, cfg.d_model * cfg.conv_expansion
        self.norm = nn.RMSNorm(d)  # default eps: torch.finfo(float32).eps
        self.q = nn.Linear(d, d)  # the only input projection: K = V = h
        self.out = nn.Linear(d, d)
        self.attn_dropout = nn.Dropout(cfg.attn_dropout)
        # Causal depthwise conv: pad k-1 on both sides, keep the first L outputs.
        self.conv = nn.Conv1d(d, width, k, groups=d, padding=k - 1)  # (width, 1, k)
        self.contract = nn.Linear(width, d)
        self.lambda_q = nn.Parameter(torch.empty(2, d))
        self.lambda_k = nn.Parameter(torch.empty(2, d))
        nn.init.normal_(self.lambda_q, 0.0, cfg.lambda_init_std)
        nn.init.normal_(self.lambda_k, 0.0, cfg.lambda_init_std)

    @torch.no_grad()
    def init_conv_skip(self) -> None:
        """Start the conv branch as a skip path: -lambda2 * conv(h) = lambda2 * SiLU(h) + noise.

        The causal conv's current-position tap is 1 and the contraction maps each input channel's
        first conv output back to it with weight -1, both over N(0, 0.02) noise, biases 0. The
        block keeps its shape; only the starting point changes. Without it, MLM pretraining sat
        at the unigram loss (docs/training.md).
        """
        nn.init.normal_(self.conv.weight, 0.0, INIT_STD)
        self.conv.weight[:, 0, -1] += 1.0  # output t reads input t through the last tap
        nn.init.zeros_(self.conv.bias)
        nn.init.normal_(self.contract.weight, 0.0, INIT_STD)
        d, width = self.contract.weight.shape
        channel = torch.arange(d)  # conv output channel i * alpha reads input channel i
        self.contract.weight[channel, channel * (width // d)] -= 1.0
        nn.init.zeros_(self.contract.bias)

    def lambdas(self) -> torch.Tensor:
        """(2,) lambda_i = exp(<lq_i, lk_i>)."""
        return torch.exp((self.lambda_q * self.lambda_k).sum(dim=-1))

    def attention(self, h: torch.Tensor, key_mask: torch.Tensor,
                  mac_in: Callable[[torch.Tensor], torch.Tensor] = _identity,
                  hooks: "ForwardHooks | None" = None) -> torch.Tensor:
        hooks = hooks or PLAIN
        q_in = mac_in if hooks.q_in is None else hooks.q_in
        q = hooks.attn_q(self.q(q_in(h)))  # (B, L, d)
        scores = q @ h.transpose(1, 2) / math.sqrt(h.shape[-1])  # (B, L, L)
        scores = scores.masked_fill(~key_mask[:, None, :], float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        probs = torch.nan_to_num(probs, nan=0.0)  # a fully masked row attends to nothing
        return self.out(mac_in(hooks.attn_probs(self.attn_dropout(probs), h) @ h))  # (B, L, d)

    def convolution(self, h: torch.Tensor, key_mask: torch.Tensor | None = None,
                    hooks: "ForwardHooks | None" = None) -> torch.Tensor:
        hooks = hooks or PLAIN
        length = h.shape[1]
        c = self.conv(hooks.conv_in(h, key_mask).transpose(1, 2))[:, :, :length]  # (B, width, L)
        return self.contract(hooks.mac_in(F.silu(c).transpose(1, 2)))  # (B, L, d)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor,
                hooks: "ForwardHooks | None" = None) -> torch.Tensor:
        hooks = hooks or PLAIN
        h = hooks.store(self.norm(x))  # K = V = the stored H
        lam = self.lambdas()
        return (lam[0] * self.attention(h, key_mask, hooks.mac_in, hooks)
                - lam[1] * self.convolution(h, key_mask, hooks))


class EmbBERT(nn.Module):
    """The backbone: Nano Embedder and N Efficient Encoder blocks. (B, L) ids -> (B, L, d)."""

    def __init__(self, cfg: EmbBertConfig):
        super().__init__()
        self.cfg = cfg
        self.embedder = NanoEmbedder(cfg)
        self.blocks = nn.ModuleList(EfficientEncoder(cfg) for _ in range(cfg.n_layers))
        self.apply(init_weights)
        for block in self.blocks:
            block.init_conv_skip()

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None,
                hooks: ForwardHooks | None = None) -> torch.Tensor:
        hooks = hooks or PLAIN
        if segments is None:
            segments = segment_ids(ids)
        key_mask = ids != PAD_ID
        x = hooks.store(self.embedder(ids, segments, hooks.mac_in))  # (B, L, d)
        last = len(self.blocks) - 1
        for b, block in enumerate(self.blocks):
            if hooks.capture is not None:
                hooks.capture(b + 1, x)
            y = block(x, key_mask, hooks)
            x = hooks.store(y) if b < last else y
        return x


class EmbBertForClassification(nn.Module):
    """Backbone + first-token ([CLS]) pooling + Linear(d, n_classes)."""

    def __init__(self, cfg: EmbBertConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = EmbBERT(cfg)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)
        init_weights(self.head)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None,
                hooks: ForwardHooks | None = None) -> torch.Tensor:
        hooks = hooks or PLAIN
        return self.head(hooks.mac_in(self.backbone(ids, segments, hooks)[:, 0]))  # (B, n_classes)


class EmbBertForPretraining(nn.Module):
    """Backbone + MLM head over every position + NSP head on the first token."""

    def __init__(self, cfg: EmbBertConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = EmbBERT(cfg)
        self.mlm = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.nsp = nn.Linear(cfg.d_model, 2)
        init_weights(self.mlm)
        init_weights(self.nsp)

    def forward(
        self, ids: torch.Tensor, segments: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.backbone(ids, segments)
        return self.mlm(x), self.nsp(x[:, 0])  # (B, L, v), (B, 2)


class EmbBertBackbone(nn.Module):
    """The backbone alone: what a pretrain checkpoint hands to fine-tuning (``--init``),
    without the MLM head, which is larger than the backbone (d x vocabulary)."""

    def __init__(self, cfg: EmbBertConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = EmbBERT(cfg)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        return self.backbone(ids, segments)


def build_classifier(cfg: EmbBertConfig, seed: int = 0) -> EmbBertForClassification:
    """A classifier with weights drawn from ``seed`` (same seed, same weights)."""
    torch.manual_seed(seed)
    return EmbBertForClassification(cfg)
