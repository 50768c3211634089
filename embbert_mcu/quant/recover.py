"""Recovery fine-tune: quantization-aware training from the float weights.

The forward pass rounds every packed weight as it will be stored and every stored activation
row as the C stores it; gradients pass straight through both roundings to the float weights.
After each epoch the candidate is measured as it would ship (fallback re-decided on its
weights when the policy says so, exact rounding) on the validation slice; the best epoch wins,
and epoch 0 (no recovery) is a candidate too, so recovery never makes validation worse.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..model import EmbBertForClassification
from ..training.steps import train_epoch, warmup_linear
from .decide import conv_blocks_integer, decide, tensor_kinds
from .policy import QuantPolicy
from .simulate import FakeQuantClassifier, SimulatedClassifier


@dataclass
class RecoverOptions:
    epochs: int = 2
    lr: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 0.0  # recovery nudges weights toward their grid; do not shrink them
    warmup: float = 0.06
    seed: int = 0
    progress: bool = True


def recover(net: EmbBertForClassification, policy: QuantPolicy, train_ids: list[list[int]],
            train_labels: list[int], score: Callable[[dict], float],
            opts: RecoverOptions) -> tuple[dict, list[dict]]:
    """Train ``net`` (float weights) through the roundings; returns (best state_dict, history).

    ``score(state_dict)`` is the validation accuracy of a state as it would ship.
    """
    net = copy.deepcopy(net)
    kinds = tensor_kinds(net)
    decisions = decide(net.state_dict(), kinds, policy)  # fixed while training
    conv_q8 = conv_blocks_integer(net.cfg, policy.block, kinds, decisions)
    sim = SimulatedClassifier(net, policy.act_dtype, policy.mac_dtype, conv_q8)
    model = FakeQuantClassifier(sim, kinds, decisions, policy.block)
    best_state = copy.deepcopy(net.state_dict())
    best = score(best_state)
    history = [{"epoch": 0, "val_accuracy": best}]
    if opts.epochs < 1 or not train_ids:
        return best_state, history
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    labels = torch.tensor(train_labels, dtype=torch.long)
    steps = opts.epochs * -(-len(train_ids) // opts.batch_size)
    optimizer = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(steps, opts.warmup))
    for epoch in range(1, opts.epochs + 1):
        loss = train_epoch(model, train_ids, labels, optimizer, schedule, rng, opts.batch_size,
                           f"recovery {epoch}/{opts.epochs}", opts.progress)
        state = copy.deepcopy(net.state_dict())
        val = score(state)
        history.append({"epoch": epoch, "train_loss": loss, "val_accuracy": val})
        if opts.progress:
            tqdm.write(f"recovery epoch {epoch}: train loss {loss:.4f}, val accuracy {val:.4f}",
                       file=sys.stderr)
        if val > best:
            best, best_state = val, state
    return best_state, history
