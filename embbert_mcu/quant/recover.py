"""Recovery fine-tune: quantization-aware training from the float weights.

The forward pass rounds every packed weight as it will be stored and every stored activation
row as the C stores it; gradients pass straight through both roundings to the float weights.
After each epoch the candidate is measured as it would ship (fallback re-decided on its
weights when the policy says so, exact rounding) on the validation slice; the best epoch wins,
and epoch 0 (no recovery) is a candidate too, so recovery never makes validation worse.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..evaluate import pad_batch
from ..model import EmbBertForClassification
from ..train import bucketed_batches, warmup_linear
from .decide import decide, tensor_kinds
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
    model = FakeQuantClassifier(SimulatedClassifier(net, policy.act_dtype), kinds, decisions,
                                policy.block)
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
        loss = _epoch(model, train_ids, labels, optimizer, schedule, rng, opts, epoch)
        state = copy.deepcopy(net.state_dict())
        val = score(state)
        history.append({"epoch": epoch, "train_loss": loss, "val_accuracy": val})
        if opts.progress:
            tqdm.write(f"recovery epoch {epoch}: train loss {loss:.4f}, val accuracy {val:.4f}")
        if val > best:
            best, best_state = val, state
    return best_state, history


def _epoch(model, train_ids, labels, optimizer, schedule, rng, opts: RecoverOptions,
           epoch: int) -> float:
    """One pass over the training rows; returns the mean training loss."""
    model.train()
    batches = bucketed_batches([len(s) for s in train_ids], opts.batch_size, rng)
    bar = tqdm(batches, desc=f"recovery {epoch}/{opts.epochs}", disable=not opts.progress,
               leave=False, unit="batch")
    total = 0.0
    for rows in bar:
        loss = F.cross_entropy(model(pad_batch([train_ids[i] for i in rows])), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        total += loss.item() * len(rows)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return total / len(train_ids)
