"""Where EmbBERT's memory goes: parameters and bytes per component, three accountings.

- fp32: every parameter in float32.
- paper: LLM.int8 as the reference code runs it: nn.Linear weights int8 with an fp16 scale per
  output row; embeddings, conv, norms, lambdas and biases fp16; activations fp16 with the
  l x l score matrix alive beside h and Q: 2 * (l^2 + 2 l d) bytes.
- ours: every matrix and embedding table int8 in blocks with an fp16 scale per block; norm
  weights and biases float32; the lambdas folded to two float32 per block. Activations of the
  streaming kernel: two l x d buffers (X, H) stored as int8 rows with a float32 scale each
  (or float32 rows with ``act="f32"``), l float32 attention scores and a few d-vectors of
  float32 scratch. The exporter's arena plan is the exact figure; this is the formula.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .config import DEFAULT_BUDGET_BYTES, EmbBertConfig
from .model import EmbBERT

FP16, FP32 = 2, 4
SCRATCH_VECTORS = 6  # q, attention output, a1, a2, conv output (alpha*d), one loaded row


@dataclass
class Component:
    name: str
    params: int
    fp32_bytes: int
    paper_bytes: int
    ours_bytes: int


@dataclass
class MemoryReport:
    config: dict
    block_size: int
    act: str
    components: list[Component] = field(default_factory=list)
    head_params: int = 0
    paper_activations_bytes: int = 0
    activations_bytes: int = 0
    budget_bytes: int = DEFAULT_BUDGET_BYTES

    @property
    def params_total(self) -> int:
        return sum(c.params for c in self.components)

    @property
    def weights_bytes(self) -> int:
        return sum(c.ours_bytes for c in self.components)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activations_bytes

    def to_dict(self) -> dict:
        fp32 = sum(c.fp32_bytes for c in self.components)
        paper = sum(c.paper_bytes for c in self.components)
        return {
            "config": self.config,
            "block_size": self.block_size,
            "act": self.act,
            "params_total": self.params_total,
            "head_params": self.head_params,
            "weights_bytes": self.weights_bytes,
            "activations_bytes": self.activations_bytes,
            "total_bytes": self.total_bytes,
            "budget_bytes": self.budget_bytes,
            "fits": self.total_bytes <= self.budget_bytes,
            "fp32": {"weights_bytes": fp32},
            "paper": {
                "weights_bytes": paper,
                "activations_bytes": self.paper_activations_bytes,
                "total_bytes": paper + self.paper_activations_bytes,
            },
            "components": [asdict(c) for c in self.components],
        }


def _tensor_bytes(module: nn.Module, name: str, p: torch.Tensor, block: int) -> tuple[int, int]:
    """(paper bytes, our bytes) of one parameter."""
    n = p.numel()
    if isinstance(module, nn.Linear) and name == "weight":
        paper = n + FP16 * p.shape[0]  # int8 + an fp16 scale per output row
    else:
        paper = FP16 * n
    if name.startswith("lambda_"):
        ours = FP32  # lambda_i = exp(<lq_i, lk_i>) folded: 2 floats for the pair of (2, d)
    elif p.dim() >= 2:
        ours = n + FP16 * -(-n // block)  # int8 + an fp16 scale per block
    else:
        ours = FP32 * n
    return paper, ours


def _component(name: str, module: nn.Module, block: int) -> Component:
    params = paper = ours = 0
    for sub in module.modules():
        for pname, p in sub.named_parameters(recurse=False):
            pb, ob = _tensor_bytes(sub, pname, p, block)
            params, paper, ours = params + p.numel(), paper + pb, ours + ob
    return Component(name, params, FP32 * params, paper, ours)


def activation_bytes(cfg: EmbBertConfig, act: str = "int8") -> int:
    """Peak activation bytes of the streaming kernel at n = l (formula; see module doc)."""
    l, d = cfg.max_len, cfg.d_model
    row = d + FP32 if act == "int8" else FP32 * d  # one stored row (+ its scale)
    scratch = FP32 * (l + SCRATCH_VECTORS * d * cfg.conv_expansion + cfg.d_embed)
    return 2 * l * row + scratch


def memory_report(
    cfg: EmbBertConfig, block: int = 32, act: str = "int8", budget_bytes: int = DEFAULT_BUDGET_BYTES
) -> MemoryReport:
    with torch.device("meta"):  # shapes only: even the big preset costs no memory
        model = EmbBERT(cfg)
    report = MemoryReport(cfg.to_dict(), block, act, budget_bytes=budget_bytes)
    report.components.append(_component("embedder", model.embedder, block))
    for i, blk in enumerate(model.blocks):
        report.components.append(_component(f"block{i}", blk, block))
    report.head_params = cfg.d_model * cfg.n_classes + cfg.n_classes
    l, d = cfg.max_len, cfg.d_model
    report.paper_activations_bytes = FP16 * (l * l + 2 * l * d)
    report.activations_bytes = activation_bytes(cfg, act)
    return report
